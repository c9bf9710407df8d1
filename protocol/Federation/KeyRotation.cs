using System.Security.Cryptography;
using System.Text;

namespace FederatedTwin.Protocol.Federation;

/// <summary>
/// A node replaces its Ed25519 identity key (POST /v1/node/key-rotation). The request is an ordinary signed node
/// request, so RFC 9421 authenticates it with the CURRENT key; the body carries the new key and two signatures over
/// the same <see cref="KeyRotationStatement"/>: one by the new key (proof of possession, as a certificate request
/// proves it, RFC 2986 section 4) and one by the current key (so the record the coordinator and the node keep of the
/// handover is signed by both keys, not only by the transport). The signatures are optional on the wire only so that a
/// request without them can be refused with a clear 400 problem rather than a parse error.
/// </summary>
public sealed record KeyRotationRequest(NodeId NodeId, string? OldPublicKey, string? NewPublicKey, byte[]? OldKeySignature, byte[]? NewKeySignature);

/// <summary>The coordinator's (signed) answer: from <see cref="ValidFrom"/> it accepts <see cref="PublicKey"/> for the node, and no longer the previous key.</summary>
public sealed record KeyRotationResponse(NodeId NodeId, string PublicKey, string PreviousPublicKey, DateTimeOffset ValidFrom);

/// <summary>What the old and the new key both sign when a node rotates its identity.</summary>
public static class KeyRotationStatement
{
    public const string Path = "/v1/node/key-rotation";

    /// <summary>Domain separation: a signature over this statement can never be a valid signature over another protocol message (<see cref="SignedStatement"/>, checkpoints, HTTP signature bases).</summary>
    public const string Domain = "ftwin-node-key-rotation/1";

    /// <summary>"ftwin-node-key-rotation/1\n&lt;node id&gt;\n&lt;old key&gt;\n&lt;new key&gt;" in UTF-8, keys as base64 raw Ed25519 keys.</summary>
    public static byte[] For(NodeId node, string oldPublicKey, string newPublicKey) =>
        Encoding.UTF8.GetBytes($"{Domain}\n{node.Value}\n{oldPublicKey}\n{newPublicKey}");

    /// <summary>Both signatures verify over the statement naming this node, old key and new key.</summary>
    public static bool Verify(NodeId node, string oldPublicKey, string newPublicKey, ReadOnlySpan<byte> oldKeySignature, ReadOnlySpan<byte> newKeySignature)
    {
        var statement = For(node, oldPublicKey, newPublicKey);
        return Ed25519Identity.Verify(oldPublicKey, statement, oldKeySignature) && Ed25519Identity.Verify(newPublicKey, statement, newKeySignature);
    }

    /// <summary>True when the text is a base64 raw Ed25519 public key (32 bytes).</summary>
    public static bool IsPublicKey(string? publicKey)
    {
        Span<byte> raw = stackalloc byte[33];
        return publicKey is not null && Convert.TryFromBase64String(publicKey, raw, out var written) && written == 32;
    }

    /// <summary>
    /// A key's fingerprint: lowercase hex SHA-256 of the raw 32-byte public key (as SSH and RFC 7093 name keys by a
    /// digest), short enough to read out over the phone when a roster is updated; "invalid" for text that is no key.
    /// </summary>
    public static string Fingerprint(string? publicKey)
    {
        Span<byte> raw = stackalloc byte[33];
        return publicKey is not null && Convert.TryFromBase64String(publicKey, raw, out var written) && written == 32
            ? Convert.ToHexStringLower(SHA256.HashData(raw[..32]))
            : "invalid";
    }
}

/// <summary>
/// The RFC 9457 problem a coordinator answers when it refuses a node request's signature (401), signed like every
/// response when the request's signature parameters could be read. Its extension members name the key id refused and,
/// when the coordinator knows the node, the fingerprint of the key it holds for it, so the node can tell (from a
/// signed body it can trust) whether it was revoked, is unknown, or signs with a key the coordinator no longer holds.
/// </summary>
public static class NodeAuthenticationProblem
{
    /// <summary>Problem type URIs are this prefix and a code.</summary>
    public const string TypePrefix = "https://federatedtwin.example/problems/";

    /// <summary>The node's enrollment was revoked by the ACO.</summary>
    public const string Revoked = "node-revoked";

    /// <summary>No node is enrolled under the key id.</summary>
    public const string UnknownKey = "signature-unknownkey";

    /// <summary>The signature does not verify under the key the coordinator holds for the node.</summary>
    public const string BadSignature = "signature-badsignature";

    /// <summary>Extension member: the keyid of the refused signature.</summary>
    public const string KeyIdMember = "key_id";

    /// <summary>Extension member: fingerprint (<see cref="KeyRotationStatement.Fingerprint"/>) of the key the coordinator holds for that node.</summary>
    public const string EnrolledKeyMember = "enrolled_key_sha256";
}
