using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Protocol.Audit;

/// <summary>
/// One identity key's span in an audit chain: a checkpoint of entry <see cref="FromSeq"/> to <see cref="UntilSeq"/>
/// (inclusive; null: to the end) is valid only under this key.
/// </summary>
public sealed record IdentityKeySpan(string PublicKey, long FromSeq, long? UntilSeq)
{
    public bool Covers(long seq) => seq >= FromSeq && (UntilSeq is null || seq <= UntilSeq);

    public override string ToString() => UntilSeq is { } until ? $"{PublicKey} (seq {FromSeq}–{until})" : $"{PublicKey} (seq {FromSeq}–)";
}

/// <summary>
/// Which key signed a service's chain when (docs/threat-model.md, "Audit trail"): the key the chain starts with
/// (its identity_key_created entry, else the key its first entry names), replaced at each identity_key_rotated
/// entry by the key that entry names. The rotation entry is the first entry of the new key's span: the old key
/// signs the checkpoint just before it, the new key the checkpoint of the rotation entry itself, and a checkpoint
/// the old key signs at or after the rotation entry is invalid (the key may have been retired because it leaked).
/// Each rotation entry carries both keys' signatures over the <see cref="KeyRotationStatement"/> the coordinator
/// accepted, so nobody without the old key can splice a handover to a key of their own into the chain.
/// </summary>
public static class IdentityKeyChain
{
    public const string NodeIdField = "node_id";
    public const string OldKeyField = "old_public_key";
    public const string NewKeyField = "new_public_key";
    public const string OldSignatureField = "old_key_signature";
    public const string NewSignatureField = "new_key_signature";

    /// <summary>
    /// The spans of a chain and what is wrong with its rotation entries. A chain without rotations has one span under
    /// <paramref name="serviceKey"/> (the key given to the verifier), as before rotations existed.
    /// </summary>
    public static (IReadOnlyList<IdentityKeySpan> Spans, IReadOnlyList<AuditProblem> Problems) Read(IReadOnlyList<AuditEntry> entries, string serviceKey)
    {
        var rotations = entries.Where(e => e.Action == AuditActions.IdentityKeyRotated).OrderBy(e => e.Seq).ToList(); // a reordered chain is the chain walk's finding
        if (rotations.Count == 0)
        {
            return ([new IdentityKeySpan(serviceKey, 1, null)], []);
        }

        var problems = new List<AuditProblem>();
        var current = InitialKey(entries) ?? serviceKey;
        var spans = new List<IdentityKeySpan>();
        long from = 1;
        foreach (var rotation in rotations)
        {
            var (old, next, why) = ReadRotation(rotation);
            if (why is not null)
            {
                problems.Add(new AuditProblem(AuditProblemKind.KeyRotationInvalid, rotation.Seq, $"the key rotation at entry {rotation.Seq} (recorded {rotation.At}) {why}"));
            }
            else if (old != current)
            {
                problems.Add(new AuditProblem(AuditProblemKind.KeyRotationInvalid, rotation.Seq,
                    $"the key rotation at entry {rotation.Seq} (recorded {rotation.At}) replaces key {old}, but the identity key at that point of the chain was {current}"));
            }

            spans.Add(new IdentityKeySpan(current, from, rotation.Seq - 1));
            current = next ?? current;
            from = rotation.Seq;
        }

        spans.Add(new IdentityKeySpan(current, from, null));
        return (spans, problems);
    }

    /// <summary>
    /// The detail of an accepted key rotation as both sides record it (the node's identity_key_rotated, which
    /// <see cref="Read"/> checks, and the coordinator's node_key_rotated): the node, both keys with their fingerprints,
    /// and both keys' signatures over the <see cref="KeyRotationStatement"/>. A side adds its own fields after these.
    /// </summary>
    public static JsonObject RotationDetail(string nodeId, string oldPublicKey, string newPublicKey, byte[] oldKeySignature, byte[] newKeySignature) => new()
    {
        [NodeIdField] = nodeId,
        [OldKeyField] = oldPublicKey,
        [NewKeyField] = newPublicKey,
        ["old_key_sha256"] = KeyRotationStatement.Fingerprint(oldPublicKey),
        ["new_key_sha256"] = KeyRotationStatement.Fingerprint(newPublicKey),
        [OldSignatureField] = Convert.ToBase64String(oldKeySignature),
        [NewSignatureField] = Convert.ToBase64String(newKeySignature),
    };

    /// <summary>
    /// The detail of a refused key rotation as both sides record it (the coordinator refusing it, the node told so):
    /// the keys by fingerprint only ("invalid" for text that is no key), the HTTP status answered and why.
    /// </summary>
    public static JsonObject RotationRefusalDetail(string nodeId, string? oldPublicKey, string? newPublicKey, int status, string reason) => new()
    {
        [NodeIdField] = nodeId,
        ["old_key_sha256"] = KeyRotationStatement.Fingerprint(oldPublicKey),
        ["new_key_sha256"] = KeyRotationStatement.Fingerprint(newPublicKey),
        ["status"] = status,
        ["reason"] = AuditRecord.Text(reason),
    };

    /// <summary>The identity key a chain names as current: the last rotation's new key, else its initial key; null for an empty chain.</summary>
    public static string? CurrentKey(IReadOnlyList<AuditEntry> entries)
    {
        var last = entries.LastOrDefault(e => e.Action == AuditActions.IdentityKeyRotated);
        return last is not null ? ReadRotation(last).New : InitialKey(entries);
    }

    /// <summary>The new key a rotation entry's detail names (null when it names none), for callers that read one entry.</summary>
    public static string? NewKey(string detail)
    {
        try
        {
            return JsonNode.Parse(detail)?[NewKeyField]?.GetValue<string>();
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    private static string? InitialKey(IReadOnlyList<AuditEntry> entries)
    {
        var created = entries.FirstOrDefault(e => e.Action == AuditActions.IdentityKeyCreated) ?? entries.FirstOrDefault(e => e.Action == AuditActions.AuditTrailStarted);
        return created is null ? null : StringField(created.Detail, "public_key");
    }

    private static (string? Old, string? New, string? Why) ReadRotation(AuditEntry rotation)
    {
        JsonObject? detail;
        try
        {
            detail = JsonNode.Parse(rotation.Detail) as JsonObject;
        }
        catch (JsonException)
        {
            detail = null;
        }

        var node = Text(detail, NodeIdField);
        var old = Text(detail, OldKeyField);
        var next = Text(detail, NewKeyField);
        var oldSignature = Bytes(Text(detail, OldSignatureField));
        var newSignature = Bytes(Text(detail, NewSignatureField));
        if (node is null || !KeyRotationStatement.IsPublicKey(old) || !KeyRotationStatement.IsPublicKey(next))
        {
            return (old, KeyRotationStatement.IsPublicKey(next) ? next : null, "does not name a node and its old and new keys");
        }

        if (oldSignature is null || newSignature is null || !KeyRotationStatement.Verify(new NodeId(node), old!, next!, oldSignature, newSignature))
        {
            return (old, next, "does not carry valid signatures of both keys over the rotation statement: it was not written by a holder of both keys");
        }

        return (old, next, null);
    }

    private static string? Text(JsonObject? detail, string field) =>
        detail?[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static string? StringField(string detail, string field)
    {
        try
        {
            return Text(JsonNode.Parse(detail) as JsonObject, field);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static byte[]? Bytes(string? base64)
    {
        if (base64 is null)
        {
            return null;
        }

        var buffer = new byte[64];
        return Convert.TryFromBase64String(base64, buffer, out var written) && written == 64 ? buffer : null;
    }
}
