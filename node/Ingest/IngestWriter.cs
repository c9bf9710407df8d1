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

    private readonly MemoryStream?[] _parts = new MemoryStream?[Partitions];
    private readonly List<byte[]>[] _held = [.. Enumerable.Range(0, Partitions).Select(_ => new List<byte[]>())];
    private readonly List<object?[]> _quarantine = [];
    private readonly Statements _sql = new(connection);
    private long _heldBytes;

    public void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason) =>
        _quarantine.Add([line.SourceHash, line.LineNumber, line.ByteOffset, lineHmac, reason.Code, reason.Text, DateTimeOffset.UtcNow.ToString("O")]);

    /// <summary>Buffers an entry for its group (a patient's pseudonym, or a group of resources no patient owns).</summary>
    public void Stage(string group, byte[] entry)
    {
        var part = FactMaterializer.Partition(group);
        var buffer = _parts[part] ??= new MemoryStream(4096);
        buffer.WriteByte((byte)group.Length);
        Span<byte> name = stackalloc byte[64];
        var n = Encoding.ASCII.GetBytes(group, name);
        buffer.Write(name[..n]);
        buffer.Write(entry);
    }

    /// <summary>
    /// Ends a batch, in the current transaction: quarantine rows are written; staged entries stay in
    /// memory up to the ingest's memory limit, beyond which everything held is spilled to the staging
    /// table (so memory stays flat whatever the export's size). Held entries are not durable, and need
    /// not be: a run killed before its merge committed nothing from them, and its re-run reads them again.
    /// </summary>
    public void Flush()
    {
        for (var part = 0; part < Partitions; part++)
        {
            if (_parts[part] is { Length: > 0 } buffer)
            {
                _held[part].Add(buffer.ToArray());
                _heldBytes += buffer.Length;
                buffer.SetLength(0);
            }
        }

        if (_heldBytes > memoryBytes)
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
    public IReadOnlyList<byte[]> Held(int part) => _held[part];

    public IEnumerable<int> HeldPartitions() => Enumerable.Range(0, Partitions).Where(p => _held[p].Count > 0);

    public void Dispose() => _sql.Dispose();

    private void Spill()
    {
        for (var part = 0; part < Partitions; part++)
        {
            foreach (var chunk in _held[part])
            {
                _sql.Execute("INSERT INTO ingest_staging(part, data) VALUES (?, ?)", part, chunk);
            }

            _held[part].Clear();
        }

        _heldBytes = 0;
    }
}

/// <summary>What a merge did: resources whose stored copy was already identical, and patients whose facts changed.</summary>
internal readonly record struct MergeResult(long Unchanged, int PatientsUpdated);

/// <summary>
/// Folds staged entries into one row per patient (patient_facts), partition by partition, one
/// transaction each. Per patient: an entry with a key not stored yet is added, one with the same key
/// and content hash is unchanged, one with a new hash replaces the old (a resource updated by a later
/// export). A resource whose patient changed (its key stored under another pseudonym) is found through
/// a Bloom filter of stored keys and removed from its old patient, the newest version winning. The
/// derived tables (patients, consents, consent states) are rewritten for the patients that changed.
/// </summary>
internal sealed class FactMaterializer(SqliteConnection connection, IngestWriter? held = null) : IDisposable
{
    private readonly Statements _sql = new(connection);
    private readonly Dictionary<UInt128, (string Group, long Version)> _candidates = [];
    private const long CommitEntries = 200_000;
    private SqliteTransaction? _transaction;

    public static int Partition(string group) =>
        Convert.ToInt32(group.Length >= 2 && group[0] == '-' ? group.Substring(1, 2) : group[..2], 16);

    public MergeResult Run()
    {
        var parts = _sql.Column("SELECT DISTINCT part FROM ingest_staging ORDER BY part").Select(p => (int)(long)p!)
            .Union(held?.HeldPartitions() ?? []).Order().ToList();
        if (parts.Count == 0)
        {
            return new MergeResult(0, 0);
        }

        var filter = StoredKeyFilter.Load(connection, _sql);
        var empty = _sql.Scalar("SELECT EXISTS(SELECT 1 FROM patient_facts)") is 0L; // a first ingest looks nothing up
        long unchanged = 0;
        var updated = new HashSet<string>(StringComparer.Ordinal);
        var pending = 0L;
        _transaction = connection.BeginTransaction();
        foreach (var part in parts)
        {
            var groups = new SortedDictionary<string, List<byte[]>>(StringComparer.Ordinal);
            foreach (var data in _sql.Column("SELECT data FROM ingest_staging WHERE part=? ORDER BY id", part).Cast<byte[]>().Concat(held?.Held(part) ?? []))
            {
                for (var offset = 0; offset < data.Length;)
                {
                    var group = Encoding.ASCII.GetString(data, offset + 1, data[offset]);
                    offset += 1 + data[offset];
                    var length = EntryCodec.Length(data.AsSpan(offset));
                    (groups.TryGetValue(group, out var list) ? list : groups[group] = []).Add(data.AsSpan(offset, length).ToArray());
                    offset += length;
                }
            }

            // Merge decisions in order (cheap, and the filter sees keys one by one), then the patients'
            // values in parallel, then their rows written by this one connection.
            var changes = new List<(string Group, List<byte[]> Entries, bool Consents)>();
            foreach (var (group, incoming) in groups)
            {
                var entries = empty ? [] : Load(group);
                var index = new Dictionary<UInt128, int>(entries.Count + incoming.Count);
                for (var i = 0; i < entries.Count; i++)
                {
                    index[EntryCodec.Key(entries[i])] = i;
                }

                var changed = false;
                var consents = false;
                foreach (var entry in incoming)
                {
                    var key = EntryCodec.Key(entry);
                    if (index.TryGetValue(key, out var at))
                    {
                        if (EntryCodec.Hash(entries[at]) == EntryCodec.Hash(entry))
                        {
                            unchanged++;
                            continue;
                        }

                        consents |= EntryCodec.IsConsent(entries[at]) || EntryCodec.IsConsent(entry);
                        entries[at] = entry;
                    }
                    else
                    {
                        if (filter.MayContain(key))
                        {
                            // Stored before under another patient, or seen earlier in this run (or a false positive).
                            _candidates[key] = (group, EntryCodec.Version(entry));
                        }

                        filter.Add(key);
                        index[key] = entries.Count;
                        entries.Add(entry);
                    }

                    changed = true;
                    consents |= EntryCodec.IsConsent(entry);
                }

                if (changed)
                {
                    changes.Add((group, entries, consents));
                    if (group[0] != '-')
                    {
                        updated.Add(group);
                    }
                }
            }

            var rows = new PatientRow[changes.Count];
            Parallel.For(0, changes.Count, i => rows[i] = PatientRow.Of(changes[i].Group, changes[i].Entries, changes[i].Consents));
            foreach (var row in rows)
            {
                Write(row);
            }

            _sql.Execute("DELETE FROM ingest_staging WHERE part=?", part);
            pending += groups.Sum(g => g.Value.Count);
            if (pending >= CommitEntries || part == parts[^1])
            {
                // Partitions are committed together up to a size: fewer commits, and a run killed here still
                // leaves each partition either merged or staged.
                filter.Touch(_sql);
                _transaction!.Commit();
                _transaction.Dispose();
                _transaction = part == parts[^1] ? null : connection.BeginTransaction();
                pending = 0;
            }
        }

        if (_candidates.Count > 0)
        {
            using var transaction = _transaction = connection.BeginTransaction();
            foreach (var group in ResolveMoves())
            {
                updated.Add(group);
            }

            filter.Touch(_sql);
            transaction.Commit();
        }

        filter.Save(_sql);
        return new MergeResult(unchanged, updated.Count);
    }

    public void Dispose() => _sql.Dispose();

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
                if (_candidates.ContainsKey(key))
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
            var kept = new List<byte[]>();
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

                kept.Add(data.AsSpan(offset, length).ToArray());
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

    private List<byte[]> Load(string group)
    {
        var data = _sql.Scalar("SELECT data FROM patient_facts WHERE pseudonym=?", group) as byte[];
        var entries = new List<byte[]>();
        if (data is not null)
        {
            foreach (var (offset, length) in EntryCodec.Split(data))
            {
                entries.Add(data.AsSpan(offset, length).ToArray());
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

        public static PatientRow Of(string group, List<byte[]> entries, bool consentsChanged)
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
                    e.CopyTo(data, at);
                    at += e.Length;
                    var (special, n, last, lists) = EntryCodec.Summarize(e, FeatureSchema.LastYear, sensitive);
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
/// key new to its patient costs no lookup unless it may exist elsewhere. Sized to the store (about 24
/// bits per key: ~0.1% false positives, each costing one scan of the store in that run). Keys are HMAC
/// outputs, so slices of their bits are the independent hash functions. The filter is trusted only if
/// it was saved after the store's last merge; otherwise (a run killed mid-merge) it is rebuilt.
/// </summary>
internal sealed class StoredKeyFilter
{
    private const int MinBits = 20, MaxBits = 31;
    private readonly ulong[] _words;
    private readonly int _log2;
    private long _generation;
    private long _added;

    private StoredKeyFilter(int log2, ulong[]? words, long generation)
    {
        _log2 = log2;
        _words = words ?? new ulong[(1L << log2) / 64];
        _generation = generation;
    }

    public static StoredKeyFilter Load(SqliteConnection connection, Statements sql)
    {
        var generation = sql.Scalar("SELECT value FROM store_meta WHERE key='generation'") as long? ?? 0;
        var saved = sql.Rows("SELECT value, data FROM store_meta WHERE key='key_filter'").FirstOrDefault();
        var keys = sql.Scalar("SELECT COALESCE(SUM(entries), 0) FROM patient_facts") as long? ?? 0;
        var log2 = Math.Clamp(64 - (int)ulong.LeadingZeroCount((ulong)Math.Max(1, (keys * 2 + 100_000) * 24)), MinBits, MaxBits);
        if (saved is [long savedGeneration, byte[] data] && savedGeneration == generation && data.Length * 8L >= 1L << log2 && (data.Length & (data.Length - 1)) == 0)
        {
            var words = new ulong[data.Length / 8];
            Buffer.BlockCopy(data, 0, words, 0, data.Length);
            return new StoredKeyFilter(System.Numerics.BitOperations.Log2((ulong)data.Length * 8), words, generation);
        }

        // Missing, stale or too small for the store: rebuild from every stored key.
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
        _added++;
        for (var k = 0; k < 4; k++)
        {
            var bit = Position(key, k);
            _words[bit >> 6] |= 1UL << (int)(bit & 63);
        }
    }

    public bool MayContain(UInt128 key)
    {
        for (var k = 0; k < 4; k++)
        {
            var bit = Position(key, k);
            if ((_words[bit >> 6] & (1UL << (int)(bit & 63))) == 0)
            {
                return false;
            }
        }

        return true;
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
        sql.Execute("INSERT INTO store_meta(key, value, data) VALUES ('key_filter', ?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value, data=excluded.data", _generation, bytes);
    }

    /// <summary>The k-th of four positions: 32-bit slices of the 128-bit key, masked to the filter's size.</summary>
    private ulong Position(UInt128 key, int k) => (ulong)(key >> (32 * k)) & ((1UL << _log2) - 1);
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
