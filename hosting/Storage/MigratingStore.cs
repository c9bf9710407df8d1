using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// A service's store: opened through its <see cref="StoreDialect{TConnection}"/>, migrated to the build's schema when
/// constructed, read on a fresh connection per call and changed in one serializable transaction per call, so a service
/// killed at any point finds every change either whole or absent.
/// </summary>
public abstract class MigratingStore<TConnection, TTransaction>
    where TConnection : DbConnection
    where TTransaction : DbTransaction
{
    protected MigratingStore(StoreDialect<TConnection> dialect, SchemaMigrations migrations)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        ArgumentNullException.ThrowIfNull(migrations);
        Dialect = dialect;
        using var connection = dialect.Open();
        dialect.Initialize(connection);
        using (dialect.LockForMigrations(connection))
        {
            migrations.Apply(dialect, connection);
        }
    }

    public StoreDialect<TConnection> Dialect { get; }

    public TConnection Open() => Dialect.Open();

    public T Read<T>(Func<TConnection, T> query)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var connection = Open();
        return query(connection);
    }

    /// <summary>
    /// Runs <paramref name="change"/> in one serializable transaction and commits it. A conflict the engine resolves by aborting one
    /// transaction (<see cref="StoreDialect{TConnection}.IsRetryable"/>: PostgreSQL's serialization failures and deadlocks, SQLite's
    /// busy or locked) runs the whole delegate again on a new transaction, up to <see cref="StoreDialect{TConnection}.WriteAttempts"/>
    /// times with jittered backoff: PostgreSQL's documentation (13.2.3, "Serializable Isolation Level") says applications using this
    /// level must be prepared to retry transactions due to serialization failures. The delegate must therefore change nothing outside
    /// its transaction (signals, counters and caches are touched by the caller after Write returns).
    /// </summary>
    public T Write<T>(Func<TConnection, TTransaction, T> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return WriteOnce(change);
            }
            catch (Exception e) when (attempt < Dialect.WriteAttempts && Dialect.IsRetryable(e))
            {
                Interlocked.Increment(ref _retries);
                Thread.Sleep(Backoff(attempt));
            }
        }
    }

    /// <summary>How many times a write was run again after a conflict, since the store was opened (tests and metrics read it).</summary>
    public long Retries => Interlocked.Read(ref _retries);

    private long _retries;

    private readonly ConditionalWeakTable<TTransaction, List<Action>> _afterCommit = [];

    /// <summary>
    /// Runs <paramref name="effect"/> once <paramref name="transaction"/> has committed, and never if it rolls back or is run again:
    /// how a change counts a metric or writes a log line from inside a <see cref="Write{T}"/> delegate without counting it twice.
    /// </summary>
    public void AfterCommit(TTransaction transaction, Action effect)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(effect);
        _afterCommit.GetOrCreateValue(transaction).Add(effect);
    }

    private T WriteOnce<T>(Func<TConnection, TTransaction, T> change)
    {
        T result;
        List<Action>? effects;
        using (var connection = Open())
        using (var transaction = (TTransaction)connection.BeginTransaction(IsolationLevel.Serializable))
        {
            try
            {
                result = change(connection, transaction);
                transaction.Commit();
            }
            finally
            {
                _afterCommit.TryGetValue(transaction, out effects);
                _afterCommit.Remove(transaction);
            }
        }

        foreach (var effect in effects ?? [])
        {
            effect();
        }

        return result;
    }

    /// <summary>
    /// "Full jitter" exponential backoff: a uniform wait in [1, min(250, 4·2^attempt)] ms, so transactions that collided do not
    /// collide again in lockstep.
    /// </summary>
#pragma warning disable CA5394 // a backoff jitter, not a secret
    private static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(1 + Random.Shared.Next(Math.Min(250, 4 << Math.Min(attempt, 10))));
#pragma warning restore CA5394

    public void Write(Action<TConnection, TTransaction> change) => Write<int>((c, t) =>
    {
        change(c, t);
        return 0;
    });

    /// <summary>Runs the dialect's probe query: throws when the store cannot be read (readiness).</summary>
    public void Probe() => Read(c => c.ExecuteScalar<long>(Dialect.Probe));
}
