using System.Diagnostics;
using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using FederatedTwin.Protocol.Audit;
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

/// <summary>A line after the parallel stage: parsed, and its keyed hashes computed (the writer only writes).</summary>
internal readonly record struct ParsedLine(SourceLine Line, ClinicalRecord? Record, QuarantineReason? Reason, string? ContentHash, string? ResourceKey, string? Pseudonym, string? LineHmac);

/// <summary>
/// FHIR in, de-identified facts out. Lines are read in order and handed in batches to a parallel
/// stage that parses them (fast path for the hot types, Firely for the rest) and computes their keyed
/// hashes; a single writer then stores each batch in order, so the result does not depend on the
/// number of cores. A line is either quarantined (position, keyed hash and reason; never its content)
/// or reduced at the door to what the features need, under pseudonyms and years. Batches are committed
/// one transaction each; a resource already stored with the same content is skipped, so a re-run (or a
/// run after a kill -9) ends in the same state. Patients whose facts changed get their consent states
/// rebuilt at the end.
/// </summary>
public sealed class IngestPipeline(NodeDirectory node, int cores = 0)
{
    private const int BatchLines = 8192;
    private readonly System.Collections.Concurrent.ConcurrentBag<LineParser> _parsers = [];

    /// <summary>The cores the parallel stage uses (0 = all).</summary>
    public int Cores { get; } = cores <= 0 ? Environment.ProcessorCount : cores;

    /// <summary>Hot types go through the fast path; everything else, and anything it hands back, through Firely.</summary>
    public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> line)
    {
        var parser = Rent();
        try
        {
            return parser.Parse(line);
        }
        finally
        {
            _parsers.Add(parser);
        }
    }

    /// <summary>Parsers keep their model caches between batches, so they are pooled rather than made per batch.</summary>
    private LineParser Rent() => _parsers.TryTake(out var parser) ? parser : new LineParser();

    public IngestSummary Run(string path, Action<long, long>? progress = null)
    {
        var pseudonyms = node.Pseudonymizer;
        var files = IngestSources.Files(path);
        var started = Stopwatch.StartNew();
        var policy = ValidPolicy();
        PruneQuarantine(policy);
        var runId = node.Store.Write((c, t) => c.ExecuteScalar<long>("INSERT INTO ingest_runs(started_at) VALUES (@now); SELECT last_insert_rowid();", new { now = DateTimeOffset.UtcNow.ToString("O") }, t));
        long read = 0, accepted = 0, quarantined = 0, unchanged = 0, bytes = 0;
        var perType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var reasons = new SortedDictionary<string, long>(StringComparer.Ordinal);
        int updated;
        try
        {
            using var connection = node.Store.OpenForBulkWrite();
            // Without a valid policy, only the built-in sensitive lists apply; studies then refuse the data until a re-ingest under the policy's lists.
            using var writer = new IngestWriter(connection, policy?.SensitiveCodes, policy?.SensitiveCodesFingerprint);

            void Write(ParsedLine[] batch)
            {
                using var transaction = connection.BeginTransaction();
                foreach (var parsed in batch)
                {
                    read++;
                    bytes += parsed.Line.Bytes.Length + 1;
                    if (parsed.Record is not { } record)
                    {
                        quarantined++;
                        reasons[parsed.Reason!.Code] = reasons.GetValueOrDefault(parsed.Reason.Code) + 1;
                        writer.Quarantine(parsed.Line, parsed.LineHmac!, parsed.Reason);
                        continue;
                    }

                    accepted++;
                    perType[record.Type] = perType.GetValueOrDefault(record.Type) + 1;
                    if (!writer.Store(record, parsed.ResourceKey!, parsed.Pseudonym, parsed.ContentHash!))
                    {
                        unchanged++;
                    }
                }

                writer.Flush();
                transaction.Commit();
                progress?.Invoke(read, bytes);
            }

            // Parse batch k+1 while batch k is written: the writer is the one serial stage.
            Task<ParsedLine[]>? pending = null;
            foreach (var batch in Batches(files))
            {
                var next = Task.Run(() => ParseBatch(batch, pseudonyms));
                if (pending is not null)
                {
                    Write(pending.GetAwaiter().GetResult());
                }

                pending = next;
            }

            if (pending is not null)
            {
                Write(pending.GetAwaiter().GetResult());
            }

            updated = new FeatureBuilder(node.Store).RebuildDirty();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // 45 CFR 164.312(b): a failed run is audited too, with how far it got (a re-run resumes it).
            RecordFailure(runId, read, accepted, quarantined, e);
            throw;
        }

        var summary = new IngestSummary(read, accepted, quarantined, unchanged, perType, reasons, bytes, started.Elapsed.TotalSeconds, updated);
        var features = new FeatureBuilder(node.Store);
        var sensitive = features.SensitiveExclusions();
        var consentDenied = features.ConsentDenials();
        node.Store.Write((c, t) =>
        {
            c.Execute("""
                UPDATE ingest_runs SET finished_at=@now, lines_read=@read, accepted=@accepted, quarantined=@quarantined, unchanged=@unchanged, per_type_json=@types, seconds=@seconds WHERE run_id=@runId
                """, new { now = DateTimeOffset.UtcNow.ToString("O"), read, accepted, quarantined, unchanged, types = JsonSerializer.Serialize(perType), seconds = summary.Seconds, runId }, t);
            // The run, and the consent and sensitivity exclusions it leaves in the store (counts only), with a signed checkpoint.
            node.Audit.Append(c, t, NodeAuditRecords.IngestRun(runId, files.Count, summary, policy?.SensitiveCodesFingerprint));
            node.Audit.Append(c, t, NodeAuditRecords.Exclusions(runId, sensitive, consentDenied));
            node.Audit.Checkpoint(c, t, CheckpointReasons.Ingest);
            return 0;
        });
        node.Store.Event("ingest", null, $"{read} lines read, {accepted} accepted ({unchanged} unchanged), {quarantined} quarantined, {updated} patients' features rebuilt");
        return summary;
    }

    private void RecordFailure(long runId, long read, long accepted, long quarantined, Exception error)
    {
        try
        {
            node.Audit.Append(NodeAuditRecords.IngestFailed(runId, read, accepted, quarantined, error));
        }
        catch (SqliteException)
        {
            // The store itself failed: the original error is the one to report.
        }
    }

    /// <summary>
    /// Quarantine records older than the site policy's retention (default six years, 45 CFR 164.316(b)(2)) are
    /// deleted, and the deletion is audited with its count. The audit trail itself is never pruned by the node.
    /// Without a valid policy nothing is pruned (when unsure, keep).
    /// </summary>
    private void PruneQuarantine(Policy.SitePolicy? policy)
    {
        if (policy is null)
        {
            return;
        }

        var years = policy.RetentionYears;
        var cutoff = DateTimeOffset.UtcNow.AddYears(-years).ToString("O");
        node.Store.Write((c, t) =>
        {
            var pruned = c.Execute("DELETE FROM quarantine WHERE quarantined_at < @cutoff", new { cutoff }, t);
            if (pruned > 0)
            {
                node.Audit.Append(c, t, Audit.NodeAuditRecords.RecordsPruned("quarantine", pruned, cutoff, years));
            }

            return pruned;
        });
    }

    /// <summary>The site policy, or null when it is invalid (its rejection is audited by the load).</summary>
    private Policy.SitePolicy? ValidPolicy()
    {
        try
        {
            return node.LoadPolicy();
        }
        catch (Policy.SitePolicyException)
        {
            return null;
        }
    }

    private static IEnumerable<SourceLine[]> Batches(IReadOnlyList<string> files)
    {
        var batch = new List<SourceLine>(BatchLines);
        foreach (var file in files)
        {
            var sourceHash = IngestSources.ContentHash(file);
            foreach (var line in IngestSources.Read(file, sourceHash))
            {
                batch.Add(line);
                if (batch.Count == BatchLines)
                {
                    yield return [.. batch];
                    batch.Clear();
                }
            }
        }

        if (batch.Count > 0)
        {
            yield return [.. batch];
        }
    }

    private ParsedLine[] ParseBatch(SourceLine[] lines, Deidentification.Pseudonymizer pseudonyms)
    {
        var parsed = new ParsedLine[lines.Length];
        Parallel.For(0, lines.Length, new ParallelOptions { MaxDegreeOfParallelism = Cores }, Rent, (i, _, parser) =>
        {
            var line = lines[i];
            var (record, reason) = line.Oversized ? (null, QuarantineReason.Oversized) : parser.Parse(line.Bytes.Span);
            parsed[i] = record is null
                ? new ParsedLine(line, null, reason, null, null, null, pseudonyms.Line(line.Bytes.Span))
                : new ParsedLine(line, record, null, pseudonyms.Content(line.Bytes.Span), pseudonyms.Resource(record.Type, record.Id), record.PatientId is null ? null : pseudonyms.Patient(record.PatientId), null);
            return parser;
        }, _parsers.Add);
        return parsed;
    }

    /// <summary>One thread's parsers (neither is thread-safe).</summary>
    private sealed class LineParser
    {
        private readonly FhirRecordParser _parser = new();
        private readonly FastFhirParser _fast = new();

        public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> line)
        {
            var (record, reason, handled) = _fast.Parse(line);
            return handled ? (record, reason) : _parser.Parse(line);
        }
    }
}
