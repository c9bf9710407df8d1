using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>
/// Locks a user name after <see cref="DashboardOptions.SignInMaxFailures"/> consecutive wrong passwords, for
/// <see cref="DashboardOptions.SignInLockoutMinutes"/>: during the lockout every attempt is refused without checking the
/// password, so guessing stops (NIST SP 800-63B section 5.2.2, rate limiting of failed authentication attempts). A
/// name that has no account locks the same way, so the answer does not reveal which names exist. The counts are held
/// in memory (a restart clears them); the per-address limit on sign-in requests (<see cref="DashboardSetup"/>) bounds
/// how many names one client can try.
/// </summary>
public sealed class SignInLockout(IOptions<DashboardOptions> options)
{
    /// <summary>Names tracked at once; beyond this the oldest failures are forgotten (an attacker spraying names cannot grow memory).</summary>
    private const int MaxTracked = 10_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public int MaxFailures => options.Value.SignInMaxFailures;

    public TimeSpan Duration => TimeSpan.FromMinutes(options.Value.SignInLockoutMinutes);

    /// <summary>When the name's lockout ends, if it is locked now.</summary>
    public DateTimeOffset? LockedUntil(string name, DateTimeOffset now) =>
        _entries.TryGetValue(name, out var e) && e.LockedUntil is { } until && until > now ? until : null;

    /// <summary>Counts a wrong password; returns the end of the lockout it starts, if this failure reaches the limit.</summary>
    public DateTimeOffset? Failed(string name, DateTimeOffset now)
    {
        if (_entries.Count >= MaxTracked)
        {
            foreach (var stale in _entries.Where(p => p.Value.LockedUntil is null || p.Value.LockedUntil <= now).OrderBy(p => p.Value.LastFailure).Take(MaxTracked / 10))
            {
                _entries.TryRemove(stale.Key, out _);
            }
        }

        var entry = _entries.AddOrUpdate(name,
            _ => new Entry(1, now, null),
            (_, e) => e.LockedUntil is { } until && until <= now ? new Entry(1, now, null) : e with { Failures = e.Failures + 1, LastFailure = now });
        if (entry.LockedUntil is null && entry.Failures >= MaxFailures)
        {
            var until = now + Duration;
            _entries[name] = entry with { LockedUntil = until };
            return until;
        }

        return null;
    }

    /// <summary>A correct password (outside a lockout) starts the count again.</summary>
    public void Succeeded(string name) => _entries.TryRemove(name, out _);

    private sealed record Entry(int Failures, DateTimeOffset LastFailure, DateTimeOffset? LockedUntil);
}
