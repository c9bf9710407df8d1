using System.Text.Json;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Writes one ingest batch: de-identified facts, resource keys, patients, consents, quarantine rows.
/// Rows are buffered and written at <see cref="Flush"/> on prepared statements, inside the caller's
/// transaction (opened on the same connection), so a batch is all or nothing. Lookups of
/// already-stored content see the rows buffered in this batch. Records are flagged sensitive by
/// <paramref name="sensitiveCodes"/> (the built-in lists and the site policy's custom ones); with custom lists, a
/// resource's stored content hash carries their fingerprint, so a change of lists makes the next ingest of the same
/// export re-flag every resource, and resources flagged under other lists can be counted (FeatureBuilder).
/// </summary>
internal sealed class IngestWriter(SqliteConnection connection, CodeList? sensitiveCodes = null, string? sensitiveCodesFingerprint = null) : IDisposable
{
    private readonly CodeList _sensitive = sensitiveCodes ?? CodeList.Sensitive;

    private readonly Dictionary<string, string> _pendingResources = new(StringComparer.Ordinal);
    private readonly List<object?[]> _resources = [];
    private readonly List<object?[]> _facts = [];
    private readonly List<object?[]> _quarantine = [];
    private readonly List<object?[]> _patients = [];
    private readonly List<object?[]> _consents = [];
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, sqlite3_stmt> _statements = [];
    private readonly KeyFilter _known = KeyFilter.Load(connection);

    public void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason) =>
        _quarantine.Add([line.SourceHash, line.LineNumber, line.ByteOffset, lineHmac, reason.Code, reason.Text, DateTimeOffset.UtcNow.ToString("O")]);

    /// <summary>Buffers a record's facts under its resource key and patient pseudonym (both keyed hashes); false when the same content is already stored.</summary>
    public bool Store(ClinicalRecord record, string key, string? pseudonym, string contentHash)
    {
        contentHash = FeatureBuilder.WithCodeLists(contentHash, sensitiveCodesFingerprint);
        var existing = _pendingResources.TryGetValue(key, out var pending) ? pending
            : _known.MayContain(key) ? Scalar("SELECT content_hash FROM resources WHERE resource_key=?1", key)
            : null;
        _known.Add(key);
        if (existing == contentHash)
        {
            return false;
        }

        if (existing is not null)
        {
            // An update of a resource stored before: its old facts go, and its old patient is rebuilt too.
            Flush();
            if (Scalar("SELECT pseudonym FROM resources WHERE resource_key=?1", key) is string previous)
            {
                _dirty.Add(previous);
                Execute("DELETE FROM facts WHERE pseudonym=?1 AND resource_key=?2", previous, key);
            }
        }

        _pendingResources[key] = contentHash;
        _resources.Add([key, record.Type, pseudonym, contentHash]);
        var sensitiveLabel = record.SecurityLabels.Select(l => l.Split('|', 2)).Select(p => _sensitive.Match(p[0], p.ElementAtOrDefault(1))).FirstOrDefault(s => s is not null);
        var seq = 0;
        void Fact(int year, string kind, string? category, double value, string? sensitive)
        {
            if (pseudonym is not null)
            {
                _facts.Add([pseudonym, key, seq++, year, kind, category, value, sensitive]);
            }
        }

        switch (record)
        {
            case PatientRecord p when pseudonym is not null:
                var (birthYear, ninetyPlus) = SafeHarbor.BirthYear(p.BirthDate, p.DeceasedYear, DateTime.UtcNow.Year);
                _patients.Add([pseudonym, p.Sex, p.Zip3, p.DeceasedYear, birthYear, ninetyPlus ? 1 : 0]);

                break;
            case ConditionRecord cond when cond.OnsetYear is { } year:
                var flag = cond.Codes.Select(x => CodeList.ChronicConditions.Match(x.System, x.Code)).FirstOrDefault(x => x is not null);
                var sensitive = sensitiveLabel ?? _sensitive.MatchAny(cond.Codes);
                if (flag is not null || sensitive is not null)
                {
                    Fact(year, "condition", flag, 1, sensitive);
                }

                if (cond.Codes.Any(x => CodeList.MedicareProxies.Match(x.System, x.Code) is not null))
                {
                    Fact(year, "condition", FeatureSchema.EsrdProxy, 1, sensitive);
                }

                break;
            case EncounterRecord e when e.Year is { } year:
                Fact(year, "encounter", e.Class switch { "IMP" or "ACUTE" or "NONAC" => "inpatient", "EMER" => "emergency", _ => "ambulatory" }, e.Days,
                    sensitiveLabel ?? _sensitive.MatchAny(e.Reasons));
                break;
            case ObservationRecord o when o.Year is { } year:
                foreach (var (loinc, value) in o.Values)
                {
                    var lab = loinc switch { "4548-4" => "hba1c", "8480-6" => "sbp", "8462-4" => "dbp", _ => null };
                    if (lab is not null)
                    {
                        Fact(year, "lab", lab, (double)value, sensitiveLabel);
                    }
                }

                break;
            case CostRecord cost when cost.Year is { } year && cost.Amount is { } amount:
                Fact(year, "cost", cost.Type, (double)amount, sensitiveLabel);
                break;
            case ConsentRecord consent when pseudonym is not null:
                _consents.Add([key, pseudonym, consent.Status, consent.Scope, consent.Year, JsonSerializer.Serialize(consent.Rules)]);
                break;
        }

        if (pseudonym is not null)
        {
            _dirty.Add(pseudonym);
        }

        return true;
    }

    /// <summary>Writes everything buffered, in the current transaction.</summary>
    public void Flush()
    {
        // Rows go in key order (stable, so a later version of a key in the batch still wins): the
        // B-trees are keyed by HMACs, and sorted inserts touch each page once per batch, not per row.
        Insert("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year, birth_year, age_90_plus)", 6, ByKey(_patients));
        Insert("INSERT OR REPLACE INTO resources(resource_key, type, pseudonym, content_hash)", 4, ByKey(_resources));
        Insert("INSERT OR REPLACE INTO facts(pseudonym, resource_key, seq, year, kind, category, value, sensitive)", 8, ByKey(_facts));
        Insert("INSERT OR REPLACE INTO consents(resource_key, pseudonym, status, scope, year, rules_json)", 6, ByKey(_consents));
        Insert("INSERT OR IGNORE INTO quarantine(source_hash, line_no, byte_offset, line_hmac, reason_code, reason, quarantined_at)", 7, _quarantine);
        Insert("INSERT OR IGNORE INTO dirty_patients(pseudonym)", 1, [.. _dirty.Order(StringComparer.Ordinal).Select(d => new object?[] { d })]);
        _dirty.Clear();
        _pendingResources.Clear();
    }

    private static List<object?[]> ByKey(List<object?[]> rows)
    {
        var sorted = rows.OrderBy(r => (string)r[0]!, StringComparer.Ordinal).ToList();
        rows.Clear();
        return sorted;
    }

    /// <summary>
    /// Single-row INSERTs on one prepared statement per shape, bound and stepped through SQLite's C API:
    /// ADO.NET's per-execution parameter binding by name costs more than the insert itself here.
    /// </summary>
    private void Insert(string head, int columns, List<object?[]> rows)
    {
        if (rows.Count > 0)
        {
            var sql = head + " VALUES (" + string.Join(",", Enumerable.Repeat("?", columns)) + ")";
            foreach (var row in rows)
            {
                Execute(sql, row);
            }
        }

        rows.Clear();
    }

    private void Check(int code)
    {
        if (code is not (raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            throw new SqliteException(raw.sqlite3_errmsg(connection.Handle).utf8_to_string(), code);
        }
    }

    /// <summary>Releases the prepared statements (before the connection closes).</summary>
    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }

    private string? Scalar(string sql, string key)
    {
        var statement = Statement(sql);
        Bind(statement, [key]);
        try
        {
            var step = raw.sqlite3_step(statement);
            if (step == raw.SQLITE_ROW)
            {
                return raw.sqlite3_column_type(statement, 0) == raw.SQLITE_NULL ? null : raw.sqlite3_column_text(statement, 0).utf8_to_string();
            }

            Check(step);
            return null;
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    private void Execute(string sql, params object?[] values)
    {
        var statement = Statement(sql);
        Bind(statement, values);
        var step = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (step != raw.SQLITE_DONE)
        {
            Check(step);
        }
    }

    private sqlite3_stmt Statement(string sql)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            Check(raw.sqlite3_prepare_v2(connection.Handle, sql, out statement));
            _statements[sql] = statement;
        }

        return statement;
    }

    private void Bind(sqlite3_stmt statement, object?[] row)
    {
        for (var c = 0; c < row.Length; c++)
        {
            var code = row[c] switch
            {
                null => raw.sqlite3_bind_null(statement, c + 1),
                string text => raw.sqlite3_bind_text(statement, c + 1, text),
                int i => raw.sqlite3_bind_int64(statement, c + 1, i),
                long l => raw.sqlite3_bind_int64(statement, c + 1, l),
                double d => raw.sqlite3_bind_double(statement, c + 1, d),
                var other => throw new InvalidOperationException($"Unsupported column type {other.GetType().Name}."),
            };
            Check(code);
        }
    }
}

/// <summary>
/// A Bloom filter (Bloom 1970) over the resource keys stored or seen: a first ingest into an empty
/// store needs no lookup per line, yet memory stays fixed (16 MB: about 0.5% false positives at ten
/// million resources, each one costing only a lookup). Keys are HMAC outputs, so their own bits are
/// the independent hash functions.
/// </summary>
internal sealed class KeyFilter
{
    private const int Bits = 1 << 27;
    private readonly ulong[] _words = new ulong[Bits / 64];

    public static KeyFilter Load(SqliteConnection connection)
    {
        var filter = new KeyFilter();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT resource_key FROM resources";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            filter.Add(reader.GetString(0));
        }

        return filter;
    }

    public void Add(string key)
    {
        for (var k = 0; k < 4; k++)
        {
            var bit = Position(key, k);
            _words[bit >> 6] |= 1UL << (bit & 63);
        }
    }

    public bool MayContain(string key)
    {
        for (var k = 0; k < 4; k++)
        {
            var bit = Position(key, k);
            if ((_words[bit >> 6] & (1UL << (bit & 63))) == 0)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The k-th of four 27-bit positions, from 7 hex digits of the key (the first 28 digits = 112 bits of HMAC output).</summary>
    private static int Position(string key, int k) =>
        (int)(uint.Parse(key.AsSpan(k * 7, 7), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture) & (Bits - 1));
}
