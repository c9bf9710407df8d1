using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>A line after the parallel stage: parsed, keyed, reduced to its stored entry (the writer only writes).</summary>
internal readonly record struct ParsedLine(SourceLine Line, string? Type, QuarantineReason? Reason, string? LineHmac, GroupKey Group, ReadOnlyMemory<byte> Entry);

/// <summary>
/// A data file a connector hands to the ingest without a copy on disk (a Bulk Data download, an OMOP reader): opened only when
/// the reader reaches it, and read once. <paramref name="Source"/> is its source id as the quarantine names it: a keyed hash
/// (<see cref="Deidentification.Pseudonymizer.SourcePath"/>) of where it came from, never a URL or a file name. An
/// <paramref name="Open"/> that throws <see cref="IngestInputException"/> is reported as a failed file with its problem and
/// the run goes on; a failure part-way through the stream (an <see cref="IOException"/>) keeps the lines read before.
/// </summary>
public sealed record IngestInput(string Source, SourceFormat Format, Func<Stream> Open);

/// <summary>An input that could not be opened (a download that failed after its retries): a code and a fixed sentence, never content.</summary>
public sealed class IngestInputException(FileProblem problem) : Exception(problem.Text)
{
    public FileProblem Problem { get; } = problem;
}

/// <summary>A resource the source says was deleted (Bulk Data `deleted` output, an OMOP row gone): its type and logical id as the source gives them.</summary>
public readonly record struct DeletedResource(string Type, string Id);

/// <summary>
/// FHIR in, de-identified facts out. Lines are read in order and handed in batches to a parallel
/// stage that parses them (fast path for the hot types, Firely for the rest) and computes their keyed
/// hashes; a single writer then stores each batch in order, so the result does not depend on the
/// number of cores. A line is either quarantined (position, keyed hash and reason; never its content)
/// or reduced at the door to what the features need, under pseudonyms and years. Batches are staged
/// one transaction each and merged into one row per patient at the end (<see cref="FactMaterializer"/>);
/// a resource already stored with the same content is recognized, so a re-run (or a run after a kill -9)
/// ends in the same state. Patients whose consents changed get their consent states rebuilt.
/// Hostile input is contained (issue 19): only regular files are read, one at a time, each from the descriptor it was
/// hashed from; a file that fails (truncated gzip, broken Bundle) keeps the lines read before and the run goes on; memory
/// stays within the limit whatever the lines (blank ones release their buffers, Bundles are read entry by entry); the
/// quarantine stored per file and per run is capped (<see cref="IngestLimits"/>); a resource given twice with different
/// content is quarantined as a conflict (found by the merge, <see cref="FactMaterializer.Conflicts"/>).
/// </summary>
public sealed class IngestPipeline(NodeDirectory node, int cores = 0, int memoryMegabytes = IngestPipeline.DefaultMemoryMegabytes, TimeProvider? time = null, IngestLimits? limits = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly IngestLimits _limits = limits ?? IngestLimits.Default;

    /// <summary>Staged entries held in memory before they spill to the store (about 300 MB of typical FHIR NDJSON).</summary>
    public const int DefaultMemoryMegabytes = 256;

    private const int BatchLines = 8192;

    /// <summary>
    /// A batch is handed on once the read buffers its lines hold reach this size, however few its lines: one short line
    /// per megabyte of blank lines would otherwise hold 8,192 megabytes in one batch.
    /// </summary>
    private const long MaxBatchBytes = 16L << 20;
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

    /// <summary>
    /// Ingests a file or an export folder; a cancelled run stops between batches and is audited as failed (a re-run resumes it).
    /// A file that cannot be read, or not to its end, is reported in the summary (<see cref="IngestSummary.FailedFiles"/>)
    /// with the lines read before kept, and the run goes on with the next; an error of the store itself ends the run.
    /// </summary>
    public IngestSummary Run(string path, Action<long, long>? progress = null, CancellationToken cancellationToken = default)
    {
        var files = IngestSources.Files(path);
        return Run(files.Select(f => new Opener(f, null)), [], progress, cancellationToken);
    }

    /// <summary>
    /// Ingests files a connector streams in (<see cref="IngestInput"/>, read in the order given, each opened when reached) and
    /// applies the deletions the source reported; otherwise as <see cref="Run(string, Action{long, long}?, CancellationToken)"/>.
    /// </summary>
    public IngestSummary Run(IEnumerable<IngestInput> inputs, IReadOnlyList<DeletedResource> deleted, Action<long, long>? progress = null, CancellationToken cancellationToken = default) =>
        Run(inputs.Select(i => new Opener(null, i)), deleted, progress, cancellationToken);

    /// <summary>One file of a run: a path in an export folder, or a connector's stream.</summary>
    private sealed record Opener(string? Path, IngestInput? Input);

    private IngestSummary Run(IEnumerable<Opener> files, IReadOnlyList<DeletedResource> deleted, Action<long, long>? progress, CancellationToken cancellationToken)
    {
        using var exclusive = IngestLock.Acquire(node.Path); // one ingest at a time per node directory, taken before anything is written
        var started = Stopwatch.StartNew();
        var policy = ValidPolicy();
        PruneQuarantine(policy);
        var runId = node.Store.Write((c, t) => IngestQueries.StartRun(c, t, _time.GetUtcNow().ToString("O")));
        long unchanged = 0;
        var sources = new SourceLog();
        int updated;
        var currentYear = _time.GetUtcNow().Year;
        Dictionary<string, double> phases;
        var tally = new IngestTally(_limits);
        MergeDeletions deletions;
        using (var hasher = node.Pseudonymizer.CreateHasher())
        {
            deletions = MergeDeletions.Of(deleted, hasher);
        }

        long deletedCount = 0, deletedNotFound = 0;
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
                foreach (ref readonly var parsed in batch.Parsed.AsSpan(0, batch.Count))
                {
                    tally.Add(parsed, writer);
                }

                writer.Flush();
                transaction.Commit();
                writing.Stop();
                progress?.Invoke(tally.Read, tally.Bytes);
                batches.Return(batch, chunks);
            }

            // Lines are read and batches parsed ahead while this thread writes them in order: the writer is the one
            // serial stage. A worker rents a parser per batch (pooled: they keep their model caches).
            var prologue = started.Elapsed.TotalSeconds;
            var waiting = OrderedBatchPipeline.Run(Batches(files, runId, batches, chunks, sources), Cores, capacity: Cores + 2, batch =>
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
            using (var merge = new FactMaterializer(connection, writer, runVersions: runId << 40, time: _time) { Deletions = deletions })
            {
                (unchanged, updated) = merge.Run(cancellationToken);
                (deletedCount, deletedNotFound) = (merge.DeletedCount, merge.DeletedNotFound);
                mergeTimings = merge.Timings;
                if (merge.Conflicts.Count > 0)
                {
                    QuarantineConflicts(merge.Conflicts, runId << 40, sources, tally, writer, connection);
                }
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
            RecordFailure(runId, tally.Read, tally.Accepted, tally.Quarantined, e);
            throw;
        }

        var summary = new IngestSummary(tally.Read, tally.Accepted, tally.Quarantined, unchanged, tally.PerType, tally.Reasons, tally.Bytes, started.Elapsed.TotalSeconds, updated)
        {
            FilesRead = sources.FilesRead,
            FailedFiles = sources.Failed,
            QuarantineNotStored = tally.NotStored,
            Deleted = deletedCount,
            DeletedNotFound = deletedNotFound,
        };
        var features = new FeatureBuilder(node.Store);
        var sensitive = features.SensitiveExclusions();
        var consentDenied = features.ConsentDenials();
        node.Store.Write((c, t) =>
        {
            IngestQueries.FinishRun(c, t, runId, _time.GetUtcNow().ToString("O"), new IngestRunTotals(summary.LinesRead, summary.Accepted, summary.Quarantined, unchanged, JsonSerializer.Serialize(tally.PerType), summary.Seconds));
            // The run, and the consent and sensitivity exclusions it leaves in the store (counts only), with a signed checkpoint.
            node.Audit.Append(c, t, NodeAuditRecords.IngestRun(runId, sources.Listed, summary, policy?.SensitiveCodesFingerprint));
            node.Audit.Append(c, t, NodeAuditRecords.Exclusions(runId, sensitive, consentDenied));
            node.Audit.Checkpoint(c, t, CheckpointReasons.Ingest);
            return 0;
        });
        node.Store.Event("ingest", null, $"{summary.LinesRead} lines read, {summary.Accepted} accepted ({unchanged} unchanged), {summary.Quarantined} quarantined ({summary.QuarantineNotStored} not stored), {deletedCount} deleted ({deletedNotFound} not found), {updated} patients' features rebuilt; {summary.FailedFiles.Count} files failed");
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

    /// <summary>What the reader found of the files: how many it read, and those it could not read to their end.</summary>
    private sealed class SourceLog
    {
        public int FilesRead { get; set; }

        /// <summary>Files the run was given (read, failed, or not opened).</summary>
        public int Listed { get; set; }

        public List<FailedFile> Failed { get; } = [];

        /// <summary>Each file read: its lines' positions in the run are First to First + Lines - 1 (an entry's version less the run's base).</summary>
        public List<(string? Path, string Source, SourceFormat Format, long First, long Lines)> Read { get; } = [];
    }

    /// <summary>
    /// The lines the merge found in conflict with an earlier one (<see cref="FactMaterializer.Conflicts"/>), found again in
    /// their files by position (rare: only files that hold one are read again, from a descriptor whose content hash must
    /// still be the one read) and quarantined with their keyed hash; a line whose file changed since is only counted.
    /// </summary>
    private void QuarantineConflicts(List<(long Version, string Type)> conflicts, long runBase, SourceLog sources, IngestTally tally, IngestWriter writer, Microsoft.Data.Sqlite.SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        using var hasher = node.Pseudonymizer.CreateHasher();
        var pending = conflicts.Select(c => (Position: c.Version - runBase, c.Type)).OrderBy(c => c.Position).ToList();
        foreach (var file in sources.Read)
        {
            var inFile = pending.Where(c => c.Position >= file.First && c.Position < file.First + file.Lines).ToList();
            if (inFile.Count == 0)
            {
                continue;
            }

            // A connector's stream cannot be read again: its conflicts are counted, as those of a file that changed since.
            var stream = file.Path is null ? null : SourceFile.Open(file.Path, out _);
            if (stream is null || SourceFile.ContentHash(stream) != file.Source)
            {
                stream?.Dispose();
                inFile.ForEach(c => tally.Conflict(null, null, c.Type, writer));
                continue;
            }

            long index = 0;
            var next = 0;
            foreach (var line in IngestSources.Read(stream, file.Format, file.Source, null, _ => { }))
            {
                for (; next < inFile.Count && inFile[next].Position == file.First + index; next++)
                {
                    tally.Conflict(line, hasher.Line(line.Bytes.Span), inFile[next].Type, writer);
                }

                if (next == inFile.Count)
                {
                    break;
                }

                index++;
            }

            inFile.Skip(next).ToList().ForEach(c => tally.Conflict(null, null, c.Type, writer));
        }

        writer.WriteQuarantine();
        transaction.Commit();
    }

    /// <summary>
    /// The lines in batches, each carrying the read buffers retired while it filled (returned once it is written). A file
    /// is opened once (<see cref="SourceFile"/>: never anything but a regular file), hashed and read from that one
    /// descriptor; a file that cannot be opened or read to its end is logged and the next one read.
    /// </summary>
    private IEnumerable<Batch> Batches(IEnumerable<Opener> files, long runId, BatchPool pool, ChunkPool chunks, SourceLog log)
    {
        long first = 0;
        var batch = pool.Rent();
        foreach (var file in files)
        {
            log.Listed++;
            var (stream, sourceHash) = file.Path is { } path ? OpenAndHash(path, log) : OpenInput(file.Input!, log);
            if (stream is null)
            {
                continue;
            }

            var format = file.Input?.Format ?? IngestSources.FormatOf(file.Path!);
            log.FilesRead++;
            FileProblem? failed = null;
            long lines = 0, start = first + batch.Count;
            foreach (var line in IngestSources.Read(stream, format, sourceHash, chunks, p => failed = p))
            {
                lines++;
                batch.Lines[batch.Count++] = line;
                if (batch.Count == BatchLines || chunks.RetiredBytes >= MaxBatchBytes)
                {
                    batch.Chunks = chunks.TakeRetired();
                    batch.Version = (runId << 40) + first;
                    first += batch.Count;
                    yield return batch;
                    batch = pool.Rent();
                }
            }

            log.Read.Add((file.Path, sourceHash, format, start, lines));
            if (failed is not null)
            {
                log.Failed.Add(new FailedFile(sourceHash, failed.Code, failed.Text, lines));
            }
        }

        batch.Chunks = chunks.TakeRetired();
        batch.Version = (runId << 40) + first;
        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>A connector's stream opened; null, logged with its problem, when it cannot be.</summary>
    private static (Stream? Stream, string Source) OpenInput(IngestInput input, SourceLog log)
    {
        try
        {
            return (input.Open(), input.Source);
        }
        catch (IngestInputException e)
        {
            log.Failed.Add(new FailedFile(input.Source, e.Problem.Code, e.Problem.Text, 0));
            return (null, string.Empty);
        }
    }

    /// <summary>The file opened, and the hash of its content (read from the same descriptor it is then read from); null, logged, when it cannot be.</summary>
    private (Stream? Stream, string Source) OpenAndHash(string file, SourceLog log)
    {
        var stream = SourceFile.Open(file, out var problem);
        if (stream is null)
        {
            log.Failed.Add(new FailedFile(SourceFile.PathSource(node.Pseudonymizer, file), problem!.Code, problem.Text, 0));
            return (null, string.Empty);
        }

        try
        {
            return (stream, SourceFile.ContentHash(stream));
        }
        catch (IOException)
        {
            stream.Dispose();
            log.Failed.Add(new FailedFile(SourceFile.PathSource(node.Pseudonymizer, file), FileProblem.ReadError.Code, FileProblem.ReadError.Text, 0));
            return (null, string.Empty);
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
