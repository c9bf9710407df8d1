namespace FederatedTwin.Protocol.Federation;

/// <summary>The federation protocol's version. Every request and response carries it in a signed header.</summary>
public static class FederationProtocol
{
    /// <summary>
    /// Bumped on any incompatible change to a message or to the round flow. 2: commit-then-reveal rounds (five phases), contributions
    /// signed over new statements, the pinned federation roster, responses covering the request's signature (docs/protocol.md).
    /// 3: enrollment bound to keys (a MAC derived from the token instead of the token, <see cref="EnrollmentProof"/>) and the node's
    /// TLS client certificate fingerprint registered with it; rounds are as in 2.
    /// </summary>
    public const int Version = 3;

    public const string VersionHeader = "Ftwin-Protocol";

    public const string NonceHeader = "Ftwin-Nonce";

    /// <summary>
    /// The head of the sending node's audit chain ("seq=N;sha256=HEX", "seq=0" when empty), on every signed
    /// node request and covered by its signature: the coordinator keeps the heads it saw, so a node's trail
    /// truncated or rewritten afterwards no longer matches a head held outside the node.
    /// </summary>
    public const string AuditHeadHeader = "Ftwin-Audit-Head";

    /// <summary>The audit head's header as a covered signature component (RFC 9421 lower-cases field names).</summary>
    public const string AuditHeadComponent = "ftwin-audit-head";

    /// <summary>
    /// The query parameter of the work poll (GET /v1/node/work) that carries the node's data version: the store's published data
    /// version, an opaque counter that grows by one each time an ingest publishes (docs/privacy.md, "Data freshness"). Covered by
    /// the request's signature (RFC 9421 "@query"). Optional: a node that leaves it out (an older build) is "unknown", never "new".
    /// </summary>
    public const string DataVersionQuery = "data_version";

    public static string AuditHead(long seq, string? sha256) => seq == 0 || sha256 is null ? "seq=0" : $"seq={seq};sha256={sha256}";

    /// <summary>Reads an audit head header; null when malformed.</summary>
    public static (long Seq, string? Sha256)? ParseAuditHead(string? value)
    {
        if (value is null)
        {
            return null;
        }

        // A name given twice makes the head ambiguous: refused like any malformed head (ToDictionary threw on it; found by fuzzing).
        var pairs = value.Split(';').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToList();
        if (pairs.Select(p => p[0]).Distinct(StringComparer.Ordinal).Count() != pairs.Count)
        {
            return null;
        }

        var parts = pairs.ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("seq", out var seqText) || !long.TryParse(seqText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq))
        {
            return null;
        }

        var sha = parts.GetValueOrDefault("sha256");
        return seq == 0 ? (0, null) : sha is { Length: 64 } && sha.All(char.IsAsciiHexDigitLower) ? (seq, sha) : null;
    }

    /// <summary>Media type of the JSON bodies on the wire.</summary>
    public const string JsonMediaType = "application/json";

    /// <summary>Largest request body either service accepts (an encrypted update of ~100k values is ~6 MB in base64).</summary>
    public const long MaxRequestBodyBytes = 64L * 1024 * 1024;
}
