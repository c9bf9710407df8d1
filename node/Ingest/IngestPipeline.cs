using System.Diagnostics;
using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Deidentification;
using FederatedTwin.Node.Features;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>What one ingest run did. accepted + quarantined = lines_read, always.</summary>
public sealed record IngestSummary(long LinesRead, long Accepted, long Quarantined, long Unchanged, IReadOnlyDictionary<string, long> PerType, IReadOnlyDictionary<string, long> QuarantineReasons, long Bytes, double Seconds, int PatientsUpdated);

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
                        connection.Execute("INSERT OR IGNORE INTO quarantine(source_hash, line_no, byte_offset, line_hmac, reason_code, reason, quarantined_at) VALUES (@s, @l, @o, @h, @c, @r, @now)",
                            new { s = sourceHash, l = line.LineNumber, o = line.ByteOffset, h = pseudonyms.Line(line.Bytes.Span), c = reason.Code, r = reason.Text, now = DateTimeOffset.UtcNow.ToString("O") }, transaction);
                    }
                    else
                    {
                        accepted++;
                        perType[record.Type] = perType.GetValueOrDefault(record.Type) + 1;
                        if (!Store(connection, transaction, record, pseudonyms.Content(line.Bytes.Span)))
                        {
                            unchanged++;
                        }
                    }

                    if (++inBatch >= BatchLines)
                    {
                        transaction.Commit();
                        transaction.Dispose();
                        transaction = connection.BeginTransaction();
                        inBatch = 0;
                        progress?.Invoke(read, bytes);
                    }
                }
            }

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

    /// <summary>Stores a record's de-identified facts; false when the same content was already stored.</summary>
    private bool Store(SqliteConnection c, SqliteTransaction t, ClinicalRecord record, string contentHash)
    {
        var pseudonyms = node.Pseudonymizer;
        var key = pseudonyms.Resource(record.Type, record.Id);
        var existing = c.QuerySingleOrDefault<string?>("SELECT content_hash FROM resources WHERE resource_key=@key", new { key }, t);
        if (existing == contentHash)
        {
            return false;
        }

        var pseudonym = record.PatientId is null ? null : pseudonyms.Patient(record.PatientId);
        var previousOwner = c.QuerySingleOrDefault<string?>("SELECT pseudonym FROM facts WHERE resource_key=@key LIMIT 1", new { key }, t);
        c.Execute("DELETE FROM facts WHERE resource_key=@key", new { key }, t);
        c.Execute("INSERT OR REPLACE INTO resources(resource_key, type, pseudonym, content_hash) VALUES (@key, @type, @pseudonym, @contentHash)", new { key, type = record.Type, pseudonym, contentHash }, t);
        var sensitiveLabel = record.SecurityLabels.Select(l => l.Split('|', 2)).Select(p => CodeList.Sensitive.Match(p[0], p.ElementAtOrDefault(1))).FirstOrDefault(s => s is not null);
        var facts = new List<(int Year, string Kind, string? Category, double Value, string? Sensitive)>();
        switch (record)
        {
            case PatientRecord p when pseudonym is not null:
                c.Execute("INSERT OR REPLACE INTO patients(pseudonym, sex, zip3, deceased_year) VALUES (@pseudonym, @sex, @zip3, @deceased)", new { pseudonym, sex = p.Sex, zip3 = p.Zip3, deceased = p.DeceasedYear }, t);
                c.Execute("DELETE FROM patient_ages WHERE pseudonym=@pseudonym", new { pseudonym }, t);
                if (p.BirthDate is { } birth)
                {
                    for (var year = FeatureSchema.FirstYear; year <= FeatureSchema.LastYear; year++)
                    {
                        if (year >= birth.Year)
                        {
                            c.Execute("INSERT INTO patient_ages(pseudonym, year, age) VALUES (@pseudonym, @year, @age)", new { pseudonym, year, age = SafeHarbor.AgeInYear(birth, year) }, t);
                        }
                    }
                }

                break;
            case ConditionRecord cond when cond.OnsetYear is { } year:
                var flag = cond.Codes.Select(x => CodeList.ChronicConditions.Match(x.System, x.Code)).FirstOrDefault(x => x is not null);
                var sensitive = sensitiveLabel ?? cond.Codes.Select(x => CodeList.Sensitive.Match(x.System, x.Code)).FirstOrDefault(x => x is not null);
                if (flag is not null || sensitive is not null)
                {
                    facts.Add((year, "condition", flag, 1, sensitive));
                }

                break;
            case EncounterRecord e when e.Year is { } year:
                facts.Add((year, "encounter", e.Class switch { "IMP" or "ACUTE" or "NONAC" => "inpatient", "EMER" => "emergency", _ => "ambulatory" }, e.Days,
                    sensitiveLabel ?? e.Reasons.Select(x => CodeList.Sensitive.Match(x.System, x.Code)).FirstOrDefault(x => x is not null)));
                break;
            case ObservationRecord o when o.Year is { } year:
                foreach (var (loinc, value) in o.Values)
                {
                    var lab = loinc switch { "4548-4" => "hba1c", "8480-6" => "sbp", "8462-4" => "dbp", _ => null };
                    if (lab is not null)
                    {
                        facts.Add((year, "lab", lab, (double)value, sensitiveLabel));
                    }
                }

                break;
            case CostRecord cost when cost.Year is { } year && cost.Amount is { } amount:
                facts.Add((year, "cost", cost.Type, (double)amount, sensitiveLabel));
                break;
            case ConsentRecord consent when pseudonym is not null:
                c.Execute("INSERT OR REPLACE INTO consents(resource_key, pseudonym, status, scope, year, rules_json) VALUES (@key, @pseudonym, @status, @scope, @year, @rules)",
                    new { key, pseudonym, status = consent.Status, scope = consent.Scope, year = consent.Year, rules = JsonSerializer.Serialize(consent.Rules) }, t);
                break;
        }

        if (pseudonym is not null)
        {
            for (var i = 0; i < facts.Count; i++)
            {
                var f = facts[i];
                c.Execute("INSERT INTO facts(resource_key, seq, pseudonym, year, kind, category, value, sensitive) VALUES (@key, @i, @pseudonym, @year, @kind, @category, @value, @sensitive)",
                    new { key, i, pseudonym, year = f.Year, kind = f.Kind, category = f.Category, value = f.Value, sensitive = f.Sensitive }, t);
            }

            c.Execute("INSERT OR IGNORE INTO dirty_patients(pseudonym) VALUES (@pseudonym)", new { pseudonym }, t);
        }

        if (previousOwner is not null && previousOwner != pseudonym)
        {
            c.Execute("INSERT OR IGNORE INTO dirty_patients(pseudonym) VALUES (@previousOwner)", new { previousOwner }, t);
        }

        return true;
    }
}
