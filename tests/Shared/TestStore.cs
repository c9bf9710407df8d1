using Microsoft.Data.Sqlite;

namespace FederatedTwin.Tests;

/// <summary>
/// A test's own connection to a service's SQLite store (node.db, coordinator.db), beside the service's: to read what it stored, or to
/// tamper with it as someone with write access to the file could. Never pooled: closing the connection closes the file, so a later
/// step (or test) can move, delete or reopen it, and a running service never finds a test's idle connection holding it. With a busy
/// timeout: a service that holds the write lock for a moment makes the test's statement wait, not fail (SQLITE_BUSY is retried by
/// Microsoft.Data.Sqlite until the command timeout).
/// </summary>
internal static class TestStore
{
    /// <summary>How long a statement waits for a lock another connection holds.</summary>
    public const int BusyTimeoutSeconds = 30;

    /// <summary>An open read-only connection to an existing store.</summary>
    public static SqliteConnection OpenReadOnly(string dbPath) => Open(dbPath, SqliteOpenMode.ReadOnly);

    /// <summary>An open read-write connection to an existing store (a missing file is an error, never a new empty store).</summary>
    public static SqliteConnection OpenWritable(string dbPath) => Open(dbPath, SqliteOpenMode.ReadWrite);

    /// <summary>An open read-write connection that creates the store if it does not exist (a test laying out an old schema).</summary>
    public static SqliteConnection Create(string dbPath) => Open(dbPath, SqliteOpenMode.ReadWriteCreate);

    private static SqliteConnection Open(string dbPath, SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = dbPath,
            Mode = mode,
            Pooling = false,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString());
        connection.Open();
        return connection;
    }
}
