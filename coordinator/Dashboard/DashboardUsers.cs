using System.Globalization;
using Dapper;
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
            if (c.ExecuteScalar<long>("SELECT COUNT(*) FROM dashboard_users WHERE user_name=@name", new { name }, t) > 0)
            {
                throw new InvalidOperationException($"A user named '{name}' already exists.");
            }

            c.Execute("INSERT INTO dashboard_users(user_name, role, password_hash, created_at) VALUES (@name, @role, @hash, @now)",
                new { name, role, hash = Hasher.HashPassword(user, password), now = now.ToString("O", CultureInfo.InvariantCulture) }, t);
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

        var row = store.Read(c => c.QuerySingleOrDefault<(string user_name, string role, string password_hash)>(
            "SELECT user_name, role, password_hash FROM dashboard_users WHERE user_name=@name", new { name }));
        var user = row.user_name is null ? null : new DashboardUser(row.user_name, row.role);
        var result = Hasher.VerifyHashedPassword(user ?? new DashboardUser(string.Empty, string.Empty), user is null ? UnknownUserHash : row.password_hash, password ?? string.Empty);
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
                c.Execute("UPDATE dashboard_users SET password_hash=@hash WHERE user_name=@name", new { hash = Hasher.HashPassword(user, password!), name = user.Name }, t);
            }

            c.Execute("UPDATE dashboard_users SET last_sign_in_at=@now WHERE user_name=@name", new { now = now.ToString("O", CultureInfo.InvariantCulture), name = user.Name }, t);
            audit.Append(c, t, CoordinatorAuditRecords.DashboardSignIn(user.Name, user.Role, "password"), now);
        });
        return new SignInOutcome(user, null);
    }

    public IReadOnlyList<DashboardUser> List() => store.Read(c =>
        c.Query<(string user_name, string role)>("SELECT user_name, role FROM dashboard_users ORDER BY user_name").Select(u => new DashboardUser(u.user_name, u.role)).ToList());
}
