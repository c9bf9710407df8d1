using System.Security.Cryptography;
using System.Text;

namespace FederatedTwin.Protocol.Federation;

/// <summary>
/// Enrollment bound to keys (federation protocol 3): the node proves that it knows the one-time token without sending it. It
/// sends the token's public id (<see cref="TokenId"/>) and a MAC, HMAC-SHA256 (RFC 2104) under a key derived from the token with
/// HKDF-SHA256 (RFC 5869), over <see cref="Statement"/>: the key it enrolls, the coordinator key it pinned, and the SHA-256
/// fingerprint of its TLS client certificate when it has one. The coordinator keeps only the id and the derived key, never the
/// token. A request copied off the wire proves nothing for any other node key (a new MAC needs the token), nor for another
/// coordinator or another TLS certificate; the id reveals nothing of the token (a SHA-256 of 192 random bits).
/// </summary>
public static class EnrollmentProof
{
    /// <summary>Domain separation for the statement; the protocol version it belongs to is part of it.</summary>
    public const string Domain = "ftwin-enrollment/3";

    /// <summary>HKDF's salt (RFC 5869 section 3.1: a fixed, non-secret value is fine): the key serves this one purpose.</summary>
    private static readonly byte[] Salt = Encoding.UTF8.GetBytes("ftwin-enrollment-token");

    /// <summary>HKDF's info: which key is derived from the token.</summary>
    private static readonly byte[] Info = Encoding.UTF8.GetBytes("ftwin-enrollment-mac/3");

    /// <summary>The token's public id: SHA-256 of its UTF-8 text, in lower-case hex (what the coordinator's records always called the token's hash).</summary>
    public static string TokenId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary>The MAC key: HKDF-SHA256(IKM = the token's UTF-8 bytes, salt, info), 32 bytes.</summary>
    public static byte[] MacKey(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(token), 32, Salt, Info);
    }

    /// <summary>
    /// The canonical statement the MAC covers: "ftwin-enrollment/3\n&lt;token id&gt;\n&lt;node key&gt;\n&lt;coordinator key&gt;\n&lt;TLS
    /// fingerprint or -&gt;" in UTF-8. Keys are base64 raw Ed25519 keys and the fingerprint lower-case hex: none can hold a newline,
    /// so the encoding is unambiguous.
    /// </summary>
    public static byte[] Statement(string tokenId, string nodePublicKey, string coordinatorPublicKey, string? tlsClientCertificateSha256) =>
        Encoding.UTF8.GetBytes($"{Domain}\n{tokenId}\n{nodePublicKey}\n{coordinatorPublicKey}\n{tlsClientCertificateSha256 ?? "-"}");

    /// <summary>The node's proof: base64 HMAC-SHA256 under <see cref="MacKey"/> over <see cref="Statement"/>.</summary>
    public static string Mac(string token, string nodePublicKey, string coordinatorPublicKey, string? tlsClientCertificateSha256) =>
        Convert.ToBase64String(HMACSHA256.HashData(MacKey(token), Statement(TokenId(token), nodePublicKey, coordinatorPublicKey, tlsClientCertificateSha256)));

    /// <summary>The coordinator's check, with the derived key it stored for the token: constant time.</summary>
    public static bool Verify(byte[] macKey, string tokenId, string nodePublicKey, string coordinatorPublicKey, string? tlsClientCertificateSha256, string? mac)
    {
        ArgumentNullException.ThrowIfNull(macKey);
        var expected = HMACSHA256.HashData(macKey, Statement(tokenId, nodePublicKey, coordinatorPublicKey, tlsClientCertificateSha256));
        var given = new byte[32];
        return mac is not null && Convert.TryFromBase64String(mac, given, out var written) && written == 32 && CryptographicOperations.FixedTimeEquals(expected, given);
    }

    /// <summary>True when the text is a SHA-256 fingerprint as the protocol writes it (64 lower-case hex digits).</summary>
    public static bool IsFingerprint(string? value) => value is { Length: 64 } && value.All(char.IsAsciiHexDigitLower);
}
