using System.Buffers.Binary;
using System.Text;
using FederatedTwin.Node.Features;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The ingest's store layout (docs/architecture.md, "Data plane"). A SQLite row per resource costs
/// more than parsing the resource (two B-trees keyed by random HMACs), so the writer appends each
/// batch's entries to a staging table, one row per batch and partition of patients, and a merge at
/// the end of the run folds them into one row per patient (<see cref="FactMaterializer"/>). Both steps
/// commit in transactions, so a run killed at any point leaves either staged rows (merged by the next
/// run) or merged patients, never a half-written one; and since a resource already stored with the
/// same content is recognized by its key and hash, re-running an ingest changes nothing.
/// </summary>
internal sealed class IngestWriter(SqliteConnection connection, long memoryBytes) : IDisposable
{
    /// <summary>Patients are partitioned by the first byte of their pseudonym, so a merge holds 1/256 of a run in memory.</summary>
    public const int Partitions = 256;

    // Each partition's staged entries, in blocks that grow from 4 KiB to 128 KiB (a small run stays small; a
    // large one's blocks are allocated straight in the large-object heap, where entries held until the merge
    // are not copied from generation to generation). An entry never straddles two blocks.
    private const int FirstBlock = 4096, LargestBlock = 128 * 1024;
    private readonly byte[]?[] _open = new byte[]?[Partitions];
    private readonly int[] _used = new int[Partitions];
    private readonly List<ReadOnlyMemory<byte>>[] _held = [.. Enumerable.Range(0, Partitions).Select(_ => new List<ReadOnlyMemory<byte>>())];
    private readonly List<object?[]> _quarantine = [];
    private readonly Statements _sql = new(connection);
    private long _bytesInMemory;

    public void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason) =>
        _quarantine.Add([line.SourceHash, line.LineNumber, line.ByteOffset, lineHmac, reason.Code, reason.Text, DateTimeOffset.UtcNow.ToString("O")]);

    /// <summary>Entries staged by this run so far (sizes the merge's key filter).</summary>
    public long StagedEntries { get; private set; }

    /// <summary>Buffers an entry for its group (a patient's pseudonym, or a group of resources no patient owns).</summary>
    public void Stage(GroupKey group, ReadOnlySpan<byte> entry)
    {
        StagedEntries++;
        var part = group.Partition;
        var length = GroupKey.Size + entry.Length;
        var block = _open[part];
        if (block is null || _used[part] + length > block.Length)
        {
            if (block is not null)
            {
                Hold(part);
            }

            block = _open[part] = new byte[Math.Max(Math.Min(block is null ? FirstBlock : block.Length * 2, LargestBlock), length)];
        }

        group.Write(block.AsSpan(_used[part]));
        entry.CopyTo(block.AsSpan(_used[part] + GroupKey.Size));
        _used[part] += length;
        _bytesInMemory += length;
    }

    /// <summary>The open block's entries join what is held, and the block is closed (its unused tail is left).</summary>
    private void Hold(int part)
    {
        if (_open[part] is { } block && _used[part] > 0)
        {
            _held[part].Add(block.AsMemory(0, _used[part]));
        }

        (_open[part], _used[part]) = (null, 0);
    }

    /// <summary>
    /// Ends a batch, in the current transaction: quarantine rows are written; staged entries stay in
    /// memory up to the ingest's memory limit, beyond which everything held is spilled to the staging
    /// table (so memory stays flat whatever the export's size). Held entries are not durable, and need
    /// not be: a run killed before its merge committed nothing from them, and its re-run reads them again.
    /// </summary>
    public void Flush()
    {
        if (_bytesInMemory > memoryBytes)
        {
            Spill();
        }

        foreach (var row in _quarantine)
        {
            _sql.Execute("INSERT OR IGNORE INTO quarantine(source_hash, line_no, byte_offset, line_hmac, reason_code, reason, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?)", row);
        }

        _quarantine.Clear();
    }

    /// <summary>What is held in memory for a partition, oldest first (after whatever was spilled for it).</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Held(int part)
    {
        Hold(part);
        return _held[part];
    }

    public IEnumerable<int> HeldPartitions() => Enumerable.Range(0, Partitions).Where(p => _held[p].Count > 0 || _used[p] > 0);

    public void Dispose() => _sql.Dispose();

    private void Spill()
    {
        for (var part = 0; part < Partitions; part++)
        {
            Hold(part);
            foreach (var chunk in _held[part])
            {
                _sql.Execute("INSERT INTO ingest_staging(part, data) VALUES (?, ?)", part, chunk.ToArray());
            }

            _held[part].Clear();
        }

        _bytesInMemory = 0;
    }
}

/// <summary>What a merge did: resources whose stored copy was already identical, and patients whose facts changed.</summary>
internal readonly record struct MergeResult(long Unchanged, int PatientsUpdated);

/// <summary>
/// Whom a staged entry belongs to: a patient (the first 16 bytes of its pseudonym) or, for resources no
/// patient owns, the group of their keys' first byte. Staged as a marker byte and the 16 bytes; its text
/// (the store's pseudonym column) is the 32-digit hex, or "-" and two hex digits, and the order of
/// <see cref="CompareTo"/> is the ordinal order of that text.
/// </summary>
internal readonly record struct GroupKey(UInt128 Value, bool Ownerless) : IComparable<GroupKey>
{
    public const int Size = 17;
    private const byte OwnedMarker = 0xA0, OwnerlessMarker = 0xA1;

    public static GroupKey Patient(UInt128 pseudonym) => new(pseudonym, false);

    public static GroupKey Unowned(UInt128 resourceKey) => new(resourceKey >> 120 << 120, true);

    /// <summary>Patients are partitioned by the first byte of their pseudonym.</summary>
    public int Partition => (int)(Value >> 120);

    public override string ToString() => Ownerless
        ? "-" + Partition.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)
        : Value.ToString("x32", System.Globalization.CultureInfo.InvariantCulture);

    public static GroupKey Parse(string text) => text.StartsWith('-')
        ? new((UInt128)Convert.ToByte(text[1..], 16) << 120, true)
        : new(UInt128.Parse(text, System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture), false);

    public int CompareTo(GroupKey other) => Ownerless != other.Ownerless ? (Ownerless ? -1 : 1) : Value.CompareTo(other.Value);

    public void Write(Span<byte> into)
    {
        into[0] = Ownerless ? OwnerlessMarker : OwnedMarker;
        BinaryPrimitives.WriteUInt128BigEndian(into[1..], Value);
    }

    /// <summary>
    /// The group at the start of a staged value and its length. Rows staged by an earlier version (a run
    /// killed before its merge, then the node upgraded) carry the group as text: a length byte and ASCII.
    /// </summary>
    public static (GroupKey Group, int Length) Read(ReadOnlySpan<byte> staged) => staged[0] switch
    {
        OwnedMarker or OwnerlessMarker => (new(BinaryPrimitives.ReadUInt128BigEndian(staged[1..]), staged[0] == OwnerlessMarker), Size),
        var n => (Parse(Encoding.ASCII.GetString(staged.Slice(1, n))), 1 + n),
    };
}

/// <summary>
/// Folds staged entries into one row per patient (patient_facts), partition by partition. Per patient:
/// an entry with a key not stored yet is added, one with the same key and the same body is unchanged,
/// one with a new body replaces the old (a resource updated by a later export). A resource whose
/// patient changed (its key stored under another pseudonym, or seen earlier in the same run) is found
/// through a Bloom filter of stored keys and the run's own keys, and removed from its old patient, the
/// newest version winning. The derived tables (patients,
/// consent states) are rewritten for the patients that changed.
/// Two stages overlap: one thread groups a partition's entries, decides what changes and computes the
/// patients' rows (on all cores), reading the store through its own connection; this thread writes the
/// rows of the partition before. Partitions hold disjoint patients, so the reader never needs a row the
/// writer has not committed.
/// </summary>
internal sealed class FactMaterializer(SqliteConnection connection, IngestWriter? held = null) : IDisposable
{
    private readonly Statements _sql = new(connection);
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

    public MergeResult Run()
    {
        var parts = _sql.Column("SELECT DISTINCT part FROM ingest_staging ORDER BY part").Select(p => (int)(long)p!)
            .Union(held?.HeldPartitions() ?? []).Order().ToList();
        if (parts.Count == 0)
        {
            return new MergeResult(0, 0);
        }

        var filter = StoredKeyFilter.Load(connection, _sql, held?.StagedEntries ?? 0);
        var empty = _sql.Scalar("SELECT EXISTS(SELECT 1 FROM patient_facts)") is 0L; // a first ingest looks nothing up
        var updated = new HashSet<string>(StringComparer.Ordinal);
        using var reading = new SqliteConnection(connection.ConnectionString);
        reading.Open();
        using var readSql = new Statements(reading);
        using var queue = new System.Collections.Concurrent.BlockingCollection<PreparedPartition>(boundedCapacity: 2);
        using var stop = new CancellationTokenSource();
        var producer = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (var part in parts)
                {
                    _preparing.Start();
                    var prepared = Prepare(part, readSql, filter, empty);
                    _preparing.Stop();
                    queue.Add(prepared, stop.Token);
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

        // Checkpoints (copying the WAL into the database and syncing it) run on their own connection while the
        // merge writes, instead of inside the writer's commits: the disk works while the cores compute. Passive
        // checkpoints never block the writer, and copy only committed transactions (SQLite WAL, "Checkpointing").
        _sql.Rows("PRAGMA wal_autocheckpoint=0");
        using var merged = new ManualResetEventSlim();
        var checkpointer = Task.Factory.StartNew(() =>
        {
            using var checkpoints = new SqliteConnection(connection.ConnectionString);
            checkpoints.Open();
            using var sql = new Statements(checkpoints);
            while (!merged.Wait(100))
            {
                sql.Rows("PRAGMA wal_checkpoint(PASSIVE)");
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        var transaction = connection.BeginTransaction();
        var pending = 0L;
        var written = false;
        try
        {
            foreach (var prepared in queue.GetConsumingEnumerable())
            {
                _writing.Start();
                foreach (var row in prepared.Rows)
                {
                    Write(row);
                    if (row.Group[0] != '-')
                    {
                        updated.Add(row.Group);
                    }
                }

                _sql.Execute("DELETE FROM ingest_staging WHERE part=?", prepared.Part);
                pending += prepared.Entries;
                if (pending >= CommitEntries || prepared.Part == parts[^1])
                {
                    // Partitions are committed together up to a size: fewer commits, and a run killed here still
                    // leaves each partition either merged or staged.
                    _committing.Start();
                    filter.Touch(_sql);
                    transaction.Commit();
                    transaction.Dispose();
                    transaction = connection.BeginTransaction();
                    pending = 0;
                    _committing.Stop();
                }

                _writing.Stop();
            }

            written = true;
        }
        finally
        {
            if (!written)
            {
                stop.Cancel();
                producer.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait();
            }

            transaction.Dispose();
            merged.Set();
            checkpointer.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Wait();
            _sql.Rows($"PRAGMA wal_autocheckpoint={Storage.NodeStore.BulkWalAutocheckpointPages(connection)}");
        }

        producer.GetAwaiter().GetResult(); // the producer's own error surfaces here
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
        filter.Save(_sql);
        return new MergeResult(_unchanged, updated.Count);
    }

    public void Dispose() => _sql.Dispose();

    /// <summary>A partition's entries grouped by patient, the merge decisions in order (the filter sees keys one by one), and the changed patients' rows.</summary>
    private PreparedPartition Prepare(int part, Statements readSql, StoredKeyFilter filter, bool empty)
    {
        var groups = new Dictionary<GroupKey, List<ReadOnlyMemory<byte>>>();
        long count = 0;
        foreach (var data in readSql.Column("SELECT data FROM ingest_staging WHERE part=? ORDER BY id", part).Select(d => (ReadOnlyMemory<byte>)(byte[])d!).Concat(held?.Held(part) ?? []))
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
        var newest = new Dictionary<UInt128, (string Group, long Version)>();
        var holders = new List<(string Group, byte[] Data)>();
        foreach (var row in _sql.Rows("SELECT pseudonym, data FROM patient_facts"))
        {
            var (group, data) = ((string)row[0]!, (byte[])row[1]!);
            var holds = false;
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                var key = EntryCodec.Key(data.AsSpan(offset));
                if (_candidates.Contains(key))
                {
                    holds = true;
                    var version = EntryCodec.Version(data.AsSpan(offset));
                    if (!newest.TryGetValue(key, out var best) || version > best.Version)
                    {
                        newest[key] = (group, version);
                    }
                }
            }

            if (holds)
            {
                holders.Add((group, data));
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
                Write(PatientRow.Of(group, kept, consents));
                if (group[0] != '-')
                {
                    changed.Add(group);
                }
            }
        }

        _candidates.Clear();
        return changed;
    }

    private static List<ReadOnlyMemory<byte>> Load(Statements sql, string group)
    {
        var data = sql.Scalar("SELECT data FROM patient_facts WHERE pseudonym=?", group) as byte[];
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

    /// <summary>Writes a patient's row and the tables derived from it (demographics; consent states when its consents changed).</summary>
    private void Write(PatientRow row)
    {
        if (row.Data is null)
        {
            _sql.Execute("DELETE FROM patient_facts WHERE pseudonym=?", row.Group);
        }
        else
        {
            _sql.Execute("INSERT OR REPLACE INTO patient_facts(pseudonym, data, entries, facts, last_year, sensitive, code_lists) VALUES (?, ?, ?, ?, ?, ?, ?)",
                row.Group, row.Data, row.Entries, row.Facts, row.LastYear, row.Sensitive, row.CodeLists);
            if (row.Patient is { } patient)
            {
                _sql.Execute("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year, birth_year, age_90_plus) VALUES (?, ?, ?, ?, ?, ?)",
                    row.Group, patient.Sex, patient.Zip3, patient.DeceasedYear, patient.BirthYear, patient.NinetyPlus ? 1 : 0);
            }
        }

        if (row.ConsentStates is { } states)
        {
            _sql.Execute("DELETE FROM consent_states WHERE pseudonym=?", row.Group);
            foreach (var (purpose, year, state) in states)
            {
                _sql.Execute("INSERT INTO consent_states(pseudonym, purpose, year, state) VALUES (?, ?, ?, ?)", row.Group, purpose, year, state);
            }
        }
    }

    /// <summary>A patient's row as it will be written, computed off the writer's thread.</summary>
    private sealed record PatientRow(string Group, byte[]? Data, int Entries, int Facts, int? LastYear, string? Sensitive, string? CodeLists, StoredPatient? Patient, List<(string, int, string)>? ConsentStates)
    {
        /// <summary>The row's code_lists column: the one tag all its entries share (null: built-in lists only), or "mixed".</summary>
        public const string MixedLists = "mixed";
        private const string NoLists = "";

        public static PatientRow Of(string group, List<ReadOnlyMemory<byte>> entries, bool consentsChanged)
        {
            var consents = new List<StoredConsent>();
            byte[]? data = null;
            int facts = 0;
            int? lastYear = null;
            StoredPatient? patient = null;
            string? codeLists = null;
            var sensitive = new Dictionary<string, int>(StringComparer.Ordinal);
            if (entries.Count > 0)
            {
                data = new byte[entries.Sum(e => e.Length)];
                var at = 0;
                foreach (var e in entries)
                {
                    e.Span.CopyTo(data.AsSpan(at));
                    at += e.Length;
                    var (special, n, last, lists) = EntryCodec.Summarize(e.Span, FeatureSchema.LastYear, sensitive);
                    codeLists = at == e.Length ? lists ?? NoLists : codeLists == (lists ?? NoLists) ? codeLists : MixedLists;
                    facts += n;
                    lastYear = last > lastYear || lastYear is null ? last : lastYear;
                    patient = special?.Patient ?? patient;
                    if (special?.Consent is { } consent)
                    {
                        consents.Add(consent);
                    }
                }
            }

            var states = group[0] != '-' && consentsChanged ? FeatureBuilder.ConsentStates(consents).ToList() : null;
            var flagged = sensitive.Count == 0 ? null : string.Join(';', sensitive.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
            return new PatientRow(group, data, entries.Count, facts, lastYear, flagged, codeLists == NoLists ? null : codeLists, patient, states);
        }
    }
}

/// <summary>
/// A Bloom filter (Bloom 1970) over every resource key stored, persisted with the store, so that a
/// key new to its patient costs no lookup unless it may exist elsewhere. Sized for the keys stored plus
/// those a run brings, with room to double (24 bits per key: ~0.1% false positives, any of them costing
/// one scan of the store in that run), and kept while it is at least half that size. Keys are HMAC
/// outputs, so slices of their bits are the independent hash functions. The filter is trusted only if
/// it was saved after the store's last merge; otherwise (a run killed mid-merge) it is rebuilt.
/// </summary>
internal sealed class StoredKeyFilter
{
    private const int MinBits = 20, MaxBits = 31;
    private readonly ulong[] _words;
    private readonly int _log2;
    private long _generation;

    private StoredKeyFilter(int log2, ulong[]? words, long generation)
    {
        _log2 = log2;
        _words = words ?? new ulong[(1L << log2) / 64];
        _generation = generation;
    }

    /// <summary>The saved filter, or one rebuilt from the store's keys, sized for the keys stored and those incoming.</summary>
    public static StoredKeyFilter Load(SqliteConnection connection, Statements sql, long incoming)
    {
        var generation = sql.Scalar("SELECT value FROM store_meta WHERE key='generation'") as long? ?? 0;
        var saved = sql.Rows("SELECT value, data FROM store_meta WHERE key='key_filter_blocked'").FirstOrDefault();
        var keys = sql.Scalar("SELECT COALESCE(SUM(entries), 0) FROM patient_facts") as long? ?? 0;
        var log2 = Math.Clamp(64 - (int)ulong.LeadingZeroCount((ulong)Math.Max(1, (((keys + incoming) * 2) + 100_000) * 24)), MinBits, MaxBits);
        if (saved is [long savedGeneration, byte[] data] && savedGeneration == generation && data.Length * 16L >= 1L << log2 && (data.Length & (data.Length - 1)) == 0)
        {
            var words = new ulong[data.Length / 8];
            Buffer.BlockCopy(data, 0, words, 0, data.Length);
            return new StoredKeyFilter(System.Numerics.BitOperations.Log2((ulong)data.Length * 8), words, generation);
        }

        // Missing, stale or under half the size the store and the run call for (then over ~1% false positives): rebuild from every stored key.
        var filter = new StoredKeyFilter(log2, null, generation);
        foreach (var row in sql.Column("SELECT data FROM patient_facts"))
        {
            var bytes = (byte[])row!;
            foreach (var (offset, _) in EntryCodec.Split(bytes))
            {
                filter.Add(EntryCodec.Key(bytes.AsSpan(offset)));
            }
        }

        return filter;
    }

    public void Add(UInt128 key)
    {
        _words[Word(key)] |= Bits(key);
    }

    public bool MayContain(UInt128 key)
    {
        var bits = Bits(key);
        return (_words[Word(key)] & bits) == bits;
    }

    /// <summary>A merge step committed: the store moved on, so a filter saved earlier is stale until <see cref="Save"/>.</summary>
    public void Touch(Statements sql)
    {
        _generation++;
        sql.Execute("INSERT INTO store_meta(key, value) VALUES ('generation', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value", _generation);
    }

    public void Save(Statements sql)
    {
        var bytes = new byte[_words.Length * 8];
        Buffer.BlockCopy(_words, 0, bytes, 0, bytes.Length);
        sql.Execute("INSERT INTO store_meta(key, value, data) VALUES ('key_filter_blocked', ?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, data=excluded.data", _generation, bytes);
        sql.Execute("DELETE FROM store_meta WHERE key='key_filter'"); // the earlier, unblocked layout
    }

    // A blocked Bloom filter (Putze, Sanders & Singler 2007): the four bits of a key are in one 64-bit
    // word, so a lookup costs one cache miss instead of four. The word comes from the key's high half,
    // the four positions in it from 6-bit slices of the low half (keys are HMAC outputs: independent bits).
    private long Word(UInt128 key) => (long)((ulong)(key >> 64) & ((1UL << (_log2 - 6)) - 1));

    private static ulong Bits(UInt128 key)
    {
        var low = (ulong)key;
        return (1UL << (int)(low & 63)) | (1UL << (int)((low >> 6) & 63)) | (1UL << (int)((low >> 12) & 63)) | (1UL << (int)((low >> 18) & 63));
    }
}

/// <summary>
/// Prepared statements bound and stepped through SQLite's C API: ADO.NET's per-execution parameter
/// binding by name costs more than the insert itself here.
/// </summary>
internal sealed class Statements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, sqlite3_stmt> _statements = [];

    public void Execute(string sql, params object?[] values)
    {
        var statement = Prepare(sql, values);
        var step = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (step != raw.SQLITE_DONE)
        {
            Check(step);
        }
    }

    public object? Scalar(string sql, params object?[] values) => Rows(sql, values).Select(r => r[0]).FirstOrDefault();

    public IEnumerable<object?> Column(string sql, params object?[] values) => Rows(sql, values).Select(r => r[0]);

    /// <summary>All rows, read before returning (a statement is reused, so its rows cannot stay open).</summary>
    public List<object?[]> Rows(string sql, params object?[] values)
    {
        var statement = Prepare(sql, values);
        var rows = new List<object?[]>();
        try
        {
            int step;
            while ((step = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                var row = new object?[raw.sqlite3_column_count(statement)];
                for (var c = 0; c < row.Length; c++)
                {
                    row[c] = raw.sqlite3_column_type(statement, c) switch
                    {
                        raw.SQLITE_NULL => null,
                        raw.SQLITE_INTEGER => raw.sqlite3_column_int64(statement, c),
                        raw.SQLITE_FLOAT => raw.sqlite3_column_double(statement, c),
                        raw.SQLITE_BLOB => raw.sqlite3_column_blob(statement, c).ToArray(),
                        _ => raw.sqlite3_column_text(statement, c).utf8_to_string(),
                    };
                }

                rows.Add(row);
            }

            Check(step);
            return rows;
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }

    private sqlite3_stmt Prepare(string sql, object?[] values)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            Check(raw.sqlite3_prepare_v2(connection.Handle, sql, out statement));
            _statements[sql] = statement;
        }

        for (var c = 0; c < values.Length; c++)
        {
            Check(values[c] switch
            {
                null => raw.sqlite3_bind_null(statement, c + 1),
                string text => raw.sqlite3_bind_text(statement, c + 1, text),
                int i => raw.sqlite3_bind_int64(statement, c + 1, i),
                long l => raw.sqlite3_bind_int64(statement, c + 1, l),
                double d => raw.sqlite3_bind_double(statement, c + 1, d),
                byte[] blob => raw.sqlite3_bind_blob(statement, c + 1, blob),
                var other => throw new InvalidOperationException($"Unsupported column type {other.GetType().Name}."),
            });
        }

        return statement;
    }

    private void Check(int code)
    {
        if (code is not (raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            throw new SqliteException(raw.sqlite3_errmsg(connection.Handle).utf8_to_string(), code);
        }
    }
}
