using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>An enrollment token as enrollment checks it: mac_key is null for a token issued before enrollment was bound to keys.</summary>
internal sealed record EnrollmentTokenRow(string expires_at, string? used_by, long revoked, byte[]? mac_key);

/// <summary>An enrollment token as the dashboard lists it (the hash only: the token is never stored in clear).</summary>
internal sealed record EnrollmentTokenListingRow(string token_hash, string created_at, string expires_at, string? used_by, long revoked);

/// <summary>The enrollment_tokens table, in standard SQL.</summary>
internal static class EnrollmentQueries
{
    /// <param name="tokenHash">The token's public id (its SHA-256).</param>
    /// <param name="macKey">The key derived from the token that checks a node's enrollment MAC (the token itself is never stored).</param>
    public static void Insert(IDbConnection c, IDbTransaction t, string tokenHash, byte[] macKey, DateTimeOffset now, DateTimeOffset expires) =>
        c.Execute("INSERT INTO enrollment_tokens(token_hash, mac_key, created_at, expires_at) VALUES (@hash, @key, @now, @expires)",
            new { hash = tokenHash, key = macKey, now = StoredTime.Format(now), expires = StoredTime.Format(expires) }, t);

    /// <summary>Revokes a token no node has used; false if it is unknown, used or already revoked.</summary>
    public static bool RevokeUnused(IDbConnection c, IDbTransaction t, string tokenHash) =>
        c.Execute("UPDATE enrollment_tokens SET revoked=1 WHERE token_hash=@hash AND used_by IS NULL AND revoked=0", new { hash = tokenHash }, t) > 0;

    public static EnrollmentTokenRow? Find(IDbConnection c, IDbTransaction? t, string tokenHash) =>
        c.QuerySingleOrDefault<EnrollmentTokenRow>("SELECT expires_at, used_by, revoked, mac_key FROM enrollment_tokens WHERE token_hash=@hash", new { hash = tokenHash }, t);

    public static void MarkUsed(IDbConnection c, IDbTransaction t, string tokenHash, string node, DateTimeOffset now) =>
        c.Execute("UPDATE enrollment_tokens SET used_by=@node, used_at=@now WHERE token_hash=@hash", new { node, now = StoredTime.Format(now), hash = tokenHash }, t);

    /// <summary>The most recently issued tokens, newest first.</summary>
    public static List<EnrollmentTokenListingRow> Recent(IDbConnection c, int count) =>
        [.. c.Query<EnrollmentTokenListingRow>("SELECT token_hash, created_at, expires_at, used_by, revoked FROM enrollment_tokens ORDER BY created_at DESC LIMIT @count", new { count })];
}
