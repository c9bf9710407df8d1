using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Storage;

namespace FederatedTwin.Federation.Tests.Postgres;

/// <summary>
/// One throwaway PostgreSQL cluster per test class (<see cref="PostgresCluster"/>: initdb on a free loopback port, deleted at the end),
/// and a fresh database per test. A machine without PostgreSQL fails these tests; they never skip.
/// </summary>
public sealed class PostgresFixture : IDisposable
{
    private readonly PostgresCluster _cluster = PostgresCluster.Start();
    private int _databases;

    /// <summary>A new empty database's connection string (loopback, trust authentication: no password).</summary>
    public string NewDatabase() => _cluster.CreateDatabase($"coordinator_{Interlocked.Increment(ref _databases)}");

    /// <summary>pg_dump of a database of this cluster, by its connection string.</summary>
    public byte[] Dump(string connectionString) => _cluster.Dump(new Npgsql.NpgsqlConnectionStringBuilder(connectionString).Database!);

    /// <summary>The loopback port the cluster listens on.</summary>
    public int Port => _cluster.Port;

    /// <summary>Coordinator options that put its state in a new database of this cluster.</summary>
    public Action<CoordinatorOptions> NewCoordinatorStore()
    {
        var connectionString = NewDatabase();
        return o =>
        {
            o.Store = CoordinatorOptions.StoreNames.Postgres;
            o.PostgresConnectionString = connectionString;
        };
    }

    /// <summary>A coordinator store over a new database of this cluster.</summary>
    public CoordinatorStore NewStore() => CoordinatorStore.Postgres(NewDatabase());

    public void Dispose() => _cluster.Dispose();
}
