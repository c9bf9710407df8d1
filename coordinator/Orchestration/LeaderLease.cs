using System.Data;
using System.Diagnostics;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>A transition refused because this replica does not hold the round engine's lease under its token (rolled back, nothing written).</summary>
public sealed class LeaseLostException(string message) : Exception(message);

/// <summary>What /v1/admin/replica and the dashboard show of the lease.</summary>
public sealed record LeaseStatus(string Replica, string Mode, bool Leader, long? Token, string? Holder, long? HolderToken, DateTimeOffset? ExpiresAt, int LeaseSeconds);

/// <summary>
/// Which replica drives rounds (docs/operations.md, "Running replicas"). On PostgreSQL, several coordinator processes share one store;
/// every one serves nodes, the dashboard and the admin API, and only the holder of the <c>rounds</c> lease runs the orchestrator's loop and
/// the refresh rules. The lease is a row with a fencing token (<see cref="LeaseQueries"/>) renewed every third of
/// <see cref="CoordinatorOptions.LeaseSeconds"/>, taken by another replica only once it has run out by the database's clock; every
/// transition the leader commits first checks, in its own transaction, that the row still carries its token (<see cref="Fence"/>), so a
/// leader that was paused past its lease and wakes up believing it still leads has its write refused and rolled back. With SQLite the
/// store belongs to one process: the lease is held from the start, with no row and no check.
/// </summary>
public sealed partial class LeaderLease
{
    private readonly CoordinatorStore _store;
    private readonly CoordinatorAuditTrail _audit;
    private readonly CoordinatorMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger<LeaderLease> _logger;
    private readonly object _gate = new();
    private long _token; // 0: none held
    private long _fencedToken; // the token under which a fenced write was last audited
    private bool _leader;
    private long _validUntil; // Stopwatch timestamp after which this replica stops believing it leads without a renewal
    private LeaseRow? _seen;

    /// <param name="store">The coordinator's store.</param>
    /// <param name="audit">Where leader_acquired and leader_lost are recorded.</param>
    /// <param name="metrics">The leader gauge and the fenced-write counter.</param>
    /// <param name="time">The clock of audit entries (the lease's own expiry is the database's).</param>
    /// <param name="logger">The log.</param>
    /// <param name="contended">True when other processes may share the store (PostgreSQL); false for SQLite, where the lease is trivially held.</param>
    /// <param name="replicaName">This replica's name in the lease row and the audit trail (a suffix makes each process distinct).</param>
    /// <param name="leaseSeconds">The lease's duration.</param>
    public LeaderLease(CoordinatorStore store, CoordinatorAuditTrail audit, CoordinatorMetrics metrics, TimeProvider time, ILogger<LeaderLease> logger, bool contended, string replicaName, int leaseSeconds)
    {
        _store = store;
        _audit = audit;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        Contended = contended;
        LeaseSeconds = leaseSeconds;
        // The process id and a random suffix: a replica restarted under the same name (or a second one started by mistake with it) is
        // another holder, so it can never renew a lease its paused predecessor still believes it has.
        ReplicaId = $"{replicaName}/{Environment.ProcessId}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3))}";
        _leader = !contended;
        metrics.SetLease(_leader, 0);
    }

    /// <summary>This process's holder name in the lease row.</summary>
    public string ReplicaId { get; }

    /// <summary>Whether other processes may share the store (PostgreSQL), so the lease is taken and fenced.</summary>
    public bool Contended { get; }

    public int LeaseSeconds { get; }

    /// <summary>
    /// How long a session may sit idle inside a fenced transaction before PostgreSQL ends it (idle_in_transaction_session_timeout): twice
    /// the lease, so a leader paused mid-transition delays a takeover by at most that, while a live one never comes near it.
    /// </summary>
    public int IdleMilliseconds => 2 * LeaseSeconds * 1000;

    /// <summary>
    /// On PostgreSQL, every session of the coordinator gets idle_in_transaction_session_timeout of twice the lease (unless the connection
    /// string already sets it): a replica paused or cut off in the middle of any transaction (a node's request updating its row, a
    /// transition) would otherwise hold its row locks, and stall every other replica's requests on those rows, until it woke up.
    /// PostgreSQL ends such a session instead and its transaction rolls back; a live replica never sits that long inside one.
    /// </summary>
    public static CoordinatorOptions BoundIdleTransactions(CoordinatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.StoreKind != CoordinatorStoreKind.Postgres || options.PostgresConnectionString is not { Length: > 0 } connectionString)
        {
            return options;
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (builder.Options?.Contains("idle_in_transaction_session_timeout", StringComparison.Ordinal) != true)
        {
            builder.Options = $"{builder.Options} -c idle_in_transaction_session_timeout={2 * options.LeaseSeconds * 1000}".Trim();
            options.PostgresConnectionString = builder.ConnectionString;
        }

        return options;
    }

    /// <summary>How often the holder renews, and a follower tries to take the lease: a third of its duration.</summary>
    public TimeSpan RenewInterval => TimeSpan.FromMilliseconds(LeaseSeconds * 1000 / 3.0);

    /// <summary>Pulsed when this replica takes the lease: the orchestrator then runs at once.</summary>
    public AsyncPulse Acquired { get; } = new();

    /// <summary>
    /// Whether this replica believes it leads: its last step took or renewed the lease, and no fenced write or failed renewal has said
    /// otherwise since. A belief only (the process may have been paused since it was formed); <see cref="Fence"/> is the check that counts.
    /// </summary>
    public bool IsLeader
    {
        get
        {
            lock (_gate)
            {
                return _leader;
            }
        }
    }

    /// <summary>The token this replica holds the lease under (null when it holds none; 0 with SQLite).</summary>
    public long? Token
    {
        get
        {
            lock (_gate)
            {
                return _leader ? _token : null;
            }
        }
    }

    /// <summary>
    /// The fencing check, first in a transaction that changes study or round state (RoundEngine's transitions, the refresh rules): throws
    /// <see cref="LeaseLostException"/> (the caller's transaction then rolls back) unless the lease row still names this replica with its
    /// token and has not run out by the database's clock; the row stays share-locked until the transaction ends. A no-op with SQLite.
    /// </summary>
    public void Fence(IDbConnection c, IDbTransaction t)
    {
        if (!Contended)
        {
            return;
        }

        long token;
        lock (_gate)
        {
            token = _token; // the last token held, even when a refused renewal has just ended the belief: the store decides
        }

        var lockMilliseconds = Math.Max(100, LeaseSeconds * 1000 / 3);
        LeaseQueries.LimitWaits(c, t, lockMilliseconds, IdleMilliseconds);
        if (token != 0 && LeaseQueries.Fence(c, t, LeaseQueries.Rounds, ReplicaId, token))
        {
            return;
        }

        var row = LeaseQueries.Read(c, t, LeaseQueries.Rounds);
        _metrics.FencedWrites.Add(1);
        throw new LeaseLostException(token == 0
            ? "this replica does not hold the round engine's lease"
            : $"fenced: the lease is held by {row?.holder ?? "nobody"} under token {row?.token.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}{(row is { } r && r.holder == ReplicaId && r.expires_at <= r.now ? " (expired)" : string.Empty)}, this replica's token was {token}");
    }

    /// <summary>
    /// One step of the lease loop: the holder renews; a follower takes the lease if it has run out. A change of holder is audited
    /// (leader_acquired with the new token) in the transaction that takes the lease. Returns whether this replica leads afterwards.
    /// </summary>
    public bool Step()
    {
        if (!Contended)
        {
            return true;
        }

        long held;
        lock (_gate)
        {
            held = _leader ? _token : 0;
        }

        var asked = Stopwatch.GetTimestamp(); // the lease runs from no earlier than now, by any clock
        var now = _time.GetUtcNow();
        var (token, seen) = _store.Write((c, t) =>
        {
            // A takeover waits at most a third of the lease for a share lock held by a transition in flight; it tries again next step.
            LeaseQueries.LimitWaits(c, t, Math.Max(100, LeaseSeconds * 1000 / 3), IdleMilliseconds);
            var token = LeaseQueries.AcquireOrRenew(c, t, LeaseQueries.Rounds, ReplicaId, held, LeaseSeconds);
            var seen = LeaseQueries.Read(c, t, LeaseQueries.Rounds);
            if (token is { } taken && taken != held)
            {
                _audit.Append(c, t, CoordinatorAuditRecords.LeaderAcquired(ReplicaId, taken, held == 0 ? null : held, LeaseSeconds), now);
            }

            return (token, seen);
        });

        string? lostReason = null;
        var acquired = false;
        lock (_gate)
        {
            _seen = seen;
            if (token is { } t)
            {
                acquired = t != held;
                _token = t;
                _leader = true;
                _validUntil = asked + (long)(LeaseSeconds * Stopwatch.Frequency * 0.9); // a margin for clock rate drift
            }
            else if (_leader)
            {
                _leader = false;
                lostReason = $"the lease is held by {seen?.holder ?? "nobody"} under token {seen?.token}";
            }
        }

        _metrics.SetLease(token is not null, token ?? 0);
        if (acquired)
        {
            LogAcquired(_logger, ReplicaId, token!.Value);
            Acquired.Pulse();
        }

        if (lostReason is not null)
        {
            RecordLost(held, "renewal refused: " + lostReason);
        }

        return token is not null;
    }

    /// <summary>
    /// A fenced write refused (<paramref name="fenced"/>: audited even when a refused renewal already ended the leadership, since a write
    /// was attempted and refused, once per token), or a renewal that could not reach the store before the lease ran out: this replica
    /// stops leading.
    /// </summary>
    public void Lost(string reason, bool fenced = false)
    {
        long held;
        lock (_gate)
        {
            if (!Contended || (!_leader && !fenced) || (fenced && _fencedToken == _token))
            {
                return;
            }

            held = _token;
            _leader = false;
            if (fenced)
            {
                _fencedToken = _token;
            }
        }

        _metrics.SetLease(false, 0);
        RecordLost(held, reason);
    }

    /// <summary>Whether a failed renewal has left this replica past its own lease: then it stops believing it leads.</summary>
    public bool PastValidity()
    {
        lock (_gate)
        {
            return Contended && _leader && Stopwatch.GetTimestamp() >= _validUntil;
        }
    }

    /// <summary>Gives the lease up on a clean stop, so another replica takes it at once rather than when it runs out.</summary>
    public void Release()
    {
        long held;
        lock (_gate)
        {
            if (!Contended || !_leader)
            {
                return;
            }

            held = _token;
            _leader = false;
        }

        _metrics.SetLease(false, 0);
        var now = _time.GetUtcNow();
        _store.Write((c, t) =>
        {
            if (LeaseQueries.Release(c, t, LeaseQueries.Rounds, ReplicaId, held))
            {
                _audit.Append(c, t, CoordinatorAuditRecords.LeaderLost(ReplicaId, held, "released at stop"), now);
            }
        });
    }

    /// <summary>The lease as this replica last saw it, and its own part.</summary>
    public LeaseStatus Status()
    {
        if (!Contended)
        {
            return new LeaseStatus(ReplicaId, "single", true, 0, ReplicaId, 0, null, LeaseSeconds);
        }

        var seen = _store.Read(c => LeaseQueries.Read(c, null, LeaseQueries.Rounds));
        lock (_gate)
        {
            _seen = seen ?? _seen;
        }

        return new LeaseStatus(ReplicaId, "lease", IsLeader, Token, seen?.holder, seen?.token,
            seen is null ? null : new DateTimeOffset(DateTime.SpecifyKind(seen.expires_at, DateTimeKind.Utc)), LeaseSeconds);
    }

    private void RecordLost(long held, string reason)
    {
        LogLost(_logger, ReplicaId, held, reason);
        try
        {
            _audit.Append(CoordinatorAuditRecords.LeaderLost(ReplicaId, held, reason), _time.GetUtcNow());
        }
#pragma warning disable CA1031 // the store may be what failed; the log line above already says it
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogAuditFailed(_logger, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Replica {Replica} took the round engine's lease under fencing token {Token}")]
    private static partial void LogAcquired(ILogger logger, string replica, long token);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replica {Replica} no longer leads (token {Token}): {Reason}")]
    private static partial void LogLost(ILogger logger, string replica, long token, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The loss of the lease could not be audited")]
    private static partial void LogAuditFailed(ILogger logger, Exception e);
}
