using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FederatedTwin.Protocol.Audit;

/// <summary>
/// The hash chain (docs/threat-model.md, "Audit trail"): entry n's hash is
/// SHA-256(canonical(entry n) ‖ hash of entry n − 1), with 32 zero bytes before entry 1. The
/// canonical form is the RFC 8785 serialization of a JSON object holding every column of the entry
/// but its own hash (the previous hash enters as the appended 32 bytes), with the detail as a nested
/// object, so no column can change without changing the hash. This is the integrity half of the audit
/// controls of 45 CFR 164.312(b); the signed checkpoints (<see cref="AuditCheckpoint"/>) are the other.
/// </summary>
public static class AuditChain
{
    public const string Format = "ftwin-audit/1";

    /// <summary>A signed checkpoint every this many entries, unless the chain's first entry says otherwise.</summary>
    public const int DefaultCheckpointInterval = 100;

    /// <summary>Largest canonical detail accepted (an entry is a record of what happened, not a data store).</summary>
    public const int MaxDetailBytes = 16 * 1024;

    /// <summary>The "previous hash" of entry 1: 32 zero bytes.</summary>
    public static readonly string GenesisHash = new('0', 64);

    /// <summary>An entry's time: UTC, ISO 8601 with milliseconds and Z (a FHIR instant).</summary>
    public static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset ParseTimestamp(string at) => DateTimeOffset.Parse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>The canonical (RFC 8785) bytes of every column of an entry except its hash.</summary>
    public static byte[] Canonical(AuditEntry entry)
    {
        JsonNode? detail;
        try
        {
            detail = JsonNode.Parse(entry.Detail);
        }
        catch (JsonException e)
        {
            throw new JsonCanonicalizationException($"Entry {entry.Seq}: detail is not JSON.", e);
        }

        var obj = new JsonObject
        {
            ["format"] = Format,
            ["seq"] = entry.Seq,
            ["at"] = entry.At,
            ["actor"] = entry.Actor,
            ["action"] = entry.Action,
            ["outcome"] = (int)entry.Outcome,
            ["study_id"] = entry.StudyId,
            ["purpose_of_use"] = entry.PurposeOfUse,
            ["detail"] = detail,
        };
        return JsonCanonicalizer.Canonicalize(obj);
    }

    /// <summary>SHA-256(canonical(entry) ‖ previous hash), lowercase hex.</summary>
    public static string ComputeHash(AuditEntry entry)
    {
        var canonical = Canonical(entry);
        var previous = Convert.FromHexString(entry.PrevHash);
        if (previous.Length != 32)
        {
            throw new JsonCanonicalizationException($"Entry {entry.Seq}: the previous hash is not 32 bytes.");
        }

        var input = new byte[canonical.Length + previous.Length];
        canonical.CopyTo(input, 0);
        previous.CopyTo(input, canonical.Length);
        return Convert.ToHexStringLower(SHA256.HashData(input));
    }

    /// <summary>Builds the next entry after <paramref name="prevHash"/>: the detail in canonical form, the hash computed.</summary>
    public static AuditEntry Seal(long seq, DateTimeOffset at, string actor, AuditRecord record, string prevHash)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(record.Action);
        var detail = JsonCanonicalizer.CanonicalString(record.Detail);
        if (System.Text.Encoding.UTF8.GetByteCount(detail) > MaxDetailBytes)
        {
            throw new ArgumentException($"The detail of audit action {record.Action} is over {MaxDetailBytes} bytes; record counts and codes, not data.", nameof(record));
        }

        var entry = new AuditEntry(seq, Timestamp(at), actor, record.Action, record.Outcome, record.StudyId, record.PurposeOfUse, detail, prevHash, string.Empty);
        return entry with { Hash = ComputeHash(entry) };
    }

    /// <summary>The chain's first entry: its format, checkpoint interval and the key its checkpoints are signed with.</summary>
    public static AuditRecord Genesis(string publicKey, int checkpointInterval) => new(
        AuditActions.AuditTrailStarted,
        AuditOutcome.Success,
        new JsonObject { ["format"] = Format, ["checkpoint_interval"] = checkpointInterval, ["public_key"] = publicKey });

    /// <summary>The checkpoint interval a chain declared in its first entry (the default when it declares none).</summary>
    public static int CheckpointInterval(AuditEntry? first)
    {
        if (first is null || first.Action != AuditActions.AuditTrailStarted)
        {
            return DefaultCheckpointInterval;
        }

        try
        {
            return JsonNode.Parse(first.Detail)?["checkpoint_interval"]?.GetValue<int>() is { } n and > 0 ? n : DefaultCheckpointInterval;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return DefaultCheckpointInterval;
        }
    }
}
