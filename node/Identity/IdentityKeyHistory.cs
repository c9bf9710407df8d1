using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Identity;

/// <summary>A retired identity key: which audit entries its checkpoints cover, when and by which key it was replaced.</summary>
public sealed record RetiredIdentityKey(string PublicKey, long AuditFromSeq, long AuditUntilSeq, string ReplacedBy, string RetiredAt)
{
    public string Fingerprint => KeyRotationStatement.Fingerprint(PublicKey);

    public IdentityKeySpan Span => new(PublicKey, AuditFromSeq, AuditUntilSeq);
}

/// <summary>
/// identity-keys.json in the node directory: the node's retired public keys, oldest first, so that the keys which
/// signed older checkpoints (and older contributions) stay known after their private halves are destroyed.
/// `ftwin audit verify` compares it with the rotations the audit trail records; it is rewritten from the trail after
/// each rotation, atomically.
/// </summary>
public static class IdentityKeyHistory
{
    public const string FileName = "identity-keys.json";
    private const string Format = "ftwin-identity-keys/1";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The retired keys the file lists, or null when the directory has no history file (no rotation yet).</summary>
    public static IReadOnlyList<RetiredIdentityKey>? Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            var root = JsonNode.Parse(File.ReadAllBytes(path))!.AsObject();
            if (root["format"]?.GetValue<string>() != Format)
            {
                throw new InvalidDataException($"{path} is not a {Format} file.");
            }

            return [.. root["retired"]!.AsArray().Select(k => new RetiredIdentityKey(
                k!["public_key"]!.GetValue<string>(),
                k["audit_from_seq"]!.GetValue<long>(),
                k["audit_until_seq"]!.GetValue<long>(),
                k["replaced_by"]!.GetValue<string>(),
                k["retired_at"]!.GetValue<string>()))];
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new InvalidDataException($"{path} is damaged ({e.Message}).", e);
        }
    }

    /// <summary>The retired keys as the trail records them (every span but the last, with the rotation that ended it).</summary>
    public static IReadOnlyList<RetiredIdentityKey> FromTrail(IReadOnlyList<AuditEntry> entries, string currentKey)
    {
        var (spans, _) = IdentityKeyChain.Read(entries, currentKey);
        var rotations = entries.Where(e => e.Action == AuditActions.IdentityKeyRotated).OrderBy(e => e.Seq).ToList();
        return [.. spans.Take(spans.Count - 1).Select((s, i) => new RetiredIdentityKey(s.PublicKey, s.FromSeq, s.UntilSeq!.Value, spans[i + 1].PublicKey, rotations[i].At))];
    }

    /// <summary>Rewrites the file (atomically, flushed) with these retired keys.</summary>
    public static void Write(string directory, string nodeId, IReadOnlyList<RetiredIdentityKey> retired)
    {
        var root = new JsonObject
        {
            ["format"] = Format,
            ["node_id"] = nodeId,
            ["retired"] = new JsonArray([.. retired.Select(k => (JsonNode)new JsonObject
            {
                ["public_key"] = k.PublicKey,
                ["sha256"] = k.Fingerprint,
                ["audit_from_seq"] = k.AuditFromSeq,
                ["audit_until_seq"] = k.AuditUntilSeq,
                ["replaced_by"] = k.ReplacedBy,
                ["retired_at"] = k.RetiredAt,
            })]),
        };
        DurableFile.Replace(Path.Combine(directory, FileName), JsonSerializer.SerializeToUtf8Bytes(root, Indented));
    }
}
