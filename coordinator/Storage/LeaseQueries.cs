using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>The lease row's holder, fencing token and expiry, with the database's clock at the time it was read.</summary>
internal sealed record LeaseRow(string holder, long token, DateTime expires_at, DateTime now);

/// <summary>
/// The coordinator_lease table (PostgreSQL only; a SQLite store belongs to one process and needs no lease): who drives rounds, under
/// which fencing token, until when. Every expiry is computed and compared with the database's clock (<c>clock_timestamp()</c>), never a
/// replica's, so replicas whose clocks disagree still agree on whether a lease has run out. The token grows by one at every change of
/// holder: a transition is committed only in a transaction that finds its replica's token still in the row (<see cref="Fence"/>), the
/// fencing token of Kleppmann, "How to do distributed locking" (2016), and Chubby's sequencers (Burrows, OSDI 2006, section 2.4) —
/// here checked by the store itself, inside the writing transaction.
/// </summary>
internal static class LeaseQueries
{
    /// <summary>The lease of the round engine (the orchestrator's loop and the templates' refresh rules).</summary>
    public const string Rounds = "rounds";

    /// <summary>The PostgreSQL migration that creates the table.</summary>
    public const string CreateTable = """
        CREATE TABLE coordinator_lease(
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token BIGINT NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            acquired_at TIMESTAMPTZ NOT NULL)
        """;

    /// <summary>The same table on SQLite (never written there: one process owns a SQLite store), declared with the same instant type.</summary>
    public const string CreateTableSqlite = """
        CREATE TABLE coordinator_lease(
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            token INTEGER NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            acquired_at TIMESTAMPTZ NOT NULL)
        """;

    /// <summary>
    /// Takes the lease when it is free or has run out (a new holder: token + 1), or renews it when <paramref name="holder"/> holds it
    /// under <paramref name="token"/> (the same token, even when it ran out meanwhile: nobody else held it). Null when another holder's
    /// lease is still running, or this holder's token is not the row's (a replica restarted under the same name gets a new token).
    /// </summary>
    public static long? AcquireOrRenew(IDbConnection c, IDbTransaction? t, string name, string holder, long token, double seconds) =>
        c.QuerySingleOrDefault<long?>("""
            INSERT INTO coordinator_lease AS l (name, holder, token, expires_at, acquired_at)
            VALUES (@name, @holder, 1, clock_timestamp() + make_interval(secs => @seconds), clock_timestamp())
            ON CONFLICT (name) DO UPDATE SET
                token = CASE WHEN l.holder = @holder AND l.token = @token THEN l.token ELSE l.token + 1 END,
                acquired_at = CASE WHEN l.holder = @holder AND l.token = @token THEN l.acquired_at ELSE clock_timestamp() END,
                holder = @holder,
                expires_at = clock_timestamp() + make_interval(secs => @seconds)
            WHERE (l.holder = @holder AND l.token = @token) OR l.expires_at <= clock_timestamp()
            RETURNING l.token
            """, new { name, holder, token, seconds }, t);

    /// <summary>
    /// The fence: true when the row still names <paramref name="holder"/> with <paramref name="token"/> and has not run out, and then
    /// share-locks it until the caller's transaction ends, so that no takeover can commit between this check and the caller's commit
    /// (a takeover's UPDATE waits for the lock). Run it first in the transaction it guards.
    /// </summary>
    public static bool Fence(IDbConnection c, IDbTransaction t, string name, string holder, long token) =>
        c.QuerySingleOrDefault<long?>(
            "SELECT token FROM coordinator_lease WHERE name=@name AND holder=@holder AND token=@token AND expires_at > clock_timestamp() FOR SHARE",
            new { name, holder, token }, t) is not null;

    /// <summary>
    /// Bounds how long the caller's transaction may wait for a row lock, and how long its session may sit idle inside it: a leader paused
    /// (SIGSTOP, a long GC) in the middle of a fenced transaction holds the lease row's share lock; PostgreSQL ends its session after
    /// <paramref name="idleMilliseconds"/> idle in it, so the lock cannot outlive the lease by much (idle_in_transaction_session_timeout).
    /// </summary>
    public static void LimitWaits(IDbConnection c, IDbTransaction t, int lockMilliseconds, int idleMilliseconds) =>
        c.Execute($"SET LOCAL lock_timeout = {lockMilliseconds}; SET LOCAL idle_in_transaction_session_timeout = {idleMilliseconds}", transaction: t);

    /// <summary>The lease as it stands (null before any replica took it).</summary>
    public static LeaseRow? Read(IDbConnection c, IDbTransaction? t, string name) =>
        c.QuerySingleOrDefault<LeaseRow>("SELECT holder, token, expires_at, clock_timestamp() AS now FROM coordinator_lease WHERE name=@name", new { name }, t);

    /// <summary>Ends a lease its holder gives up (a clean stop), so another replica takes it at once instead of after its expiry.</summary>
    public static bool Release(IDbConnection c, IDbTransaction? t, string name, string holder, long token) =>
        c.Execute("UPDATE coordinator_lease SET expires_at = clock_timestamp() WHERE name=@name AND holder=@holder AND token=@token", new { name, holder, token }, t) == 1;
}
