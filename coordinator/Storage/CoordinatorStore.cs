using System.Data.Common;
using FederatedTwin.Hosting.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>Which engine holds the coordinator's state.</summary>
public enum CoordinatorStoreKind
{
    /// <summary>coordinator.db in the data directory: the embedded default (the demo, small federations).</summary>
    Sqlite,

    /// <summary>A PostgreSQL database named by a connection string: several replicas, a managed service, PostgreSQL's own backups.</summary>
    Postgres,
}

/// <summary>
/// The coordinator's store: coordinator.db (SQLite) in its data directory, or a PostgreSQL database. All round state lives here,
/// never only in memory, so the process can be killed at any point and resume. Every state change is one serializable transaction
/// (on PostgreSQL one that may be run again after a serialization failure: its callers change nothing outside it). The store holds
/// ciphertexts and decrypted sums, never one node's plaintext update. One type for both engines: callers see
/// <see cref="DbConnection"/> and <see cref="DbTransaction"/>, and the named queries (Storage/*Queries.cs) are written once, in SQL
/// both engines read; only the migrations are written per engine (<see cref="Migrations"/>). On SQLite, foreign keys are enforced on
/// every connection and pages are SQLite's default size.
/// </summary>
public sealed class CoordinatorStore : MigratingStore<DbConnection, DbTransaction>, ISqliteFile, IDisposable
{
    /// <summary>The store file in a SQLite coordinator's data directory.</summary>
    public const string FileName = "coordinator.db";

    private readonly string? _path;
    private readonly PostgresDialect? _postgres;

    private CoordinatorStore(StoreDialect<DbConnection> dialect, SchemaMigrations migrations, CoordinatorStoreKind kind, string? path, PostgresDialect? postgres)
        : base(dialect, migrations)
    {
        Kind = kind;
        _path = path;
        _postgres = postgres;
    }

    /// <summary>The engine.</summary>
    public CoordinatorStoreKind Kind { get; }

    /// <summary>coordinator.db on SQLite; on PostgreSQL there is no file (throws: ask <see cref="Kind"/> first).</summary>
    public string Path => _path ?? throw new InvalidOperationException($"The coordinator's store is {Dialect.StoreName}, not a file.");

    /// <summary>coordinator.db in <paramref name="dataDir"/>, created owner-only when missing.</summary>
    /// <param name="maxSizeBytes">The store size cap (hosting/Storage/StoreSizeCap.cs), on every connection; null for none.</param>
    public static CoordinatorStore Sqlite(string dataDir, long? maxSizeBytes = null)
    {
        var settings = new SqliteSettings(System.IO.Path.Combine(dataDir, FileName), ForeignKeys: true, MaxSizeBytes: maxSizeBytes);
        return new CoordinatorStore(new NeutralDialect<SqliteConnection>(SqliteStore.Prepare(settings)), Migrations.Schema, CoordinatorStoreKind.Sqlite, settings.Path, null);
    }

    /// <summary>The PostgreSQL database of <paramref name="connectionString"/> (no password in it: <paramref name="password"/>, PGPASSWORD or PGPASSFILE).</summary>
    public static CoordinatorStore Postgres(string connectionString, string? password = null)
    {
        var dialect = new PostgresDialect(connectionString, password);
        try
        {
            return new CoordinatorStore(new NeutralDialect<Npgsql.NpgsqlConnection>(dialect), Migrations.PostgresSchema, CoordinatorStoreKind.Postgres, null, dialect);
        }
        catch
        {
            dialect.Dispose();
            throw;
        }
    }

    /// <summary>The store the options choose (<see cref="CoordinatorOptions.Store"/>), with the password read from its file when one is named.</summary>
    public static CoordinatorStore Open(CoordinatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.StoreKind switch
        {
            CoordinatorStoreKind.Postgres => Postgres(options.PostgresConnectionString!, options.ReadPostgresPassword()),
            _ => Sqlite(options.DataDir, StoreSizeCap.Bytes(options.MaxStoreMegabytes)),
        };
    }

    /// <summary>SQLite's online backup of coordinator.db; on PostgreSQL the database is backed up with pg_dump (refused here).</summary>
    public void BackupTo(string destination)
    {
        if (Kind != CoordinatorStoreKind.Sqlite)
        {
            throw new InvalidOperationException(PostgresBackupRefusal);
        }

        using var source = (SqliteConnection)Open();
        SqliteBackup.Copy(source, destination);
    }

    /// <summary>What a backup of a PostgreSQL coordinator is made with instead.</summary>
    public const string PostgresBackupRefusal =
        "the coordinator's store is PostgreSQL, which SQLite's online backup cannot copy: back the database up with pg_dump "
        + "(pg_dump --format=custom --file=coordinator.dump DBNAME) and the data directory (keys, sealed identity, admin token hash) "
        + "with a copy that keeps its owner-only modes; docs/operations.md, \"Running the coordinator on PostgreSQL\"";

    public void Dispose() => _postgres?.Dispose();
}
