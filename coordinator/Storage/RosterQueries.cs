using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>The newest published roster's identity.</summary>
internal sealed record RosterHeadRow(long version, string federation, string sha256);

/// <summary>The newest published roster's version and document.</summary>
internal sealed record RosterDocumentRow(long version, byte[] document);

/// <summary>
/// The rosters table: the federation rosters the coordinator relays, by version, in SQL that SQLite and PostgreSQL both read.
/// </summary>
internal static class RosterQueries
{
    public static RosterHeadRow? LatestHead(IDbConnection c, IDbTransaction? t) =>
        c.QuerySingleOrDefault<RosterHeadRow>("SELECT version, federation, sha256 FROM rosters ORDER BY version DESC LIMIT 1", transaction: t);

    public static RosterDocumentRow? Latest(IDbConnection c, IDbTransaction? t) =>
        c.QuerySingleOrDefault<RosterDocumentRow>("SELECT version, document FROM rosters ORDER BY version DESC LIMIT 1", transaction: t);

    /// <summary>Publishes a roster version, replacing the document published before under the same version (more approvals).</summary>
    public static void Publish(IDbConnection c, IDbTransaction t, long version, string federation, string sha256, byte[] document, DateTimeOffset now) =>
        c.Execute(Upsert, new { version, federation, sha = sha256, document, now = StoredTime.Format(now) }, t);

    // Every column replaced, as INSERT OR REPLACE did.
    private const string Upsert = """
        INSERT INTO rosters(version, federation, sha256, document, published_at) VALUES (@version, @federation, @sha, @document, @now)
        ON CONFLICT (version) DO UPDATE SET federation=excluded.federation, sha256=excluded.sha256, document=excluded.document, published_at=excluded.published_at
        """;
}
