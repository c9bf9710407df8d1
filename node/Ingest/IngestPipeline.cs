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

/// <summary>A line after the parallel stage: parsed, keyed, reduced to its stored entry (the writer only writes).</summary>
internal readonly record struct ParsedLine(SourceLine Line, string? Type, QuarantineReason? Reason, string? LineHmac, GroupKey Group, byte[]? Entry);

/// <summary>
/// FHIR in, de-identified facts out. Lines are read in order and handed in batches to a parallel
/// stage that parses them (fast path for the hot types, Firely for the rest) and computes their keyed
/// hashes; a single writer then stores each batch in order, so the result does not depend on the
/// number of cores. A line is either quarantined (position, keyed hash and reason; never its content)
/// or reduced at the door to what the features need, under pseudonyms and years. Batches are staged
/// one transaction each and merged into one row per patient at the end (<see cref="FactMaterializer"/>);
/// a resource already stored with the same content is recognized, so a re-run (or a run after a kill -9)
/// ends in the same state. Patients whose consents changed get their consent states rebuilt.
/// </summary>
public sealed class IngestPipeline(NodeDirectory node, int cores = 0, int memoryMegabytes = IngestPipeline.DefaultMemoryMegabytes)
{
    /// <summary>Staged entries held in memory before they spill to the store (about 300 MB of typical FHIR NDJSON).</summary>
    public const int DefaultMemoryMegabytes = 256;

    private const int BatchLines = 8192;
    private readonly System.Collections.Concurrent.ConcurrentBag<LineParser> _parsers = [];

    /// <summary>Seconds spent in each phase of the last run (writer busy, writer waiting for the parse stage, consent rebuild), for `bench ingest`.</summary>
    public IReadOnlyDictionary<string, double> LastPhases { get; private set; } = new Dictionary<string, double>();

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
    private LineParser Rent() => _parsers.TryTake(out var parser) ? parser : new LineParser(node.Pseudonymizer);

    public IngestSummary Run(string path, Action<long, long>? progress = null)
    {
        var files = IngestSources.Files(path);
        var started = Stopwatch.StartNew();
        var policy = ValidPolicy();
        PruneQuarantine(policy);
        var runId = node.Store.Write((c, t) => c.ExecuteScalar<long>("INSERT INTO ingest_runs(started_at) VALUES (@now); SELECT last_insert_rowid();", new { now = DateTimeOffset.UtcNow.ToString("O") }, t));
        long read = 0, accepted = 0, quarantined = 0, unchanged = 0, bytes = 0;
        var perType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var reasons = new SortedDictionary<string, long>(StringComparer.Ordinal);
        int updated;
        var currentYear = DateTime.UtcNow.Year;
        Dictionary<string, double> phases;
        try
        {
            using var connection = node.Store.OpenForBulkWrite();
            // Without a valid policy, only the built-in sensitive lists apply; studies then refuse the data until a re-ingest under the policy's lists.
            var sensitiveCodes = policy?.SensitiveCodes ?? CodeList.Sensitive;
            var reduction = new Reduction(currentYear, sensitiveCodes, policy?.SensitiveCodesFingerprint?[..16]);
            using var writer = new IngestWriter(connection, memoryMegabytes * 1024L * 1024L);

            var writing = new Stopwatch();
            var waiting = new Stopwatch();
            void Write(ParsedLine[] batch)
            {
                writing.Start();
                using var transaction = connection.BeginTransaction();
                foreach (var parsed in batch)
                {
                    read++;
                    bytes += parsed.Line.Bytes.Length + 1;
                    if (parsed.Entry is null)
                    {
                        quarantined++;
                        reasons[parsed.Reason!.Code] = reasons.GetValueOrDefault(parsed.Reason.Code) + 1;
                        writer.Quarantine(parsed.Line, parsed.LineHmac!, parsed.Reason);
                        continue;
                    }

                    accepted++;
                    perType[parsed.Type!] = perType.GetValueOrDefault(parsed.Type!) + 1;
                    writer.Stage(parsed.Group, parsed.Entry!);
                }

                writer.Flush();
                transaction.Commit();
                writing.Stop();
                progress?.Invoke(read, bytes);
            }

            ParsedLine[] Wait(Task<ParsedLine[]> task)
            {
                waiting.Start();
                var result = task.GetAwaiter().GetResult();
                waiting.Stop();
                return result;
            }

            // Lines are read and batches parsed ahead (a bounded queue: memory stays flat) while this
            // thread writes them in order: the writer is the one serial stage.
            var prologue = started.Elapsed.TotalSeconds;
            using var queue = new System.Collections.Concurrent.BlockingCollection<Task<ParsedLine[]>>(boundedCapacity: 2);
            using var stop = new CancellationTokenSource();
            // The reader gets its own thread: it blocks on the bounded queue, and a pool thread blocked there
            // would leave the parse stage one worker short on a small machine.
            var reader = Task.Factory.StartNew(() =>
            {
                try
                {
                    long first = 0;
                    foreach (var batch in Batches(files))
                    {
                        var version = (runId << 40) + first;
                        first += batch.Length;
                        queue.Add(Task.Run(() => ParseBatch(batch, version, reduction)), stop.Token);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    // The writer failed: its error is the one reported.
                }
                finally
                {
                    queue.CompleteAdding();
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var written = false;
            try
            {
                foreach (var parsed in queue.GetConsumingEnumerable())
                {
                    Write(Wait(parsed));
                }

                written = true;
            }
            finally
            {
                if (!written)
                {
                    // A writer that fails (a full disk, say) releases the reader instead of leaving it blocked on the queue.
                    stop.Cancel();
                    reader.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait();
                }
            }

            reader.GetAwaiter().GetResult(); // a read error (the reader's) surfaces here as itself

            var merging = Stopwatch.StartNew();
            (double Prepare, double Write, double Commit) mergeTimings;
            using (var merge = new FactMaterializer(connection, writer))
            {
                (unchanged, updated) = merge.Run();
                mergeTimings = merge.Timings;
            }

            phases = new Dictionary<string, double>
            {
                ["write_s"] = Math.Round(writing.Elapsed.TotalSeconds, 2),
                ["wait_parse_s"] = Math.Round(waiting.Elapsed.TotalSeconds, 2),
                ["merge_s"] = Math.Round(merging.Elapsed.TotalSeconds, 2),
                ["merge_prepare_s"] = Math.Round(mergeTimings.Prepare, 2),
                ["merge_write_s"] = Math.Round(mergeTimings.Write, 2),
                ["merge_commit_s"] = Math.Round(mergeTimings.Commit, 2),
                ["prologue_s"] = Math.Round(prologue, 2),
            };
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
        phases["epilogue_s"] = Math.Round(started.Elapsed.TotalSeconds - summary.Seconds, 2);
        LastPhases = phases;
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

    /// <summary>For `bench ingest --stages`: the parallel stage alone over these lines (nothing is stored).</summary>
    internal int ReduceOnly(SourceLine[] lines) => ParseBatch(lines, 0, new Reduction(DateTime.UtcNow.Year, CodeList.Sensitive, null)).Length;

    private ParsedLine[] ParseBatch(SourceLine[] lines, long version, Reduction reduction)
    {
        var parsed = new ParsedLine[lines.Length];
        Parallel.For(0, lines.Length, new ParallelOptions { MaxDegreeOfParallelism = Cores }, Rent, (i, _, parser) =>
        {
            parsed[i] = parser.Reduce(lines[i], version + i, reduction);
            return parser;
        }, _parsers.Add);
        return parsed;
    }

    /// <summary>One thread's parsers and keyed hasher (none is thread-safe).</summary>
    private sealed class LineParser(Deidentification.Pseudonymizer pseudonyms)
    {
        private readonly FhirRecordParser _parser = new();
        private readonly FastFhirParser _fast = new();
        private readonly Deidentification.KeyedHasher _hasher = pseudonyms.CreateHasher();

        public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> line)
        {
            var (record, reason, handled) = _fast.Parse(line);
            return handled ? (record, reason) : _parser.Parse(line);
        }

        /// <summary>
        /// Parse, key and reduce one line. A resource no patient owns is grouped by its own key, so it is
        /// still recognized on a re-run without a patient to hang it on.
        /// </summary>
        public ParsedLine Reduce(SourceLine line, long version, Reduction reduction)
        {
            var (record, reason) = line.Oversized ? (null, QuarantineReason.Oversized) : Parse(line.Bytes.Span);
            if (record is null)
            {
                return new ParsedLine(line, null, reason, _hasher.Line(line.Bytes.Span), default, null);
            }

            var key = _hasher.Resource(record.Type, record.Id);
            var group = record.PatientId is null ? GroupKey.Unowned(key) : GroupKey.Patient(_hasher.PatientKey(record.PatientId));
            var entry = EntryCodec.Encode(record, key, version, record.PatientId is not null, reduction);
            return new ParsedLine(line, record.Type, null, null, group, entry);
        }
    }
}
