using System.Data.Common;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// An engine's dialect seen through <see cref="DbConnection"/>: a store whose callers must not depend on the engine (the coordinator,
/// on SQLite or PostgreSQL) is one <c>MigratingStore&lt;DbConnection, DbTransaction&gt;</c> over it, and its callers type their
/// connections and transactions as <see cref="DbConnection"/> and <see cref="DbTransaction"/>.
/// </summary>
public sealed class NeutralDialect<TConnection>(StoreDialect<TConnection> engine) : StoreDialect<DbConnection>
    where TConnection : DbConnection
{
    /// <summary>The engine's own dialect (its settings: the SQLite file, the PostgreSQL server).</summary>
    public StoreDialect<TConnection> Engine { get; } = engine ?? throw new ArgumentNullException(nameof(engine));

    public override string StoreName => Engine.StoreName;

    public override DbConnection Open() => Engine.Open();

    public override void Initialize(DbConnection connection) => Engine.Initialize((TConnection)connection);

    public override string CreateSchemaVersionTable => Engine.CreateSchemaVersionTable;

    public override string SelectSchemaVersion => Engine.SelectSchemaVersion;

    public override string InsertSchemaVersion => Engine.InsertSchemaVersion;

    public override string Probe => Engine.Probe;

    public override IDisposable? LockForMigrations(DbConnection connection) => Engine.LockForMigrations((TConnection)connection);

    public override bool IsRetryable(Exception error) => Engine.IsRetryable(error);

    public override int WriteAttempts => Engine.WriteAttempts;

    public override bool IsStorageError(Exception error) => Engine.IsStorageError(error);
}
