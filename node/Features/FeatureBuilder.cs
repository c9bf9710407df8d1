using System.Globalization;
using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Features;

/// <summary>One patient-year's features, as <see cref="FeatureSchema.Columns"/> lists them.</summary>
public sealed record PatientYear(string Pseudonym, IReadOnlyDictionary<string, double?> Values);

/// <summary>
/// Builds patient-year features from the de-identified facts, leaving out records in sensitive
/// categories (the site default; a policy that allows them for a purpose is applied when a study
/// asks), and evaluates consent into a state per purpose and year.
/// </summary>
public sealed class FeatureBuilder(NodeStore store)
{
    public static readonly IReadOnlyList<string> Purposes = ["TREAT", "HOPERAT", "HPAYMT", "HRESCH", "PUBHLTH"];

    private const int ChunkPatients = 1024;

    /// <summary>The last year with any fact: outcomes are observed only up to it.</summary>
    public int? DataLastYear() => store.Read(c => c.ExecuteScalar<int?>("SELECT MAX(last_year) FROM patient_facts"));

    /// <summary>Every patient-year, computed from the facts (non-sensitive only).</summary>
    public IEnumerable<PatientYear> All() => All(new HashSet<string>());

    /// <summary>Every patient-year, with the records of these sensitive categories used too (what a site policy allows a purpose).</summary>
    public IEnumerable<PatientYear> All(IReadOnlySet<string> allowedSensitive)
    {
        var lastYear = DataLastYear() ?? FeatureSchema.FirstYear;
        using var connection = store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT p.pseudonym, p.sex, p.deceased_year, p.birth_year, p.age_90_plus, f.data
            FROM patients p JOIN patient_facts f ON f.pseudonym = p.pseudonym ORDER BY p.pseudonym
            """;
        using var reader = command.ExecuteReader();

        // Patients are independent: a chunk at a time is computed on all cores and yielded in order.
        var chunk = new List<(string Pseudonym, string? Sex, int? Deceased, int? BirthYear, bool NinetyPlus, byte[] Data)>(ChunkPatients);
        while (true)
        {
            var more = reader.Read();
            if (more)
            {
                chunk.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt32(2),
                    reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.GetInt64(4) != 0, (byte[])reader[5]));
            }

            if (chunk.Count == ChunkPatients || (!more && chunk.Count > 0))
            {
                var rows = new List<PatientYear>[chunk.Count];
                Parallel.For(0, chunk.Count, i =>
                {
                    var p = chunk[i];
                    var facts = new List<StoredFact>();
                    EntryCodec.ReadFacts(p.Data, allowedSensitive, facts);
                    rows[i] = [.. ForPatient(p.Pseudonym, p.Sex, p.Deceased, Ages(p.BirthYear, p.NinetyPlus), facts, lastYear)];
                });
                chunk.Clear();
                foreach (var patient in rows)
                {
                    foreach (var row in patient)
                    {
                        yield return row;
                    }
                }
            }

            if (!more)
            {
                yield break;
            }
        }
    }

    private static Dictionary<int, int> Ages(int? birthYear, bool ninetyPlus)
    {
        var ages = new Dictionary<int, int>();
        for (var year = FeatureSchema.FirstYear; year <= FeatureSchema.LastYear; year++)
        {
            if (Deidentification.SafeHarbor.AgeInYear(birthYear, ninetyPlus, year) is { } age)
            {
                ages[year] = age;
            }
        }

        return ages;
    }

    /// <summary>
    /// The patient-years a study with this purpose of use may use: a year whose consent state for the
    /// purpose is deny is left out, one that is permit is kept, and one with no state follows the site
    /// policy's default (opt-in: left out).
    /// </summary>
    public IEnumerable<PatientYear> ForPurpose(string purpose, bool optIn) => ForPurpose(purpose, optIn, new HashSet<string>());

    /// <summary>The same, with the sensitive categories the site policy allows this purpose.</summary>
    public IEnumerable<PatientYear> ForPurpose(string purpose, bool optIn, IReadOnlySet<string> allowedSensitive)
    {
        var states = store.Read(c => c.Query<(string pseudonym, int year, string state)>("SELECT pseudonym, year, state FROM consent_states WHERE purpose=@purpose", new { purpose })
            .ToDictionary(s => (s.pseudonym, s.year), s => s.state));
        foreach (var row in All(allowedSensitive))
        {
            var state = states.GetValueOrDefault((row.Pseudonym, (int)row.Values["year"]!.Value));
            if (state == "permit" || (state is null && !optIn))
            {
                yield return row;
            }
        }
    }

    /// <summary>
    /// The patient-years a study with this purpose may use under the site policy: its consent default for the purpose and
    /// the sensitive categories it allows the purpose. Refused when resources in the store were flagged under other custom
    /// sensitive code lists than the policy's (the lists changed after the last ingest of their export): their records could
    /// carry a category the policy now excludes, unflagged. A re-run of the ingest on the same exports re-flags them.
    /// </summary>
    public IEnumerable<PatientYear> ForStudy(Policy.SitePolicy policy, string purpose)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var stale = ResourcesFlaggedUnderOtherCodeLists(policy.SensitiveCodesFingerprint);
        if (stale > 0)
        {
            throw new Federation.ParticipationRefusedException($"{stale} stored resources were flagged under other custom sensitive code lists than the site policy's: run the ingest again on the node's exports before it computes for a study.");
        }

        return ForPurpose(purpose, policy.IsOptIn(purpose), policy.SensitiveAllowedFor(purpose));
    }

    /// <summary>Stored resources whose sensitivity flags were computed under other custom code lists than these (null: built-in lists only).</summary>
    public long ResourcesFlaggedUnderOtherCodeLists(string? customCodesFingerprint)
    {
        var tag = customCodesFingerprint?[..16];
        return store.Read(c => c.Query<byte[]>("SELECT data FROM patient_facts WHERE code_lists IS NOT @tag", new { tag })
            .Sum(data => EntryCodec.Split(data).LongCount(e => EntryCodec.Decode(data.AsSpan(e.Offset, e.Length)).CodeListsTag != tag)));
    }

    /// <summary>Counts of records excluded from features as sensitive, by category (never who).</summary>
    public IReadOnlyDictionary<string, long> SensitiveExclusions() => store.Read(c => c.Query<string>("SELECT sensitive FROM patient_facts WHERE sensitive IS NOT NULL")
        .SelectMany(s => s.Split(';')).Select(s => s.Split('=')).GroupBy(p => p[0], StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.Sum(p => long.Parse(p[1], CultureInfo.InvariantCulture)), StringComparer.Ordinal));

    /// <summary>Patient-years whose consent state is deny, by purpose (never who).</summary>
    public IReadOnlyDictionary<string, long> ConsentDenials() => store.Read(c =>
        c.Query<(string purpose, long n)>("SELECT purpose, COUNT(*) FROM consent_states WHERE state='deny' GROUP BY purpose").ToDictionary(x => x.purpose, x => x.n));

    private static IEnumerable<PatientYear> ForPatient(string pseudonym, string? sex, int? deceased, IReadOnlyDictionary<int, int> ages, IReadOnlyList<StoredFact> facts, int lastYear)
    {
        if (facts.Count == 0 || ages.Count == 0)
        {
            yield break;
        }

        // One pass over the facts into per-year totals (in the facts' order, so sums are the same as summing each year's list).
        var onset = new Dictionary<string, int>(StringComparer.Ordinal);
        var years = new Dictionary<int, YearTotals>();
        int minAll = int.MaxValue, minUse = int.MaxValue;
        foreach (var f in facts)
        {
            minAll = Math.Min(minAll, f.Year);
            if (f.Kind == "condition")
            {
                if (f.Category is not null)
                {
                    onset[f.Category] = Math.Min(onset.GetValueOrDefault(f.Category, int.MaxValue), f.Year);
                }

                continue;
            }

            minUse = Math.Min(minUse, f.Year);
            if (!years.TryGetValue(f.Year, out var t))
            {
                years[f.Year] = t = new YearTotals();
            }

            t.Add(f);
        }

        var first = Math.Max(minUse == int.MaxValue ? minAll : minUse, ages.Keys.Min());
        var last = Math.Min(lastYear, deceased ?? lastYear);
        var none = new YearTotals();
        for (var year = first; year <= last; year++)
        {
            if (!ages.TryGetValue(year, out var age))
            {
                continue;
            }

            var v = new Dictionary<string, double?>(64, StringComparer.Ordinal)
            {
                ["year"] = year,
                ["age"] = age,
                ["sex_male"] = sex == "male" ? 1 : 0,
                ["medicare_eligible"] = age >= 65 || (onset.TryGetValue(FeatureSchema.EsrdProxy, out var esrd) && esrd <= year) ? 1 : 0,
            };
            var count = 0;
            foreach (var c in FeatureSchema.Conditions)
            {
                var has = onset.TryGetValue(c, out var y) && y <= year;
                v[c] = has ? 1 : 0;
                count += has ? 1 : 0;
            }

            v["condition_count"] = count;
            var now = years.GetValueOrDefault(year) ?? none;
            now.Utilization(v);
            for (var lab = 0; lab < YearTotals.Labs.Length; lab++)
            {
                v[YearTotals.Labs[lab]] = now.LabCount[lab] == 0 ? null : Math.Round(now.LabSum[lab] / now.LabCount[lab], 2);
            }

            var observed = year + 1 <= lastYear && (deceased is null || deceased >= year + 1);
            v["outcome_observed"] = observed ? 1 : 0;
            if (observed)
            {
                var next = new Dictionary<string, double?>(StringComparer.Ordinal);
                (years.GetValueOrDefault(year + 1) ?? none).Utilization(next);
                v["admission_next_year"] = next["inpatient_admissions"] > 0 ? 1 : 0;
                v["inpatient_days_next_year"] = next["inpatient_days"];
                v["ed_visits_next_year"] = next["ed_visits"];
                v["cost_next_year"] = next["cost"];
                v["death_next_year"] = deceased == year + 1 ? 1 : 0;
                foreach (var c in FeatureSchema.Conditions)
                {
                    v[$"onset_{c}_next_year"] = onset.TryGetValue(c, out var y) && y == year + 1 ? 1 : 0;
                }
            }

            yield return new PatientYear(pseudonym, WithBand(v, age));
        }
    }

    /// <summary>A patient's utilization, cost and labs in one year.</summary>
    private sealed class YearTotals
    {
        public static readonly string[] Labs = ["hba1c", "sbp", "dbp"];
        public readonly double[] LabSum = new double[3];
        public readonly int[] LabCount = new int[3];
        private int _inpatient, _ed, _ambulatory, _claims;
        private double _inpatientDays, _claimSum;

        public void Add(StoredFact f)
        {
            switch (f.Kind)
            {
                case "encounter" when f.Category == "inpatient":
                    _inpatient++;
                    _inpatientDays += f.Value;
                    break;
                case "encounter" when f.Category == "emergency":
                    _ed++;
                    break;
                case "encounter" when f.Category == "ambulatory":
                    _ambulatory++;
                    break;
                case "cost":
                    _claims++;
                    _claimSum += f.Value;
                    break;
                case "lab" when Array.IndexOf(Labs, f.Category) is var lab and >= 0:
                    LabSum[lab] += f.Value;
                    LabCount[lab]++;
                    break;
            }
        }

        /// <summary>Cost from claims where the year has any, else from the unit-cost table (docs/features.md).</summary>
        public void Utilization(Dictionary<string, double?> v)
        {
            var unit = FeatureSchema.UnitCost;
            v["inpatient_admissions"] = _inpatient;
            v["inpatient_days"] = _inpatientDays;
            v["ed_visits"] = _ed;
            v["ambulatory_visits"] = _ambulatory;
            v["cost"] = _claims > 0
                ? Math.Round(_claimSum, 2)
                : (_inpatient * unit["inpatient_stay"]) + (_inpatientDays * unit["inpatient_day"]) + (_ed * unit["emergency"]) + (_ambulatory * unit["ambulatory"]);
            v["cost_from_claims"] = _claims > 0 ? 1 : 0;
        }
    }

    private static Dictionary<string, double?> WithBand(Dictionary<string, double?> v, int age)
    {
        v["age_band"] = FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age));
        return v;
    }

    /// <summary>
    /// Consent per purpose and year. Per scope, the latest active Consent wins (by year; within a year
    /// a deny wins, because when unsure the data may not be used). Its provisions are applied base
    /// first, nested after, each one that covers the purpose and the year setting permit or deny.
    /// Across scopes, a deny for a purpose wins. No applicable provision leaves the state "none",
    /// which the site policy's consent default decides at study time.
    /// </summary>
    internal static IEnumerable<(string Purpose, int Year, string State)> ConsentStates(IEnumerable<StoredConsent> stored)
    {
        var consents = stored
            .Where(k => k.Status == "active")
            .Select(k => (k.Scope, k.Year, Rules: JsonSerializer.Deserialize<List<ConsentRule>>(k.RulesJson) ?? []))
            .ToList();
        if (consents.Count == 0)
        {
            yield break;
        }

        var winners = consents.GroupBy(k => k.Scope ?? string.Empty)
            .Select(g => g.OrderByDescending(k => k.Year ?? int.MinValue).ThenBy(k => k.Rules.Any(r => !r.Permit) ? 0 : 1).First())
            .ToList();
        foreach (var purpose in Purposes)
        {
            for (var year = FeatureSchema.FirstYear; year <= FeatureSchema.LastYear; year++)
            {
                string? state = null;
                foreach (var consent in winners)
                {
                    string? s = null;
                    foreach (var rule in consent.Rules.OrderBy(r => r.Depth))
                    {
                        var covers = (rule.Purposes.Count == 0 || rule.Purposes.Contains(purpose)) && (rule.FromYear is null || rule.FromYear <= year) && (rule.ToYear is null || year <= rule.ToYear);
                        if (covers)
                        {
                            s = rule.Permit ? "permit" : "deny";
                        }
                    }

                    state = s == "deny" || state == "deny" ? "deny" : s ?? state;
                }

                if (state is not null)
                {
                    yield return (purpose, year, state);
                }
            }
        }
    }

    public static string Format(double? value) => value is null ? string.Empty : value.Value.ToString("G17", CultureInfo.InvariantCulture);
}
