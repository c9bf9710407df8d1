using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Protocol.Audit;

/// <summary>
/// A signed statement that the chain's entry <see cref="Seq"/> had hash <see cref="HeadHash"/> at
/// <see cref="At"/>: Ed25519 (RFC 8032) by the service's identity key over
/// "ftwin-audit-checkpoint/1\n" followed by the RFC 8785 form of {seq, head_hash, at, reason}.
/// Anyone without that key who rewrites entries up to a checkpoint cannot make the checkpoint match
/// again. Written every N entries, at shutdown, and at the end of an ingest, a study decision, a
/// round and a study.
/// </summary>
public sealed record AuditCheckpoint(long Seq, string HeadHash, string At, string Reason, string PublicKey, string Signature)
{
    private const string Domain = "ftwin-audit-checkpoint/1\n";

    /// <summary>The bytes a checkpoint's signature covers.</summary>
    public static byte[] Statement(long seq, string headHash, string at, string reason)
    {
        var body = JsonCanonicalizer.CanonicalString(new JsonObject { ["seq"] = seq, ["head_hash"] = headHash, ["at"] = at, ["reason"] = reason });
        return Encoding.UTF8.GetBytes(Domain + body);
    }

    public static AuditCheckpoint Sign(Ed25519Identity identity, AuditEntry head, DateTimeOffset at, string reason)
    {
        var when = AuditChain.Timestamp(at);
        var signature = identity.Sign(Statement(head.Seq, head.Hash, when, reason));
        return new AuditCheckpoint(head.Seq, head.Hash, when, reason, identity.PublicKey, Convert.ToBase64String(signature));
    }

    /// <summary>True when the signature verifies under <paramref name="publicKey"/> (base64 raw Ed25519), whatever key the row claims.</summary>
    public bool VerifySignature(string publicKey)
    {
        var signature = new byte[64];
        return Convert.TryFromBase64String(Signature, signature, out var written) && written == 64
            && Ed25519Identity.Verify(publicKey, Statement(Seq, HeadHash, At, Reason), signature);
    }
}

/// <summary>Why a checkpoint was written (stored and signed with it).</summary>
public static class CheckpointReasons
{
    public const string Interval = "interval";
    public const string Shutdown = "shutdown";
    public const string Ingest = "ingest";
    public const string StudyDecision = "study_decision";
    public const string Round = "round";
    public const string StudyEnd = "study_end";
    public const string Enrollment = "enrollment";
    public const string Roster = "roster";

    /// <summary>Around an identity key rotation: the old key signs the head just before the rotation entry, the new key the rotation entry.</summary>
    public const string KeyRotation = "key_rotation";
}
