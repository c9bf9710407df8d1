using FederatedTwin.Node.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Folds staged entries into one row per patient (patient_facts), partition by partition. Per patient:
/// an entry with a key not stored yet is added, one with the same key and the same body is unchanged,
/// one with a new body replaces the old (a resource updated by a later export). A resource whose
/// patient changed (its key stored under another pseudonym, or seen earlier in the same run) is found
/// through a Bloom filter of stored keys and the run's own keys, and removed from its old patient, the
/// newest version winning; within one run, though, the earliest copy wins and the others are conflicts
/// (<see cref="Conflicts"/>). The derived tables (patients,
/// consent states) are rewritten for the patients that changed.
/// Two stages overlap on the <see cref="OrderedBatchPipeline"/>: one worker groups a partition's entries, decides
/// what changes and computes the patients' rows (on all cores), reading the store through its own connection;
/// this thread writes the rows of the partition before. Partitions hold disjoint patients, so the worker never
/// needs a row the writer has not committed.
/// A merge writes every row under one new data version and publishes it only when the last partition and the moves are
/// committed (<see cref="PatientFactsQueries.Draft"/>): a reader, and a study pinned to an earlier version, never sees half of a
/// run; a merge killed half-way leaves its version unpublished, and the next one completes and publishes it.
/// </summary>
internal sealed class FactMaterializer(SqliteConnection connection, IngestWriter? held = null, long runVersions = long.MaxValue, TimeProvider? time = null) : IDisposable
{
    /// <summary>
    /// Entries of this run given twice with different content (a patient or another owner counts as content), by version
    /// (the run and the line's position in it) and type: the earliest is kept, these are not stored (issue 19: which one
    /// is right cannot be told, so the later ones are flagged rather than silently replacing the first). Entries from
    /// versions at or above <c>runVersions</c> are this run's; an earlier run's are replaced by a later one as ever.
    /// </summary>
    public List<(long Version, string Type)> Conflicts { get; } = [];

    private readonly PatientFactsQueries _sql = new(connection);
    private readonly HashSet<UInt128> _candidates = [];

    // This run's new keys, kept exactly up to a bound (about 30 bytes each) and added to the filter only at the end:
    // a key seen twice in the run is then found without a false positive, and a first ingest into an empty store
    // has no candidates at all (with the run's keys in the filter as they came, some 2% of them were false
    // positives, and any one costs a scan of every patient's row). Past the bound, keys go to the filter directly.
    private readonly HashSet<UInt128> _runKeys = new((int)Math.Min(held?.StagedEntries ?? 0, ExactRunKeys), RandomKeys.Instance);
    private const int ExactRunKeys = 2_000_000;

    /// <summary>Keys are HMAC outputs: their low bits are already a uniform hash.</summary>
    private sealed class RandomKeys : IEqualityComparer<UInt128>
    {
        public static readonly RandomKeys Instance = new();

        public bool Equals(UInt128 x, UInt128 y) => x == y;

        public int GetHashCode(UInt128 key) => (int)(ulong)key;
    }
    private const long CommitEntries = 200_000;
    private long _unchanged;
    private readonly System.Diagnostics.Stopwatch _preparing = new(), _writing = new(), _committing = new();

    /// <summary>Seconds the last run spent preparing partitions (grouping, deciding, computing rows), writing rows, and committing (for `bench ingest`).</summary>
    public (double Prepare, double Write, double Commit) Timings => (_preparing.Elapsed.TotalSeconds, _writing.Elapsed.TotalSeconds, _committing.Elapsed.TotalSeconds);

    private sealed record PreparedPartition(int Part, PatientRow[] Rows, long Entries);

    public MergeResult Run(CancellationToken cancellationToken = default)
    {
        var parts = _sql.StagedPartitions().Union(held?.HeldPartitions() ?? []).Order().ToList();
        var pending = _sql.PendingDraft();
        _sql.Draft = pending ?? _sql.Published() + 1;
        if (parts.Count == 0)
        {
            var removed = 0;
            if (Deletions is { IsEmpty: false })
            {
                // Deletions alone: a version is begun and published only when one removes something (re-applied, they change nothing).
                var keys = StoredKeyFilter.Load(_sql, 0);
                using var deleting = connection.BeginTransaction();
                var groups = ApplyDeletions(keys);
                if (DeletedCount > 0)
                {
                    _sql.BeginDraft();
                    keys.Touch(_sql);
                    deleting.Commit();
                    keys.Save(_sql);
                    pending = _sql.Draft;
                    removed = groups.Count;
                }
            }

            if (pending is not null)
            {
                Publish(); // a merge killed after its last partition: its rows are complete (or the deletions just written)
            }

            return new MergeResult(0, removed);
        }

        var filter = StoredKeyFilter.Load(_sql, held?.StagedEntries ?? 0);
        var empty = _sql.NoFacts(); // a first ingest looks nothing up
        var updated = new HashSet<string>(StringComparer.Ordinal);
        using var reading = new SqliteConnection(connection.ConnectionString);
        reading.Open();
        using var readSql = new PatientFactsQueries(reading);

        // Checkpoints (copying the WAL into the database and syncing it) run on their own connection while the
        // merge writes, instead of inside the writer's commits: the disk works while the cores compute. Passive
        // checkpoints never block the writer, and copy only committed transactions (SQLite WAL, "Checkpointing").
        _sql.SetWalAutocheckpoint(0);
        using var merged = new ManualResetEventSlim();
        var checkpointer = Task.Factory.StartNew(() =>
        {
            using var checkpoints = new SqliteConnection(connection.ConnectionString);
            checkpoints.Open();
            using var sql = new PatientFactsQueries(checkpoints);
            while (!merged.Wait(100))
            {
                sql.PassiveCheckpoint();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var transaction = connection.BeginTransaction();
        _sql.BeginDraft();
        var uncommitted = 0L;
        try
        {
            // One worker: the merge decides in order (the filter and the run's keys see keys one by one), and
            // computes a partition's rows on all cores itself; the writer writes the partition before meanwhile.
            OrderedBatchPipeline.Run(parts, workers: 1, capacity: 2, part =>
            {
                _preparing.Start();
                var prepared = Prepare(part, readSql, filter, empty);
                _preparing.Stop();
                return prepared;
            }, prepared =>
            {
                _writing.Start();
                foreach (var row in prepared.Rows)
                {
                    row.Write(_sql);
                    if (row.Group[0] != '-')
                    {
                        updated.Add(row.Group);
                    }
                }

                _sql.DeleteStaged(prepared.Part);
                uncommitted += prepared.Entries;
                if (uncommitted >= CommitEntries || prepared.Part == parts[^1])
                {
                    // Partitions are committed together up to a size: fewer commits, and a run killed here still
                    // leaves each partition either merged or staged.
                    _committing.Start();
                    filter.Touch(_sql);
                    transaction.Commit();
                    transaction.Dispose();
                    transaction = connection.BeginTransaction();
                    uncommitted = 0;
                    _committing.Stop();
                }

                _writing.Stop();
            }, cancellationToken);
        }
        finally
        {
            transaction.Dispose();
            merged.Set();
            checkpointer.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait(CancellationToken.None); // stopped whatever happened, before the autocheckpoint is restored
            _sql.SetWalAutocheckpoint(NodeStore.BulkWalAutocheckpointPages(connection));
        }

        checkpointer.GetAwaiter().GetResult();

        if (_candidates.Count > 0)
        {
            using var moves = connection.BeginTransaction();
            foreach (var group in ResolveMoves())
            {
                updated.Add(group);
            }

            filter.Touch(_sql);
            moves.Commit();
        }

        foreach (var key in _runKeys)
        {
            filter.Add(key);
        }

        _runKeys.Clear();
        if (Deletions is { IsEmpty: false })
        {
            // After the run's own resources and moves, under the same draft version: published together.
            using var deletions = connection.BeginTransaction();
            foreach (var group in ApplyDeletions(filter))
            {
                updated.Add(group);
            }

            filter.Touch(_sql);
            deletions.Commit();
        }

        filter.Save(_sql);
        Publish();
        return new MergeResult(_unchanged, updated.Count);
    }

    /// <summary>Superseded rows (patient_facts, patients, consent states) deleted when the last merge published its version.</summary>
    public int Collected { get; private set; }

    /// <summary>
    /// Publishes the merge's version and, in the same transaction, deletes the superseded rows no study still pins: a study accepted
    /// from here on pins this version.
    /// </summary>
    private void Publish()
    {
        using var transaction = connection.BeginTransaction();
        _sql.Publish();
        Collected = FeatureQueries.CollectSuperseded(connection, transaction, (time ?? TimeProvider.System).GetUtcNow().ToString("O"));
        transaction.Commit();
    }

    public void Dispose() => _sql.Dispose();

    /// <summary>What the source reported deleted (null: nothing), removed after the run's resources under the same data version.</summary>
    public MergeDeletions? Deletions { get; init; }

    /// <summary>Resources the deletions removed (a deleted Patient counts once, whatever it held).</summary>
    public long DeletedCount { get; private set; }

    /// <summary>Deletions of resources the store does not hold: never stored, already deleted, or given again by this run (which wins).</summary>
    public long DeletedNotFound { get; private set; }

    /// <summary>
    /// Removes the deleted resources from the rows that hold them and rewrites those patients' rows and derived tables; a deleted
    /// Patient removes its whole row, its demographics and its consent states (its other resources are its data, and without its
    /// Patient resource they could never be read again). Rows replaced here are superseded, not lost, for studies pinned earlier
    /// (<see cref="PatientFactsQueries.Draft"/>). A resource whose stored copy is from this run is kept: it came back after its
    /// deletion (Bulk Data IG v2.0.0, "deleted": resources deleted since <c>_since</c>, whatever happened to them after).
    /// </summary>
    private List<string> ApplyDeletions(StoredKeyFilter filter)
    {
        var deletions = Deletions!;
        var changed = new List<string>();
        foreach (var (group, key) in deletions.Patients)
        {
            var data = _sql.Facts(group);
            var kept = false;
            if (data is not null)
            {
                foreach (var (offset, _) in EntryCodec.Split(data))
                {
                    kept |= EntryCodec.Key(data.AsSpan(offset)) == key && EntryCodec.Version(data.AsSpan(offset)) >= runVersions;
                }
            }

            if (data is null || kept)
            {
                DeletedNotFound++;
                continue;
            }

            _sql.DeleteFacts(group);
            _sql.DeletePatient(group);
            _sql.DeleteConsentStates(group);
            DeletedCount++;
            changed.Add(group);
        }

        // A key no filter holds was never stored (the filter has no false negatives); the others are looked for in every row, once.
        var candidates = new HashSet<UInt128>(deletions.Resources.Where(filter.MayContain));
        DeletedNotFound += deletions.Resources.Count - candidates.Count;
        if (candidates.Count == 0)
        {
            return changed;
        }

        var found = new HashSet<UInt128>();
        var rewrites = new List<PatientRow>();
        foreach (var (group, data) in _sql.AllFacts())
        {
            List<ReadOnlyMemory<byte>>? kept = null;
            var consents = false;
            var entries = EntryCodec.Split(data);
            for (var i = 0; i < entries.Count; i++)
            {
                var (offset, length) = entries[i];
                var key = EntryCodec.Key(data.AsSpan(offset));
                if (candidates.Contains(key) && EntryCodec.Version(data.AsSpan(offset)) < runVersions)
                {
                    kept ??= [.. entries.Take(i).Select(e => data.AsMemory(e.Offset, e.Length))];
                    consents |= EntryCodec.IsConsent(data.AsSpan(offset, length));
                    found.Add(key);
                    continue;
                }

                kept?.Add(data.AsMemory(offset, length));
            }

            if (kept is not null)
            {
                rewrites.Add(PatientRow.Of(group, kept, consents));
            }
        }

        foreach (var row in rewrites)
        {
            row.Write(_sql);
            if (row.Group[0] != '-')
            {
                changed.Add(row.Group);
            }
        }

        DeletedCount += found.Count;
        DeletedNotFound += candidates.Count - found.Count;
        return changed;
    }

    /// <summary>A partition's entries grouped by patient, the merge decisions in order (the filter sees keys one by one), and the changed patients' rows.</summary>
    private PreparedPartition Prepare(int part, PatientFactsQueries readSql, StoredKeyFilter filter, bool empty)
    {
        var groups = new Dictionary<GroupKey, List<ReadOnlyMemory<byte>>>();
        long count = 0;
        foreach (var data in readSql.Staged(part).Select(d => (ReadOnlyMemory<byte>)d).Concat(held?.Held(part) ?? []))
        {
            for (var offset = 0; offset < data.Length;)
            {
                var (group, headLength) = GroupKey.Read(data.Span[offset..]);
                offset += headLength;
                var length = EntryCodec.Length(data.Span[offset..]);
                if (!groups.TryGetValue(group, out var list))
                {
                    groups[group] = list = [];
                }

                list.Add(data.Slice(offset, length));
                offset += length;
                count++;
            }
        }

        var changes = new List<(GroupKey Group, List<ReadOnlyMemory<byte>> Entries, bool Consents)>();
        foreach (var group in groups.Keys.Order())
        {
            var incoming = groups[group];
            var entries = empty ? new List<ReadOnlyMemory<byte>>(incoming.Count) : Load(readSql, group.ToString());
            var index = new Dictionary<UInt128, int>(entries.Count + incoming.Count);
            for (var i = 0; i < entries.Count; i++)
            {
                index[EntryCodec.Key(entries[i].Span)] = i;
            }

            var changed = false;
            var consents = false;
            foreach (var entry in incoming)
            {
                var key = EntryCodec.Key(entry.Span);
                if (index.TryGetValue(key, out var at))
                {
                    if (EntryCodec.SameContent(entries[at].Span, entry.Span))
                    {
                        _unchanged++;
                        continue;
                    }

                    if (EntryCodec.Version(entries[at].Span) >= runVersions)
                    {
                        // Both from this run (entries come in input order): a conflict, the earlier one stays.
                        Conflicts.Add((EntryCodec.Version(entry.Span), EntryCodec.Decode(entry.Span).Type));
                        continue;
                    }

                    consents |= EntryCodec.IsConsent(entries[at].Span) || EntryCodec.IsConsent(entry.Span);
                    entries[at] = entry;
                }
                else
                {
                    if (filter.MayContain(key) || _runKeys.Contains(key))
                    {
                        // Stored before under another patient (or a false positive), or seen earlier in this run.
                        _candidates.Add(key);
                    }

                    if (_runKeys.Count < ExactRunKeys)
                    {
                        _runKeys.Add(key);
                    }
                    else
                    {
                        filter.Add(key);
                    }
                    index[key] = entries.Count;
                    entries.Add(entry);
                }

                changed = true;
                consents |= EntryCodec.IsConsent(entry.Span);
            }

            if (changed)
            {
                changes.Add((group, entries, consents));
            }
        }

        var rows = new PatientRow[changes.Count];
        Parallel.For(0, changes.Count, i => rows[i] = PatientRow.Of(changes[i].Group.ToString(), changes[i].Entries, changes[i].Consents));
        return new PreparedPartition(part, rows, count);
    }

    /// <summary>
    /// A key found new in one patient but possibly stored elsewhere: scan every patient once (only in
    /// runs that have such keys) and keep each one only where its newest version is.
    /// </summary>
    private List<string> ResolveMoves()
    {
        var found = new Dictionary<UInt128, List<(string Group, long Version, string Type)>>();
        var holders = new List<(string Group, byte[] Data)>();
        foreach (var (group, data) in _sql.AllFacts())
        {
            var holds = false;
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                var key = EntryCodec.Key(data.AsSpan(offset));
                if (_candidates.Contains(key))
                {
                    holds = true;
                    if (!found.TryGetValue(key, out var list))
                    {
                        found[key] = list = [];
                    }

                    var version = EntryCodec.Version(data.AsSpan(offset));
                    list.Add((group, version, version >= runVersions ? EntryCodec.Decode(data.AsSpan(offset, length)).Type : string.Empty));
                }
            }

            if (holds)
            {
                holders.Add((group, data));
            }
        }

        // The newest holder keeps the resource (it moved to another patient), unless this run gave it under two owners:
        // then the earliest of this run's keeps it and the others are conflicts.
        var newest = new Dictionary<UInt128, (string Group, long Version)>();
        foreach (var (key, list) in found)
        {
            var thisRun = list.Where(h => h.Version >= runVersions).OrderBy(h => h.Version).ToList();
            var winner = thisRun.Count >= 2 ? thisRun[0] : list.MaxBy(h => h.Version);
            newest[key] = (winner.Group, winner.Version);
            if (thisRun.Count >= 2)
            {
                Conflicts.AddRange(thisRun.Skip(1).Select(h => (h.Version, h.Type)));
            }
        }

        var changed = new List<string>();
        foreach (var (group, data) in holders)
        {
            var kept = new List<ReadOnlyMemory<byte>>();
            var removed = false;
            var consents = false;
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                var key = EntryCodec.Key(data.AsSpan(offset));
                if (newest.TryGetValue(key, out var winner) && winner.Group != group)
                {
                    removed = true;
                    consents |= EntryCodec.IsConsent(data.AsSpan(offset, length));
                    continue;
                }

                kept.Add(data.AsMemory(offset, length));
            }

            if (removed)
            {
                PatientRow.Of(group, kept, consents).Write(_sql);
                if (group[0] != '-')
                {
                    changed.Add(group);
                }
            }
        }

        _candidates.Clear();
        return changed;
    }

    private static List<ReadOnlyMemory<byte>> Load(PatientFactsQueries sql, string group)
    {
        var data = sql.Facts(group);
        var entries = new List<ReadOnlyMemory<byte>>();
        if (data is not null)
        {
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                entries.Add(data.AsMemory(offset, length));
            }
        }

        return entries;
    }
}
