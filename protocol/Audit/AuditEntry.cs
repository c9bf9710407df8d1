using System.Text.Json.Nodes;

namespace FederatedTwin.Protocol.Audit;

/// <summary>
/// Whether the audited action succeeded, with the codes of FHIR R4 AuditEvent.outcome
/// (http://hl7.org/fhir/audit-event-outcome). A request refused by a rule (a study the policy does not
/// allow, a decryption share a check refuses) is a minor failure: the operation was not performed,
/// as intended. An authentication or integrity failure is serious.
/// </summary>
public enum AuditOutcome
{
    Success = 0,
    MinorFailure = 4,
    SeriousFailure = 8,
    MajorFailure = 12,
}

/// <summary>
/// What a service asks its audit trail to record: the action, its outcome, the study and purpose of
/// use when there is one, and a detail object of counts, codes, digests and rule names. The detail
/// never holds a patient's identity (not even a pseudonym) or a value from source data.
/// </summary>
public sealed record AuditRecord(string Action, AuditOutcome Outcome, JsonObject Detail, string? StudyId = null, string? PurposeOfUse = null)
{
    /// <summary>Free text (a refusal reason, an error) cut to a bounded length, so one entry cannot grow without limit.</summary>
    public static string Text(string? value, int max = 500) =>
        value is null ? string.Empty : value.Length <= max ? value : value[..max] + "…";

    /// <summary>Counts by code (quarantine reasons, excluded categories) as a JSON object.</summary>
    public static JsonObject Counts(IEnumerable<KeyValuePair<string, long>> counts)
    {
        var obj = new JsonObject();
        foreach (var (code, n) in counts)
        {
            obj[code] = n;
        }

        return obj;
    }

    /// <summary>Codes (node ids, digests) as a JSON array.</summary>
    public static JsonArray Codes(IEnumerable<string> codes) => new([.. codes.Select(c => (JsonNode)JsonValue.Create(c))]);
}

/// <summary>
/// One entry of an audit chain, as stored in the audit_log table: every column. <see cref="Hash"/> is
/// SHA-256(canonical(entry) ‖ <see cref="PrevHash"/>), where the canonical form covers every other
/// column (<see cref="AuditChain.Canonical"/>), and <see cref="PrevHash"/> is the hash of entry
/// seq − 1 (32 zero bytes for seq 1). Hashes are lowercase hex.
/// </summary>
public sealed record AuditEntry(
    long Seq,
    string At,
    string Actor,
    string Action,
    AuditOutcome Outcome,
    string? StudyId,
    string? PurposeOfUse,
    string Detail,
    string PrevHash,
    string Hash);
