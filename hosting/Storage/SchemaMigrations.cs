using System.Data.Common;
using Dapper;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// A store's versioned schema: step i (from 0) brings the schema to version i + 1, runs once, in order, each in its own
/// transaction with the row that records it, so a crash leaves the store at one version or the next. A store newer
/// than the build is refused rather than run by code that does not know its tables.
/// </summary>
/// <param name="Service">The service that owns the store, for the refusal ("node", "coordinator").</param>
/// <param name="Steps">The migrations, oldest first; never edit or reorder one that has shipped.</param>
public sealed record SchemaMigrations(string Service, IReadOnlyList<string> Steps)
{
    /// <summary>The number of schema versions this build knows.</summary>
    public int Latest => Steps.Count;

    /// <summary>Applies the steps not yet applied, up to <paramref name="upTo"/> (tests build a store of an earlier version, then upgrade it).</summary>
    public void Apply<TConnection>(StoreDialect<TConnection> dialect, TConnection connection, int upTo = int.MaxValue)
        where TConnection : DbConnection
    {
        connection.Execute(dialect.CreateSchemaVersionTable);
        var current = connection.ExecuteScalar<long?>(dialect.SelectSchemaVersion) ?? 0;
        if (current > Steps.Count)
        {
            throw new InvalidOperationException($"{dialect.StoreName} has schema version {current}, newer than this build knows ({Steps.Count}); refusing to run an older {Service} on it.");
        }

        for (var v = (int)current; v < Math.Min(upTo, Steps.Count); v++)
        {
            using var transaction = connection.BeginTransaction();
            connection.Execute(Steps[v], transaction: transaction);
            connection.Execute(dialect.InsertSchemaVersion, new { v = v + 1 }, transaction);
            transaction.Commit();
        }
    }
}
