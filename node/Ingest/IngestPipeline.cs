using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Storage;
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
internal readonly record struct ParsedLine(SourceLine Line, string? Type, QuarantineReason? Reason, string? LineHmac, GroupKey Group, ReadOnlyMemory<byte> Entry);

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
public sealed class IngestPipeline(NodeDirectory node, int cores = 0, int memoryMegabytes = IngestPipeline.DefaultMemoryMegabytes, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

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

    /// <summary>Ingests a file or an export folder; a cancelled run stops between batches and is audited as failed (a re-run resumes it).</summary>
    public IngestSummary Run(string path, Action<long, long>? progress = null, CancellationToken cancellationToken = default)
    {
        var files = IngestSources.Files(path);
        var started = Stopwatch.StartNew();
        var policy = ValidPolicy();
        PruneQuarantine(policy);
        var runId = node.Store.Write((c, t) => IngestQueries.StartRun(c, t, _time.GetUtcNow().ToString("O")));
        long read = 0, accepted = 0, quarantined = 0, unchanged = 0, bytes = 0;
        var perType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var reasons = new SortedDictionary<string, long>(StringComparer.Ordinal);
        int updated;
        var currentYear = _time.GetUtcNow().Year;
        Dictionary<string, double> phases;
        try
        {
            using var connection = node.Store.OpenForBulkWrite();
            // Without a valid policy, only the built-in sensitive lists apply; studies then refuse the data until a re-ingest under the policy's lists.
            var sensitiveCodes = policy?.SensitiveCodes ?? CodeList.Sensitive;
            var reduction = new Reduction(currentYear, sensitiveCodes, policy?.SensitiveCodesFingerprint?[..16]);
            using var writer = new IngestWriter(connection, memoryMegabytes * 1024L * 1024L, _time);

            var batches = new BatchPool();
            var chunks = new ChunkPool();
            var writing = new Stopwatch();
            void Write(Batch batch)
            {
                writing.Start();
                using var transaction = connection.BeginTransaction();
                foreach (var parsed in batch.Parsed.AsSpan(0, batch.Count))
                {
                    read++;
                    bytes += parsed.Line.Bytes.Length + 1;
                    if (parsed.Reason is not null)
                    {
                        quarantined++;
                        reasons[parsed.Reason!.Code] = reasons.GetValueOrDefault(parsed.Reason.Code) + 1;
                        writer.Quarantine(parsed.Line, parsed.LineHmac!, parsed.Reason);
                        continue;
                    }

                    accepted++;
                    perType[parsed.Type!] = perType.GetValueOrDefault(parsed.Type!) + 1;
                    writer.Stage(parsed.Group, parsed.Entry.Span);
                }

                writer.Flush();
                transaction.Commit();
                writing.Stop();
                progress?.Invoke(read, bytes);
                batches.Return(batch, chunks);
            }

            // Lines are read and batches parsed ahead while this thread writes them in order: the writer is the one
            // serial stage. A worker rents a parser per batch (pooled: they keep their model caches).
            var prologue = started.Elapsed.TotalSeconds;
            var waiting = OrderedBatchPipeline.Run(Batches(files, runId, batches, chunks), Cores, capacity: Cores + 2, batch =>
            {
                var parser = Rent();
                try
                {
                    ParseBatch(parser, batch, reduction);
                    return batch;
                }
                finally
                {
                    _parsers.Add(parser);
                }
            }, Write, cancellationToken);

            var merging = Stopwatch.StartNew();
            (double Prepare, double Write, double Commit) mergeTimings;
            using (var merge = new FactMaterializer(connection, writer))
            {
                (unchanged, updated) = merge.Run(cancellationToken);
                mergeTimings = merge.Timings;
            }

            phases = new Dictionary<string, double>
            {
                ["write_s"] = Math.Round(writing.Elapsed.TotalSeconds, 2),
                ["wait_parse_s"] = Math.Round(waiting.TotalSeconds, 2),
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
            IngestQueries.FinishRun(c, t, runId, _time.GetUtcNow().ToString("O"), new IngestRunTotals(read, accepted, quarantined, unchanged, JsonSerializer.Serialize(perType), summary.Seconds));
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
        var cutoff = _time.GetUtcNow().AddYears(-years).ToString("O");
        node.Store.Write((c, t) =>
        {
            var pruned = IngestQueries.PruneQuarantine(c, t, cutoff);
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

    /// <summary>The lines in batches, each carrying the read buffers retired while it filled (returned once it is written).</summary>
    private static IEnumerable<Batch> Batches(IReadOnlyList<string> files, long runId, BatchPool pool, ChunkPool chunks)
    {
        long first = 0;
        var batch = pool.Rent();
        foreach (var file in files)
        {
            var sourceHash = IngestSources.ContentHash(file);
            foreach (var line in IngestSources.Read(file, sourceHash, chunks))
            {
                batch.Lines[batch.Count++] = line;
                if (batch.Count == BatchLines)
                {
                    batch.Chunks = chunks.TakeRetired();
                    batch.Version = (runId << 40) + first;
                    first += batch.Count;
                    yield return batch;
                    batch = pool.Rent();
                }
            }
        }

        batch.Chunks = chunks.TakeRetired();
        batch.Version = (runId << 40) + first;
        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>For `bench ingest --stages`: the parallel stage alone over these lines (nothing is stored), in two halves on two workers.</summary>
    internal int ReduceOnly(SourceLine[] lines)
    {
        var reduction = new Reduction(_time.GetUtcNow().Year, CodeList.Sensitive, null);
        var half = lines.Length / 2;
        Parallel.Invoke(new ParallelOptions { MaxDegreeOfParallelism = Cores }, () => Reduce(lines[..half]), () => Reduce(lines[half..]));
        return lines.Length;

        void Reduce(SourceLine[] part)
        {
            var batch = new Batch(part.Length) { Count = part.Length };
            part.CopyTo(batch.Lines, 0);
            var parser = Rent();
            try
            {
                ParseBatch(parser, batch, reduction);
            }
            finally
            {
                _parsers.Add(parser);
            }
        }
    }

    /// <summary>One worker parses a whole batch (a failure is the batch's, reported when the writer reaches it).</summary>
    private static void ParseBatch(LineParser parser, Batch batch, Reduction reduction)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            batch.Parsed[i] = parser.Reduce(batch.Lines[i], batch.Version + i, reduction, batch.Arena);
        }
    }

    /// <summary>
    /// A batch of lines and their parsed form. Reused once written (with <see cref="BatchPool"/>): the arrays are
    /// large enough to live on the large-object heap, and a new pair per batch made the heap grow by a
    /// megabyte every few thousand lines.
    /// </summary>
    private sealed class Batch(int capacity)
    {
        public SourceLine[] Lines { get; } = new SourceLine[capacity];

        public ParsedLine[] Parsed { get; } = new ParsedLine[capacity];

        /// <summary>Where the lines' entries are encoded (reused with the batch).</summary>
        public EntryArena Arena { get; } = new();

        public int Count { get; set; }

        /// <summary>The version of its first line (the run and the line's position in it).</summary>
        public long Version { get; set; }

        /// <summary>Read buffers no later batch uses: free once this batch is written.</summary>
        public List<byte[]>? Chunks { get; set; }
    }

    private sealed class BatchPool
    {
        private readonly System.Collections.Concurrent.ConcurrentBag<Batch> _free = [];

        public Batch Rent() => _free.TryTake(out var batch) ? batch : new Batch(BatchLines);

        /// <summary>The batch is written: its lines' buffers and the batch itself are reused (references cleared, so nothing it held outlives it).</summary>
        public void Return(Batch batch, ChunkPool chunks)
        {
            chunks.Return(batch.Chunks);
            Array.Clear(batch.Lines, 0, batch.Count);
            Array.Clear(batch.Parsed, 0, batch.Count);
            (batch.Count, batch.Chunks) = (0, null);
            batch.Arena.Reset();
            _free.Add(batch);
        }
    }

    /// <summary>One thread's parsers and keyed hasher (none is thread-safe).</summary>
    private sealed class LineParser(Deidentification.Pseudonymizer pseudonyms)
    {
        private readonly FhirRecordParser _parser = new();
        private readonly FastFhirParser _fast = new();
        private readonly Deidentification.KeyedHasher _hasher = pseudonyms.CreateHasher();

        public (ClinicalRecord? Record, QuarantineReason? Reason) Parse(ReadOnlySpan<byte> line)
        {
            // Both parsers read strings as UTF-8 and throw on bytes that are not (the reader checks them only when a
            // value is read): one bad byte must quarantine its line, not stop the ingest.
            if (!System.Text.Unicode.Utf8.IsValid(line))
            {
                return (null, QuarantineReason.InvalidEncoding);
            }

            var (record, reason, handled) = _fast.Parse(line);
            return handled ? (record, reason) : _parser.Parse(line);
        }

        /// <summary>
        /// Parse, key and reduce one line. A resource no patient owns is grouped by its own key, so it is
        /// still recognized on a re-run without a patient to hang it on.
        /// </summary>
        public ParsedLine Reduce(SourceLine line, long version, Reduction reduction, EntryArena arena)
        {
            (ClinicalRecord? Record, QuarantineReason? Reason) parsed;
            try
            {
                parsed = line.Oversized ? (null, QuarantineReason.Oversized) : Parse(line.Bytes.Span);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A line no parser anticipated is still one line: quarantined (the exception's type only, as its message
                // may quote the line), and the run goes on.
                parsed = (null, QuarantineReason.ParserFailure(e));
            }

            var (record, reason) = parsed;
            if (record is null)
            {
                return new ParsedLine(line, null, reason, _hasher.Line(line.Bytes.Span), default, default);
            }

            var key = _hasher.Resource(record.Type, record.Id);
            var group = record.PatientId is null ? GroupKey.Unowned(key) : GroupKey.Patient(_hasher.PatientKey(record.PatientId));
            var entry = ClinicalReduction.Encode(record, key, version, record.PatientId is not null, reduction, arena);
            return new ParsedLine(line, record.Type, null, null, group, entry);
        }
    }
}
