using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using Microsoft.AspNetCore.Identity;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>A local dashboard account: its name and role (the password hash never leaves <see cref="DashboardUsers"/>).</summary>
public sealed record DashboardUser(string Name, string Role);

/// <summary>The outcome of a sign-in: the account, or none; LockedUntil when the name is locked (<see cref="SignInLockout"/>).</summary>
public sealed record SignInOutcome(DashboardUser? User, DateTimeOffset? LockedUntil);

/// <summary>
/// Local dashboard accounts in coordinator.db. Passwords are hashed with ASP.NET Core Identity's
/// <see cref="PasswordHasher{TUser}"/> (v3 format: PBKDF2 with HMAC-SHA512, 128-bit salt, 100,000 iterations).
/// </summary>
public sealed class DashboardUsers(CoordinatorStore store, CoordinatorAuditTrail audit, SignInLockout? lockout = null)
{
    public const int MinimumPasswordLength = 12;

    private static readonly PasswordHasher<DashboardUser> Hasher = new();

    /// <summary>A hash to check an unknown user's password against, so a wrong name costs the same time as a wrong password.</summary>
    private static readonly string UnknownUserHash = Hasher.HashPassword(new DashboardUser(string.Empty, string.Empty), Guid.NewGuid().ToString("N"));

    public void Add(string name, string role, string password, string requestedBy, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100 || name.Any(char.IsControl))
        {
            throw new ArgumentException("A user name is 1 to 100 printable characters.", nameof(name));
        }

        if (!DashboardRoles.IsRole(role))
        {
            throw new ArgumentException($"Unknown role '{role}'; one of {string.Join(", ", DashboardRoles.All)}.", nameof(role));
        }

        if (password is null || password.Length < MinimumPasswordLength)
        {
            throw new ArgumentException($"A password has at least {MinimumPasswordLength} characters.", nameof(password));
        }

        var user = new DashboardUser(name, role);
        store.Write((c, t) =>
        {
            if (DashboardUserQueries.Exists(c, t, name))
            {
                throw new InvalidOperationException($"A user named '{name}' already exists.");
            }

            DashboardUserQueries.Insert(c, t, name, role, Hasher.HashPassword(user, password), now);
            audit.Append(c, t, CoordinatorAuditRecords.DashboardUserCreated(name, role, requestedBy), now);
        });
    }

    /// <summary>
    /// The account if the name and password match and the name is not locked; every outcome is audited. A name locked
    /// after repeated wrong passwords is refused without its password being checked, until the lockout ends.
    /// </summary>
    public SignInOutcome Verify(string name, string password, DateTimeOffset now)
    {
        name ??= string.Empty;
        if (lockout?.LockedUntil(name, now) is { } locked)
        {
            audit.Append(CoordinatorAuditRecords.DashboardSignInFailed(name, "locked after repeated wrong passwords"), now);
            return new SignInOutcome(null, locked);
        }

        var row = store.Read(c => DashboardUserQueries.Find(c, name));
        var user = row is null ? null : new DashboardUser(row.user_name, row.role);
        var result = Hasher.VerifyHashedPassword(user ?? new DashboardUser(string.Empty, string.Empty), row?.password_hash ?? UnknownUserHash, password ?? string.Empty);
        if (user is null || result == PasswordVerificationResult.Failed)
        {
            audit.Append(CoordinatorAuditRecords.DashboardSignInFailed(name), now);
            if (lockout?.Failed(name, now) is { } until)
            {
                audit.Append(CoordinatorAuditRecords.DashboardSignInLockedOut(name, lockout.MaxFailures, until), now);
                return new SignInOutcome(null, until);
            }

            return new SignInOutcome(null, null);
        }

        lockout?.Succeeded(name);
        store.Write((c, t) =>
        {
            if (result == PasswordVerificationResult.SuccessRehashNeeded)
            {
                DashboardUserQueries.SetPasswordHash(c, t, user.Name, Hasher.HashPassword(user, password!));
            }

            DashboardUserQueries.SetLastSignIn(c, t, user.Name, now);
            audit.Append(c, t, CoordinatorAuditRecords.DashboardSignIn(user.Name, user.Role, "password"), now);
        });
        return new SignInOutcome(user, null);
    }

    public IReadOnlyList<DashboardUser> List() => store.Read(c => DashboardUserQueries.All(c).Select(u => new DashboardUser(u.Name, u.Role)).ToList());
}
