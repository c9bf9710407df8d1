using System.Data.Common;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// What a database engine contributes to a <see cref="MigratingStore{TConnection, TTransaction}"/>: how a connection is
/// opened (with its per-connection settings), what is set once on a store before its migrations run, and the SQL of
/// the schema_version bookkeeping, and which of its errors are conflicts to retry. SQLite (<see cref="SqliteDialect"/>) and
/// PostgreSQL (<see cref="PostgresDialect"/>); a store whose callers must not know the engine is one type over
/// <see cref="NeutralDialect{TConnection}"/>, so the stores and their callers keep their Read/Write surface whichever engine holds the data.
/// </summary>
public abstract class StoreDialect<TConnection>
    where TConnection : DbConnection
{
    /// <summary>What the store is called in messages (the SQLite file name, for instance).</summary>
    public abstract string StoreName { get; }

    /// <summary>An open connection with the per-connection settings applied.</summary>
    public abstract TConnection Open();

    /// <summary>Settings made once per store, on the first connection, before the migrations run.</summary>
    public abstract void Initialize(TConnection connection);

    /// <summary>Creates the table of applied schema versions when it is missing.</summary>
    public virtual string CreateSchemaVersionTable => SchemaSql.CreateVersionTable;

    /// <summary>The highest schema version applied (NULL on a new store).</summary>
    public virtual string SelectSchemaVersion => SchemaSql.SelectVersion;

    /// <summary>Records version @v as applied.</summary>
    public virtual string InsertSchemaVersion => SchemaSql.InsertVersion;

    /// <summary>A query that succeeds only when the store can be read: what readiness runs.</summary>
    public virtual string Probe => SchemaSql.Probe;

    /// <summary>
    /// Holds off other processes' migrations of the same store while this one runs them (replicas starting together on one
    /// database); null where the engine serializes them itself (SQLite: one writer per file).
    /// </summary>
    public virtual IDisposable? LockForMigrations(TConnection connection) => null;

    /// <summary>
    /// Whether an error aborted a transaction only because another one conflicted with it, so that running the same transaction
    /// again may succeed (<see cref="MigratingStore{TConnection, TTransaction}.Write{T}"/> retries it).
    /// </summary>
    public virtual bool IsRetryable(Exception error) => false;

    /// <summary>How many times, at most, a write is tried when it keeps meeting retryable conflicts.</summary>
    public virtual int WriteAttempts => 1;

    /// <summary>
    /// Whether an error came from the store itself (the engine or the connection to it) rather than from the code or the data: a
    /// background loop skips such a pass and tries again on its next one instead of failing what it was working on.
    /// </summary>
    public virtual bool IsStorageError(Exception error) => false;
}

/// <summary>The schema bookkeeping's SQL, standard enough for SQLite and PostgreSQL alike.</summary>
internal static class SchemaSql
{
    public const string CreateVersionTable = "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)";
    public const string SelectVersion = "SELECT MAX(version) FROM schema_version";
    public const string InsertVersion = "INSERT INTO schema_version(version) VALUES (@v)";
    public const string Probe = "SELECT COUNT(*) FROM schema_version";
}
