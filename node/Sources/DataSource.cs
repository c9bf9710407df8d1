namespace FederatedTwin.Node.Sources;

/// <summary>The systems a node pulls its data from (issue 22).</summary>
public enum SourceKind
{
    /// <summary>A FHIR server's Bulk Data export (HL7 Bulk Data Access IG v2.0.0) under SMART Backend Services authorization.</summary>
    FhirBulk,

    /// <summary>An OMOP CDM v5.4 database on PostgreSQL.</summary>
    Omop,
}

/// <summary>The export level of a Bulk Data kick-off (Bulk Data IG v2.0.0, "Endpoint").</summary>
public enum ExportLevel
{
    System,
    Patient,
    Group,
}

/// <summary>
/// A data source as the node's configuration keeps it (<c>node-config.json</c>, "sources"): what to pull and how often. Never holds a
/// secret: the SMART client key is sealed in the node directory, an OMOP password comes from the environment or a PostgreSQL
/// password file. <see cref="Every"/> null: pulled only by hand (<c>ftwin node pull --source NAME</c>).
/// </summary>
public sealed record DataSource(
    string Name,
    SourceKind Kind,
    string? FhirBase = null,
    string? ClientId = null,
    string? Group = null,
    IReadOnlyList<string>? Types = null,
    string? TypeFilter = null,
    string? OmopConnection = null,
    string? OmopSchema = null,
    TimeSpan? Every = null,
    bool PatientLevel = false)
{
    /// <summary>
    /// The Bulk Data export level this source asks for: Group when it names one, else Patient when asked (every patient's
    /// compartment: what a server that offers no system-level export gives), else System.
    /// </summary>
    public ExportLevel Level => Group is not null ? ExportLevel.Group : PatientLevel ? ExportLevel.Patient : ExportLevel.System;

    /// <summary>
    /// The key its watermark is stored under: the name of a named source, otherwise (a one-off <c>ftwin node pull</c>) what makes
    /// two pulls the same export: base URL, client id, level, group and types (issue 22), or connection host/database and schema.
    /// </summary>
    public string WatermarkKey => Name.Length > 0 ? "source:" + Name : Kind switch
    {
        SourceKind.FhirBulk => string.Join('|', "fhir", FhirBase?.TrimEnd('/'), ClientId, Level, Group, string.Join(',', (Types ?? []).Order(StringComparer.Ordinal)), TypeFilter),
        _ => string.Join('|', "omop", OmopConnection, OmopSchema),
    };
}

/// <summary>What one pull did: the ingest's counts, the export's transaction time (the next `--since last`), and how it went.</summary>
public sealed record PullSummary(
    int Files,
    long LinesRead,
    long Accepted,
    long Quarantined,
    string? TransactionTime,
    string? Since,
    int Retries,
    double Seconds)
{
    /// <summary>Resources the source reported deleted and the node removed.</summary>
    public long Deleted { get; init; }

    /// <summary>Error files (OperationOutcome) of the export: counts by issue severity and code, never their text.</summary>
    public IReadOnlyDictionary<string, long> ExportErrors { get; init; } = new Dictionary<string, long>();

    /// <summary>Bytes downloaded (after decompression).</summary>
    public long Bytes { get; init; }

    /// <summary>Whether every file was read to its end (the watermark advances only then).</summary>
    public bool Complete { get; init; } = true;

    /// <summary>The object `ftwin node pull --json` prints (issue 22's keys first).</summary>
    public Dictionary<string, object?> ToJson() => new()
    {
        ["files"] = Files,
        ["lines_read"] = LinesRead,
        ["accepted"] = Accepted,
        ["quarantined"] = Quarantined,
        ["transaction_time"] = TransactionTime,
        ["since"] = Since,
        ["retries"] = Retries,
        ["seconds"] = Math.Round(Seconds, 3),
        ["deleted"] = Deleted,
        ["export_errors"] = ExportErrors,
        ["bytes"] = Bytes,
        ["complete"] = Complete,
    };
}

/// <summary>How one pull runs: since when (null: everything), and where progress goes.</summary>
public sealed record PullOptions(DateTimeOffset? Since, IProgress<PullProgress>? Progress = null);

/// <summary>Progress for the CLI's display: the phase ("discovery", "token", "kick-off", "waiting", "downloading", "ingesting"), files done of files known, bytes, the server's X-Progress text.</summary>
public readonly record struct PullProgress(string Phase, int FilesDone, int FilesTotal, long Bytes, string? ServerProgress);

/// <summary>
/// Pulls one kind of source into the node's store through the ingest (<see cref="Ingest.IngestPipeline.Run(IEnumerable{Ingest.IngestInput}, IReadOnlyList{Ingest.DeletedResource}, Action{long, long}?, CancellationToken)"/>):
/// the Bulk Data client, the OMOP reader. It audits the pull and records the watermark (<see cref="Storage.SourceQueries"/>) only
/// when the pull succeeded.
/// </summary>
public interface ISourcePuller
{
    SourceKind Kind { get; }

    Task<PullSummary> PullAsync(NodeDirectory node, DataSource source, PullOptions options, CancellationToken cancellationToken);
}

/// <summary>
/// The bearer token a Bulk Data server wants (SMART App Launch v2, Backend Services): obtained once and reused until shortly before
/// it expires; <paramref name="refresh"/> true when the server refused the last one (401), which is then not reused.
/// </summary>
public interface IAccessTokenSource
{
    ValueTask<string> GetAsync(bool refresh, CancellationToken cancellationToken);
}
