using System.Diagnostics;
using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>What one ingest run did. accepted + quarantined = lines_read, always.</summary>
public sealed record IngestSummary(long LinesRead, long Accepted, long Quarantined, long Unchanged, IReadOnlyDictionary<string, long> PerType, IReadOnlyDictionary<string, long> QuarantineReasons, long Bytes, double Seconds, int PatientsUpdated)
{
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
    };
}

/// <summary>
/// FHIR in, de-identified facts out. Each line is parsed (Firely), and either quarantined (position,
/// keyed hash and reason; never its content) or reduced at the door to what the features need,
/// under pseudonyms and years. Lines are committed in batches; a resource already stored with the same
/// content is skipped, so a re-run (or a run after a kill -9) ends in the same state. Patients whose
/// facts changed get their features and consent states rebuilt at the end.
/// </summary>
public sealed class IngestPipeline(NodeDirectory node)
{
    private const int BatchLines = 2000;
    private readonly FhirRecordParser _parser = new();
    private readonly FastFhirParser _fast = new();

    /// <summary>Hot types go through the fast path; everything else, and anything it hands back, through Firely.</summary>
    public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> line)
    {
        var (record, reason, handled) = _fast.Parse(line);
        return handled ? (record, reason) : _parser.Parse(line);
    }

    public IngestSummary Run(string path, Action<long, long>? progress = null)
    {
        var pseudonyms = node.Pseudonymizer;
        var files = IngestSources.Files(path);
        var started = Stopwatch.StartNew();
        var runId = node.Store.Write((c, t) => c.ExecuteScalar<long>("INSERT INTO ingest_runs(started_at) VALUES (@now); SELECT last_insert_rowid();", new { now = DateTimeOffset.UtcNow.ToString("O") }, t));
        long read = 0, accepted = 0, quarantined = 0, unchanged = 0, bytes = 0;
        var perType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var reasons = new SortedDictionary<string, long>(StringComparer.Ordinal);
        using var connection = node.Store.Open();
        var transaction = connection.BeginTransaction();
        var writer = new IngestWriter(connection, pseudonyms);
        writer.Begin(transaction);
        var inBatch = 0;
        try
        {
            foreach (var file in files)
            {
                var sourceHash = IngestSources.ContentHash(file);
                foreach (var line in IngestSources.Read(file, sourceHash))
                {
                    read++;
                    bytes += line.Bytes.Length + 1;
                    var (record, reason) = line.Oversized ? (null, QuarantineReason.Oversized) : Parse(line.Bytes.Span);
                    if (record is null)
                    {
                        quarantined++;
                        reasons[reason!.Code] = reasons.GetValueOrDefault(reason.Code) + 1;
                        writer.Quarantine(line, reason);
                    }
                    else
                    {
                        accepted++;
                        perType[record.Type] = perType.GetValueOrDefault(record.Type) + 1;
                        if (!writer.Store(record, pseudonyms.Content(line.Bytes.Span)))
                        {
                            unchanged++;
                        }
                    }

                    if (++inBatch >= BatchLines)
                    {
                        writer.Flush();
                        transaction.Commit();
                        transaction.Dispose();
                        transaction = connection.BeginTransaction();
                        writer.Begin(transaction);
                        inBatch = 0;
                        progress?.Invoke(read, bytes);
                    }
                }
            }

            writer.Flush();
            transaction.Commit();
        }
        finally
        {
            transaction.Dispose();
        }

        var updated = new FeatureBuilder(node.Store).RebuildDirty();
        var summary = new IngestSummary(read, accepted, quarantined, unchanged, perType, reasons, bytes, started.Elapsed.TotalSeconds, updated);
        node.Store.Write((c, t) => c.Execute("""
            UPDATE ingest_runs SET finished_at=@now, lines_read=@read, accepted=@accepted, quarantined=@quarantined, unchanged=@unchanged, per_type_json=@types, seconds=@seconds WHERE run_id=@runId
            """, new { now = DateTimeOffset.UtcNow.ToString("O"), read, accepted, quarantined, unchanged, types = JsonSerializer.Serialize(perType), seconds = summary.Seconds, runId }, t));
        node.Store.Event("ingest", null, $"{read} lines read, {accepted} accepted ({unchanged} unchanged), {quarantined} quarantined, {updated} patients' features rebuilt");
        return summary;
    }
}
