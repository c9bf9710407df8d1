namespace FederatedTwin.Node.Ingest;

/// <summary>What one ingest run did. accepted + quarantined = lines_read, always.</summary>
public sealed record IngestSummary(long LinesRead, long Accepted, long Quarantined, long Unchanged, IReadOnlyDictionary<string, long> PerType, IReadOnlyDictionary<string, long> QuarantineReasons, long Bytes, double Seconds, int PatientsUpdated)
{
    /// <summary>Data files opened and read (to their end or to a failure).</summary>
    public int FilesRead { get; init; }

    /// <summary>Data files not read, or not read to their end, each by its content hash (or keyed path hash) and why.</summary>
    public IReadOnlyList<FailedFile> FailedFiles { get; init; } = [];

    /// <summary>Quarantined lines counted but not stored: beyond the per-file or per-run cap (<see cref="IngestLimits"/>).</summary>
    public long QuarantineNotStored { get; init; }

    /// <summary>Resources the source reported deleted that the node removed (<see cref="IngestPipeline.Run(IEnumerable{IngestInput}, IReadOnlyList{DeletedResource}, Action{long, long}?, CancellationToken)"/>).</summary>
    public long Deleted { get; init; }

    /// <summary>Deletions of resources the node does not hold (never stored, already removed, or given again by the same run): not an error.</summary>
    public long DeletedNotFound { get; init; }

    /// <summary>Every data file read to its end and every quarantined line stored: `ftwin node ingest` exits 0 only then (3 otherwise).</summary>
    public bool Complete => FailedFiles.Count == 0 && QuarantineNotStored == 0;

    /// <summary>The summary as `ftwin node ingest --json` and the node's admin API print it.</summary>
    public Dictionary<string, object> ToJson(int skippedFiles) => new()
    {
        ["lines_read"] = LinesRead,
        ["accepted"] = Accepted,
        ["quarantined"] = Quarantined,
        ["unchanged"] = Unchanged,
        ["per_type"] = PerType,
        ["quarantine_reasons"] = QuarantineReasons,
        ["patients_updated"] = PatientsUpdated,
        ["skipped_files"] = skippedFiles,
        ["bytes"] = Bytes,
        ["seconds"] = Math.Round(Seconds, 3),
        ["complete"] = Complete,
        ["files_read"] = FilesRead,
        ["failed_files"] = FailedFiles.Select(f => new Dictionary<string, object> { ["source"] = f.Source, ["reason_code"] = f.Code, ["reason"] = f.Reason, ["lines_read"] = f.LinesRead }).ToList(),
        ["quarantine_stored"] = Quarantined - QuarantineNotStored,
        ["quarantine_not_stored"] = QuarantineNotStored,
        ["deleted"] = Deleted,
        ["deleted_not_found"] = DeletedNotFound,
    };
}

/// <summary>
/// Caps on what one run stores of its quarantine: past them, bad lines are counted (by reason) but not stored, and the
/// run is marked incomplete. Without caps, a 5,865-byte .ndjson.gz of 2,000,000 "{}" lines wrote 2 million rows (a
/// 468 MB store) in 6 seconds.
/// </summary>
public sealed record IngestLimits(int QuarantinePerFile = IngestLimits.DefaultQuarantinePerFile, int QuarantinePerRun = IngestLimits.DefaultQuarantinePerRun)
{
    public const int DefaultQuarantinePerFile = 10_000;
    public const int DefaultQuarantinePerRun = 100_000;

    public static IngestLimits Default { get; } = new();
}
