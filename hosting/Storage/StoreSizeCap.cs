using Dapper;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// A store's size cap (docs/operations.md, "Store size cap"): hospital IT bounds how much of a shared disk a service's store may take,
/// so that a runaway ingest or a flood of rounds fails that one step with "store full" instead of filling the disk under the EHR's
/// other services. SQLite enforces it per connection (PRAGMA max_page_count, https://sqlite.org/pragma.html#pragma_max_page_count),
/// so it is set on every connection the store opens; a write that would grow the file past it fails with SQLITE_FULL and its
/// transaction is rolled back, leaving the store as it was before that transaction. A cap below the store's current size holds it at
/// that size (SQLite never sets the limit under the pages in use): reads and writes that reuse free pages still work.
/// </summary>
public static class StoreSizeCap
{
    /// <summary>SQLITE_FULL: the store reached its cap or the disk is full (https://sqlite.org/rescode.html#full).</summary>
    public const int SqliteFull = 13;

    /// <summary>The cap in bytes for a cap given in megabytes (MiB, as the options say), or null for none.</summary>
    public static long? Bytes(int? megabytes) => megabytes is { } mb ? mb * 1024L * 1024L : null;

    /// <summary>Sets the connection's page limit to the cap (rounded down to whole pages, at least one).</summary>
    public static void Apply(SqliteConnection connection, long maxBytes)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var pageSize = SqliteDialect.PageSizeOf(connection);
        var pages = Math.Max(1, maxBytes / pageSize);
        connection.ExecuteScalar<long>($"PRAGMA max_page_count={pages}");
    }

    /// <summary>Whether an error is SQLite's "database or disk is full" (the cap reached, or the disk itself full).</summary>
    public static bool IsFull(Exception error) => Find(error) is not null;

    /// <summary>The SQLITE_FULL error in <paramref name="error"/> or its inner or aggregated exceptions (a parallel step wraps it), or null.</summary>
    public static SqliteException? Find(Exception? error) => error switch
    {
        SqliteException { SqliteErrorCode: SqliteFull } full => full,
        AggregateException aggregate => aggregate.InnerExceptions.Select(Find).FirstOrDefault(e => e is not null),
        null => null,
        _ => Find(error.InnerException),
    };

    /// <summary>
    /// The one line an operator reads when a service's store is full: which store, that it is full, and how to raise the cap (the
    /// command-line option and the configuration key of the service) or free the disk. Never SQLite's own text or a path.
    /// </summary>
    public static string Message(string store, string option, string configurationKey, long? capBytes) =>
        capBytes is { } cap
            ? $"{store} is full: it reached its size cap of {cap / (1024 * 1024)} MB (or the disk is full); raise {option} ({configurationKey}) or free disk space, then run it again"
            : $"{store} is full: the disk holding it has no space left (SQLite error 13); free disk space or move the store, then run it again";
}
