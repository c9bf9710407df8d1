using System.Data.Common;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// What a database engine contributes to a <see cref="MigratingStore{TConnection, TTransaction}"/>: how a connection is
/// opened (with its per-connection settings), what is set once on a store before its migrations run, and the SQL of
/// the schema_version bookkeeping. SQLite is the only dialect today (<see cref="SqliteDialect"/>); another engine is a
/// dialect beside it, so the stores and their callers keep their Read/Write surface whichever engine holds the data.
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
}

/// <summary>The schema bookkeeping's SQL, standard enough for SQLite and PostgreSQL alike.</summary>
internal static class SchemaSql
{
    public const string CreateVersionTable = "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)";
    public const string SelectVersion = "SELECT MAX(version) FROM schema_version";
    public const string InsertVersion = "INSERT INTO schema_version(version) VALUES (@v)";
    public const string Probe = "SELECT COUNT(*) FROM schema_version";
}
