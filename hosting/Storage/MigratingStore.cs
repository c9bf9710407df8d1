using System.Data;
using System.Data.Common;
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
        migrations.Apply(dialect, connection);
    }

    public StoreDialect<TConnection> Dialect { get; }

    public TConnection Open() => Dialect.Open();

    public T Read<T>(Func<TConnection, T> query)
    {
        ArgumentNullException.ThrowIfNull(query);
        using var connection = Open();
        return query(connection);
    }

    public T Write<T>(Func<TConnection, TTransaction, T> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        using var connection = Open();
        using var transaction = (TTransaction)connection.BeginTransaction(IsolationLevel.Serializable);
        var result = change(connection, transaction);
        transaction.Commit();
        return result;
    }

    public void Write(Action<TConnection, TTransaction> change) => Write<int>((c, t) =>
    {
        change(c, t);
        return 0;
    });

    /// <summary>Runs the dialect's probe query: throws when the store cannot be read (readiness).</summary>
    public void Probe() => Read(c => c.ExecuteScalar<long>(Dialect.Probe));
}
