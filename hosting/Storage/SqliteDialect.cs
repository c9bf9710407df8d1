using Dapper;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Hosting.Storage;

/// <summary>How a service's SQLite file is opened: where it is, its page size, whether foreign keys are enforced, and its size cap.</summary>
/// <param name="Path">The database file.</param>
/// <param name="PageSize">The page size of a new file (SQLite takes it only before the file has content); null keeps SQLite's default.</param>
/// <param name="ForeignKeys">Whether every connection enforces foreign keys (SQLite does not unless asked, per connection).</param>
/// <param name="MaxSizeBytes">The store size cap (<see cref="StoreSizeCap"/>); null leaves the store bounded only by the disk.</param>
public sealed record SqliteSettings(string Path, int? PageSize = null, bool ForeignKeys = false, long? MaxSizeBytes = null);

/// <summary>
/// SQLite: WAL journal (readers never block the writer), synchronous=FULL (a committed transaction survives a power cut),
/// a 30 s busy timeout for the writers of other processes (the CLI beside a running service), pooled connections.
/// </summary>
public sealed class SqliteDialect(SqliteSettings settings) : StoreDialect<SqliteConnection>
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder { DataSource = settings.Path, Pooling = true, DefaultTimeout = 30 }.ToString();

    public SqliteSettings Settings { get; } = settings;

    public override string StoreName => System.IO.Path.GetFileName(Settings.Path);

    public override SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        connection.Execute(Settings.ForeignKeys
            ? "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA synchronous=FULL;"
            : "PRAGMA busy_timeout=30000; PRAGMA synchronous=FULL;");
        if (Settings.MaxSizeBytes is { } cap)
        {
            StoreSizeCap.Apply(connection, cap);
        }

        return connection;
    }

    public override void Initialize(SqliteConnection connection)
    {
        if (Settings.PageSize is { } pageSize)
        {
            connection.Execute($"PRAGMA page_size={pageSize};");
        }

        connection.Execute("PRAGMA journal_mode=WAL;");
    }

    /// <summary>
    /// Any SQLite error (busy or locked past the busy timeout, I/O, full): the engine's own. A write is not run again here: the busy
    /// timeout has already waited 30 s for the lock (<see cref="StoreDialect{TConnection}.WriteAttempts"/> stays 1).
    /// </summary>
    public override bool IsStorageError(Exception error) => error is SqliteException;

    /// <summary>The page size of the open store (an existing file keeps its own until a VACUUM).</summary>
    public static long PageSizeOf(SqliteConnection connection) => connection.ExecuteScalar<long>("PRAGMA page_size");

    /// <summary>
    /// Settings for a connection that writes in bulk: synchronous=NORMAL (a power cut may lose the last commits, never corrupt
    /// the file), a page cache of <paramref name="cacheKiB"/> KiB, temporary tables in memory, and a checkpoint every
    /// <paramref name="walAutocheckpointPages"/> WAL pages.
    /// </summary>
    public static void ForBulkWrite(SqliteConnection connection, int cacheKiB, int walAutocheckpointPages) =>
        connection.Execute($"PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{cacheKiB}; PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint={walAutocheckpointPages};");
}
