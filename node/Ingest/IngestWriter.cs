using System.Text;
using System.Text.Json;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Writes one ingest batch: de-identified facts, resource keys, quarantine rows. Rows are buffered and
/// written with prepared multi-row statements at <see cref="Flush"/>, inside the caller's transaction, so
/// a batch is all or nothing. Lookups of already-stored content see the rows buffered in this batch.
/// </summary>
internal sealed class IngestWriter(SqliteConnection connection, Pseudonymizer pseudonyms)
{
    private readonly Dictionary<string, string> _pendingResources = new(StringComparer.Ordinal);
    private readonly List<object?[]> _resources = [];
    private readonly List<object?[]> _facts = [];
    private readonly List<object?[]> _ages = [];
    private readonly List<object?[]> _quarantine = [];
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SqliteCommand> _commands = [];
    private static readonly string[] ParameterNames = ["$k", "$a", "$b", "$c", "$d", "$e"];
    private SqliteTransaction? _transaction;

    public void Begin(SqliteTransaction transaction)
    {
        _transaction = transaction;
        foreach (var c in _commands.Values)
        {
            c.Transaction = transaction;
        }
    }

    public void Quarantine(SourceLine line, QuarantineReason reason) =>
        _quarantine.Add([line.SourceHash, line.LineNumber, line.ByteOffset, pseudonyms.Line(line.Bytes.Span), reason.Code, reason.Text, DateTimeOffset.UtcNow.ToString("O")]);

    /// <summary>Buffers a record's facts; false when the same content is already stored.</summary>
    public bool Store(ClinicalRecord record, string contentHash)
    {
        var key = pseudonyms.Resource(record.Type, record.Id);
        var existing = _pendingResources.TryGetValue(key, out var pending) ? pending : Scalar("SELECT content_hash FROM resources WHERE resource_key=$k", key) as string;
        if (existing == contentHash)
        {
            return false;
        }

        var pseudonym = record.PatientId is null ? null : pseudonyms.Patient(record.PatientId);
        if (existing is not null)
        {
            // An update of a resource stored before: its old facts go, and its old patient is rebuilt too.
            Flush();
            if (Scalar("SELECT pseudonym FROM facts WHERE resource_key=$k LIMIT 1", key) is string previous && previous != pseudonym)
            {
                _dirty.Add(previous);
            }

            Execute("DELETE FROM facts WHERE resource_key=$k", key);
        }

        _pendingResources[key] = contentHash;
        _resources.Add([key, record.Type, pseudonym, contentHash]);
        var sensitiveLabel = record.SecurityLabels.Select(l => l.Split('|', 2)).Select(p => CodeList.Sensitive.Match(p[0], p.ElementAtOrDefault(1))).FirstOrDefault(s => s is not null);
        var seq = 0;
        void Fact(int year, string kind, string? category, double value, string? sensitive) =>
            _facts.Add([key, seq++, pseudonym, year, kind, category, value, sensitive]);

        switch (record)
        {
            case PatientRecord p when pseudonym is not null:
                Flush();
                Execute("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year) VALUES ($k, $a, $b, $c)", pseudonym, p.Sex, p.Zip3, p.DeceasedYear);
                Execute("DELETE FROM patient_ages WHERE pseudonym=$k", pseudonym);
                if (p.BirthDate is { } birth)
                {
                    for (var year = Math.Max(FeatureSchema.FirstYear, birth.Year); year <= FeatureSchema.LastYear; year++)
                    {
                        _ages.Add([pseudonym, year, SafeHarbor.AgeInYear(birth, year)]);
                    }
                }

                break;
            case ConditionRecord cond when cond.OnsetYear is { } year:
                var flag = cond.Codes.Select(x => CodeList.ChronicConditions.Match(x.System, x.Code)).FirstOrDefault(x => x is not null);
                var sensitive = sensitiveLabel ?? cond.Codes.Select(x => CodeList.Sensitive.Match(x.System, x.Code)).FirstOrDefault(x => x is not null);
                if (flag is not null || sensitive is not null)
                {
                    Fact(year, "condition", flag, 1, sensitive);
                }

                break;
            case EncounterRecord e when e.Year is { } year:
                Fact(year, "encounter", e.Class switch { "IMP" or "ACUTE" or "NONAC" => "inpatient", "EMER" => "emergency", _ => "ambulatory" }, e.Days,
                    sensitiveLabel ?? e.Reasons.Select(x => CodeList.Sensitive.Match(x.System, x.Code)).FirstOrDefault(x => x is not null));
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
                Flush();
                Execute("INSERT OR REPLACE INTO consents(resource_key, pseudonym, status, scope, year, rules_json) VALUES ($k, $a, $b, $c, $d, $e)",
                    key, pseudonym, consent.Status, consent.Scope, consent.Year, JsonSerializer.Serialize(consent.Rules));
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
        Insert("INSERT OR REPLACE INTO resources(resource_key, type, pseudonym, content_hash)", 4, _resources);
        Insert("INSERT INTO facts(resource_key, seq, pseudonym, year, kind, category, value, sensitive)", 8, _facts);
        Insert("INSERT OR REPLACE INTO patient_ages(pseudonym, year, age)", 3, _ages);
        Insert("INSERT OR IGNORE INTO quarantine(source_hash, line_no, byte_offset, line_hmac, reason_code, reason, quarantined_at)", 7, _quarantine);
        Insert("INSERT OR IGNORE INTO dirty_patients(pseudonym)", 1, [.. _dirty.Select(d => new object?[] { d })]);
        _dirty.Clear();
        _pendingResources.Clear();
    }

    /// <summary>Multi-row INSERTs of up to 100 rows each: one prepared statement per shape.</summary>
    private void Insert(string head, int columns, List<object?[]> rows)
    {
        const int perStatement = 100;
        for (var at = 0; at < rows.Count; at += perStatement)
        {
            var n = Math.Min(perStatement, rows.Count - at);
            var command = Command(head, columns, n);
            for (var r = 0; r < n; r++)
            {
                for (var c = 0; c < columns; c++)
                {
                    command.Parameters[(r * columns) + c].Value = rows[at + r][c] ?? DBNull.Value;
                }
            }

            command.ExecuteNonQuery();
        }

        rows.Clear();
    }

    private SqliteCommand Command(string head, int columns, int rows)
    {
        var cacheKey = head + "#" + rows;
        if (_commands.TryGetValue(cacheKey, out var command))
        {
            return command;
        }

        var sql = new StringBuilder(head).Append(" VALUES ");
        command = connection.CreateCommand();
        for (var r = 0; r < rows; r++)
        {
            sql.Append(r == 0 ? "(" : ",(");
            for (var c = 0; c < columns; c++)
            {
                var name = $"$p{(r * columns) + c}";
                sql.Append(c == 0 ? name : "," + name);
                command.Parameters.Add(new SqliteParameter(name, null));
            }

            sql.Append(')');
        }

        command.CommandText = sql.ToString();
        command.Transaction = _transaction;
        command.Prepare();
        _commands[cacheKey] = command;
        return command;
    }

    private object? Scalar(string sql, string key)
    {
        var command = Simple(sql, 1);
        command.Parameters[0].Value = key;
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    private void Execute(string sql, params object?[] values)
    {
        var command = Simple(sql, values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        command.ExecuteNonQuery();
    }

    private SqliteCommand Simple(string sql, int parameters)
    {
        if (_commands.TryGetValue(sql, out var command))
        {
            return command;
        }

        command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in ParameterNames.Take(parameters))
        {
            command.Parameters.Add(new SqliteParameter(name, null));
        }

        command.Transaction = _transaction;
        command.Prepare();
        _commands[sql] = command;
        return command;
    }
}
