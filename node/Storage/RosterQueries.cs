using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>A pinned federation roster as stored: the document as approved, its canonical SHA-256, who approved it and when it was pinned.</summary>
public sealed record StoredRoster(byte[] Document, string Sha256, string ApprovedBy, string PinnedAt);

/// <summary>The rosters this node pinned (each version) and the roster documents it refused (audited once each).</summary>
public static class RosterQueries
{
    /// <summary>The highest roster version pinned, or null.</summary>
    public static StoredRoster? Latest(DbConnection c) =>
        c.QuerySingleOrDefault<(byte[] document, string sha256, string approved_by, string pinned_at)?>(
            "SELECT document, sha256, approved_by, pinned_at FROM rosters ORDER BY version DESC LIMIT 1") is { } r
            ? new StoredRoster(r.document, r.sha256, r.approved_by, r.pinned_at)
            : null;

    /// <summary>The highest roster version pinned (version, federation, document), in the caller's transaction.</summary>
    public static (long Version, string Federation, byte[] Document)? LatestDocument(DbConnection c, DbTransaction t) =>
        c.QuerySingleOrDefault<(long version, string federation, byte[] document)?>("SELECT version, federation, document FROM rosters ORDER BY version DESC LIMIT 1", transaction: t) is { } r
            ? (r.version, r.federation, r.document)
            : null;

    public static void Insert(DbConnection c, DbTransaction t, long version, string federation, string sha256, byte[] document, string approvedBy, string now) =>
        c.Execute("INSERT INTO rosters(version, federation, sha256, document, approved_by, pinned_at) VALUES (@v, @f, @sha, @doc, @by, @now)",
            new { v = version, f = federation, sha = sha256, doc = document, by = approvedBy, now }, t);

    /// <summary>Records a refused roster document; 0 when it was already refused once.</summary>
    public static int InsertRefusal(DbConnection c, DbTransaction t, string sha256, string rule, string now) =>
        c.Execute($"{SqliteSyntax.InsertOrIgnore} roster_refusals(sha256, version, rule, refused_at) VALUES (@sha, NULL, @rule, @now)", new { sha = sha256, rule, now }, t);
}
