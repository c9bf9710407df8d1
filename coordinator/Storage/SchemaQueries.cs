using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>The schema_version table as the readiness check reads it (Migrations.cs writes it).</summary>
internal static class SchemaQueries
{
    /// <summary>How many schema migrations were applied; reading it at all shows coordinator.db is readable.</summary>
    public static long AppliedMigrations(IDbConnection c) => c.ExecuteScalar<long>("SELECT COUNT(*) FROM schema_version");
}
