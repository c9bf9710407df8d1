namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>
/// One Bulk Data export as the kick-off asks for it (HL7 Bulk Data Access IG v2.0.0, "Bulk Data Kick-off Request"): the FHIR
/// base, the level (system, Patient or Group), the resource types, the type filter and `_since`.
/// </summary>
public sealed record BulkExportRequest(
    Uri FhirBase,
    ExportLevel Level,
    string? Group = null,
    IReadOnlyList<string>? Types = null,
    string? TypeFilter = null,
    DateTimeOffset? Since = null)
{
    /// <summary>The kick-off URL: `{base}/$export`, `{base}/Patient/$export` or `{base}/Group/{id}/$export` with its query parameters.</summary>
    public Uri KickOffUrl()
    {
        var root = FhirBase.AbsoluteUri.EndsWith('/') ? FhirBase.AbsoluteUri : FhirBase.AbsoluteUri + "/";
        var path = Level switch
        {
            ExportLevel.System => "$export",
            ExportLevel.Patient => "Patient/$export",
            _ => "Group/" + Uri.EscapeDataString(Group ?? throw new ArgumentException("A Group export needs the group's id.")) + "/$export",
        };

        // The IG's one required output format; a server may refuse others (Kick-off, "_outputFormat").
        var query = new List<string> { "_outputFormat=" + Uri.EscapeDataString("application/fhir+ndjson") };
        if (Types is { Count: > 0 })
        {
            query.Add("_type=" + Uri.EscapeDataString(string.Join(',', Types)));
        }

        if (Since is { } since)
        {
            query.Add("_since=" + Uri.EscapeDataString(FhirInstant(since)));
        }

        if (!string.IsNullOrEmpty(TypeFilter))
        {
            query.Add("_typeFilter=" + Uri.EscapeDataString(TypeFilter));
        }

        return new Uri(root + path + "?" + string.Join('&', query));
    }

    /// <summary>A FHIR instant (R4 datatypes, "instant"): UTC, seconds always, the fraction only as long as it needs.</summary>
    public static string FhirInstant(DateTimeOffset t) =>
        t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture) + "Z";
}

/// <summary>
/// How the client behaves: retry bounds and delays, download parallelism and buffering, and whether downloads are also saved
/// (<see cref="SaveTo"/>: off by default; the files hold PHI as the EHR exported it).
/// </summary>
public sealed record BulkClientOptions
{
    /// <summary>Retries of one request (kick-off, a status poll, a file) after a 429, a 503, a transient 5xx or a broken connection.</summary>
    public int MaxRetries { get; init; } = 8;

    /// <summary>The first wait between status polls when the server sends no Retry-After; multiplied by <see cref="BackoffFactor"/> up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    public double BackoffFactor { get; init; } = 1.5;

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>A server's Retry-After is honoured up to this (a larger one is clamped: a broken or hostile value must not park the pull for days).</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long the export may stay "in progress" before the pull gives up (and cancels it).</summary>
    public TimeSpan MaxExportWait { get; init; } = TimeSpan.FromHours(12);

    /// <summary>Files downloaded at once.</summary>
    public int ParallelDownloads { get; init; } = 4;

    /// <summary>Bytes buffered per file between its download and the ingest before the download waits (the pipe's pause threshold).</summary>
    public long BufferBytesPerFile { get; init; } = 4L << 20;

    /// <summary>The wait for the best-effort DELETE that cancels an export.</summary>
    public TimeSpan CancelTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Largest manifest, status or error body read (bytes); a larger one is refused rather than buffered.</summary>
    public int MaxBodyBytes { get; init; } = 16 << 20;

    /// <summary>Largest `error` or `deleted` file read (bytes, after decompression).</summary>
    public long MaxSideFileBytes { get; init; } = 256L << 20;

    /// <summary>
    /// A folder each downloaded file is also written to (owner-only), for a hospital that wants a copy. Null (the default): nothing
    /// is written to disk. The files are the EHR's export as it came: they hold PHI.
    /// </summary>
    public string? SaveTo { get; init; }
}
