using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>An enrolled node as lists show it (revoked is 0 or 1, as stored).</summary>
internal sealed record NodeRow(string node_id, string name, string public_key, string enrolled_at, string? last_seen_at, long protocol_version, long revoked);

/// <summary>An enrolled node with how often its key was rotated.</summary>
internal sealed record NodeListingRow(string node_id, string name, string public_key, string enrolled_at, string? last_seen_at, long protocol_version, long revoked, long rotations);

/// <summary>A node that is not revoked: a roster entry.</summary>
internal sealed record ActiveNodeRow(string node_id, string name, string public_key);

/// <summary>What a refused signed request is answered with: the node's key and whether it was revoked.</summary>
internal sealed record NodeKeyStateRow(string public_key, long revoked);

/// <summary>A key a node has held.</summary>
internal sealed record NodeKeyRow(string public_key, string valid_from, string? valid_until, string? replaced_by);

/// <summary>How lists order the nodes.</summary>
internal enum NodeOrder
{
    EnrolledAt,
    Name,
}

/// <summary>An audit-chain head a node sent with a signed request, as the coordinator recorded it.</summary>
internal sealed record ReceivedAuditHead(string NodeId, long Seq, string Sha256, string ReceivedAt);

/// <summary>
/// The nodes, node_key_history, nonces and node_audit_heads tables: enrolled nodes, their keys, and what their signed requests
/// leave behind, in SQL that SQLite and PostgreSQL both read (INSERT ... ON CONFLICT DO NOTHING: SQLite 3.24 and PostgreSQL 9.5).
/// </summary>
internal static class NodeQueries
{
    /// <param name="tlsClientSha256">The SHA-256 fingerprint of the node's TLS client certificate, from its signed enrollment (null without one).</param>
    public static void Insert(IDbConnection c, IDbTransaction t, string node, string name, string publicKey, DateTimeOffset now, int protocolVersion, string? tlsClientSha256) =>
        c.Execute("INSERT INTO nodes(node_id, name, public_key, enrolled_at, protocol_version, tls_client_sha256) VALUES (@node, @name, @key, @now, @version, @tls)",
            new { node, name, key = publicKey, now = StoredTime.Format(now), version = protocolVersion, tls = tlsClientSha256 }, t);

    /// <summary>The fingerprint of the TLS client certificate the node registered when it enrolled (null: none), or null for an unknown node.</summary>
    public static string? TlsClientCertificate(IDbConnection c, string node) =>
        c.QuerySingleOrDefault<string?>("SELECT tls_client_sha256 FROM nodes WHERE node_id=@node", new { node });

    /// <summary>Revokes the node's enrollment; false if it is unknown or already revoked.</summary>
    public static bool Revoke(IDbConnection c, IDbTransaction t, string node) =>
        c.Execute("UPDATE nodes SET revoked=1 WHERE node_id=@node AND revoked=0", new { node }, t) > 0;

    /// <summary>The node enrolled with the key as its current one, or null.</summary>
    public static string? NodeWithKey(IDbConnection c, IDbTransaction? t, string publicKey) =>
        c.QuerySingleOrDefault<string?>("SELECT node_id FROM nodes WHERE public_key=@key", new { key = publicKey }, t);

    /// <summary>Whether any node holds or held the key (the enrollment trigger records every enrolled key).</summary>
    public static bool KeyEverHeld(IDbConnection c, IDbTransaction? t, string publicKey) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM node_key_history WHERE public_key=@key", new { key = publicKey }, t) > 0;

    /// <summary>The node that holds or held the key, now or in its history, or null.</summary>
    public static string? KeyHolder(IDbConnection c, IDbTransaction? t, string publicKey) =>
        c.QuerySingleOrDefault<string?>("SELECT node_id FROM nodes WHERE public_key=@key UNION SELECT node_id FROM node_key_history WHERE public_key=@key LIMIT 1", new { key = publicKey }, t);

    /// <summary>The node's current key, revoked or not.</summary>
    public static string PublicKey(IDbConnection c, IDbTransaction? t, string node) =>
        c.QuerySingle<string>("SELECT public_key FROM nodes WHERE node_id=@node", new { node }, t);

    /// <summary>The node's current key if it is enrolled and not revoked, else null.</summary>
    public static string? ActiveKey(IDbConnection c, IDbTransaction? t, string node) =>
        c.QuerySingleOrDefault<string?>("SELECT public_key FROM nodes WHERE node_id=@node AND revoked=0", new { node }, t);

    public static NodeKeyStateRow? KeyState(IDbConnection c, string node) =>
        c.QuerySingleOrDefault<NodeKeyStateRow>("SELECT public_key, revoked FROM nodes WHERE node_id=@node", new { node });

    /// <summary>The nodes not revoked, by id.</summary>
    public static List<ActiveNodeRow> Active(IDbConnection c) =>
        [.. c.Query<ActiveNodeRow>("SELECT node_id, name, public_key FROM nodes WHERE revoked=0 ORDER BY node_id")];

    public static long ActiveCount(IDbConnection c, IDbTransaction? t) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM nodes WHERE revoked=0", transaction: t);

    /// <summary>Every enrolled node, revoked ones too.</summary>
    public static List<NodeRow> All(IDbConnection c, NodeOrder order) =>
        [.. c.Query<NodeRow>("SELECT node_id, name, public_key, enrolled_at, last_seen_at, protocol_version, revoked FROM nodes ORDER BY "
            + (order == NodeOrder.Name ? "name" : "enrolled_at"))];

    /// <summary>Every enrolled node with its number of key rotations, by enrollment.</summary>
    public static List<NodeListingRow> Listings(IDbConnection c) =>
        [.. c.Query<NodeListingRow>("""
            SELECT n.node_id, n.name, n.public_key, n.enrolled_at, n.last_seen_at, n.protocol_version, n.revoked,
                (SELECT COUNT(*) FROM node_key_history h WHERE h.node_id = n.node_id AND h.replaced_by IS NOT NULL) AS rotations
            FROM nodes n ORDER BY n.enrolled_at
            """)];

    /// <summary>Every node's name by id.</summary>
    public static Dictionary<string, string> Names(IDbConnection c) =>
        c.Query<(string node_id, string name)>("SELECT node_id, name FROM nodes").ToDictionary(n => n.node_id, n => n.name, StringComparer.Ordinal);

    /// <summary>Every key the node has held, oldest first (the current one last).</summary>
    public static List<NodeKeyRow> KeyHistory(IDbConnection c, IDbTransaction? t, string node) =>
        [.. c.Query<NodeKeyRow>("SELECT public_key, valid_from, valid_until, replaced_by FROM node_key_history WHERE node_id=@node ORDER BY valid_from, valid_until IS NULL", new { node }, t)];

    /// <summary>
    /// Replaces the node's key: closes the old key's history row (the enrollment trigger or the migration opened it), opens the
    /// new key's, and switches nodes.public_key.
    /// </summary>
    public static void RotateKey(IDbConnection c, IDbTransaction t, string node, string oldKey, string newKey, DateTimeOffset now)
    {
        var args = new { node, old = oldKey, next = newKey, now = StoredTime.Format(now) };
        c.Execute("UPDATE node_key_history SET valid_until=@now, replaced_by=@next WHERE node_id=@node AND public_key=@old", args, t);
        c.Execute("INSERT INTO node_key_history(node_id, public_key, valid_from) VALUES (@node, @next, @now)", args, t);
        c.Execute("UPDATE nodes SET public_key=@next WHERE node_id=@node AND public_key=@old", args, t);
    }

    /// <summary>Records that a node's signed request arrived (its last contact and protocol version).</summary>
    /// <summary>
    /// Records the data version a node's work poll carried, and when it changed (docs/privacy.md, "Data freshness"). Only a different
    /// value writes (a node polls all the time); true when it changed.
    /// </summary>
    public static bool RecordDataVersion(IDbConnection c, IDbTransaction t, string node, long dataVersion, DateTimeOffset at) =>
        c.Execute("UPDATE nodes SET data_version=@dataVersion, data_changed_at=@at WHERE node_id=@node AND (data_version IS NULL OR data_version<>@dataVersion)",
            new { dataVersion, at = StoredTime.Format(at), node }, t) > 0;

    /// <summary>The data version a node last reported, or null (an older node that sends none).</summary>
    public static long? DataVersion(IDbConnection c, IDbTransaction? t, string node) =>
        c.ExecuteScalar<long?>("SELECT data_version FROM nodes WHERE node_id=@node", new { node }, t);

    /// <summary>Every node's data freshness as the dashboard's federation page shows it.</summary>
    public static Dictionary<string, (long? DataVersion, string? ChangedAt)> DataFreshness(IDbConnection c) =>
        c.Query<(string, long?, string?)>("SELECT node_id, data_version, data_changed_at FROM nodes").ToDictionary(r => r.Item1, r => (r.Item2, r.Item3), StringComparer.Ordinal);

    public static void Seen(IDbConnection c, IDbTransaction t, string node, DateTimeOffset at, int protocolVersion) =>
        c.Execute("UPDATE nodes SET last_seen_at=@at, protocol_version=@version WHERE node_id=@node", new { at = StoredTime.Format(at), version = protocolVersion, node }, t);

    /// <summary>Every audit chain head received, of one node (its id) or all, by node and sequence number.</summary>
    public static IReadOnlyList<ReceivedAuditHead> AuditHeads(IDbConnection c, string? node) =>
        [.. c.Query<(string node_id, long seq, string sha256, string received_at)>(
            "SELECT node_id, seq, sha256, received_at FROM node_audit_heads WHERE @node IS NULL OR node_id = @node ORDER BY node_id, seq", new { node })
            .Select(r => new ReceivedAuditHead(r.node_id, r.seq, r.sha256, r.received_at))];

    /// <summary>Keeps a node's audit chain head as a request carried it (the first report of a sequence number stays).</summary>
    public static void RecordAuditHead(IDbConnection c, IDbTransaction t, string node, long seq, string? sha256, DateTimeOffset at) =>
        c.Execute(InsertAuditHeadUnlessPresent, new { node, seq, sha = sha256, at = StoredTime.Format(at) }, t);

    /// <summary>
    /// Remembers a request nonce until it expires (Unix seconds), forgetting the expired ones; false if the nonce was already
    /// remembered for the key: a replay.
    /// </summary>
    public static bool RememberNonce(IDbConnection c, IDbTransaction t, string keyId, string nonce, long expiresAt, long now)
    {
        c.Execute("DELETE FROM nonces WHERE expires_at < @now", new { now }, t);
        return c.Execute(InsertNonceUnlessPresent, new { keyId, nonce, expiresAt }, t) == 1;
    }

    private const string InsertAuditHeadUnlessPresent =
        "INSERT INTO node_audit_heads(node_id, seq, sha256, received_at) VALUES (@node, @seq, @sha, @at) ON CONFLICT (node_id, seq) DO NOTHING";

    private const string InsertNonceUnlessPresent =
        "INSERT INTO nonces(key_id, nonce, expires_at) VALUES (@keyId, @nonce, @expiresAt) ON CONFLICT (key_id, nonce) DO NOTHING";
}
