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

    private sealed record Fact(long year, string kind, string? category, double value, string? sensitive);

    /// <summary>Rebuilds consent states for the patients whose facts changed, then clears the list. Returns how many.</summary>
    public int RebuildDirty()
    {
        var dirty = store.Read(c => c.Query<string>("SELECT pseudonym FROM dirty_patients").ToList());
        foreach (var batch in dirty.Chunk(500))
        {
            store.Write((c, t) =>
            {
                foreach (var p in batch)
                {
                    RebuildConsent(c, t, p);
                    c.Execute("DELETE FROM dirty_patients WHERE pseudonym=@p", new { p }, t);
                }

                return 0;
            });
        }

        return dirty.Count;
    }

    /// <summary>The last year with any fact: outcomes are observed only up to it.</summary>
    public int? DataLastYear() => store.Read(c => c.ExecuteScalar<int?>("SELECT MAX(year) FROM facts WHERE year <= @max", new { max = FeatureSchema.LastYear }));

    /// <summary>Every patient-year, computed from the facts (non-sensitive only).</summary>
    public IEnumerable<PatientYear> All() => All(new HashSet<string>());

    /// <summary>Every patient-year, with the records of these sensitive categories used too (what a site policy allows a purpose).</summary>
    public IEnumerable<PatientYear> All(IReadOnlySet<string> allowedSensitive)
    {
        var allowed = allowedSensitive.ToArray();
        var lastYear = DataLastYear() ?? FeatureSchema.FirstYear;
        var patients = store.Read(c => c.Query<(string pseudonym, string? sex, int? deceased_year, int? birth_year, bool age_90_plus)>(
            "SELECT pseudonym, sex, deceased_year, birth_year, age_90_plus FROM patients ORDER BY pseudonym").ToList());
        foreach (var (pseudonym, sex, deceased, birthYear, ninetyPlus) in patients)
        {
            var ages = Ages(birthYear, ninetyPlus);
            var facts = store.Read(c => c.Query<Fact>("SELECT year, kind, category, value, sensitive FROM facts WHERE pseudonym=@pseudonym AND (sensitive IS NULL OR sensitive IN @allowed)", new { pseudonym, allowed }).ToList());
            foreach (var row in ForPatient(pseudonym, sex, deceased, ages, facts, lastYear))
            {
                yield return row;
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

    /// <summary>The content hash the ingest stores: with custom sensitive code lists, it carries their fingerprint (so a change of lists re-flags the resource at the next ingest).</summary>
    public static string WithCodeLists(string contentHash, string? customCodesFingerprint) =>
        customCodesFingerprint is null ? contentHash : contentHash + "~" + customCodesFingerprint[..16];

    /// <summary>Stored resources whose sensitivity flags were computed under other custom code lists than these (null: built-in lists only).</summary>
    public long ResourcesFlaggedUnderOtherCodeLists(string? customCodesFingerprint) => store.Read(c => customCodesFingerprint is null
        ? c.ExecuteScalar<long>("SELECT COUNT(*) FROM resources WHERE instr(content_hash, '~') > 0")
        : c.ExecuteScalar<long>("SELECT COUNT(*) FROM resources WHERE content_hash NOT LIKE @pattern", new { pattern = "%~" + customCodesFingerprint[..16] }));

    /// <summary>Counts of records excluded from features as sensitive, by category (never who).</summary>
    public IReadOnlyDictionary<string, long> SensitiveExclusions() => store.Read(c =>
        c.Query<(string sensitive, long n)>("SELECT sensitive, COUNT(*) FROM facts WHERE sensitive IS NOT NULL GROUP BY sensitive").ToDictionary(x => x.sensitive, x => x.n));

    /// <summary>Patient-years whose consent state is deny, by purpose (never who).</summary>
    public IReadOnlyDictionary<string, long> ConsentDenials() => store.Read(c =>
        c.Query<(string purpose, long n)>("SELECT purpose, COUNT(*) FROM consent_states WHERE state='deny' GROUP BY purpose").ToDictionary(x => x.purpose, x => x.n));

    private static IEnumerable<PatientYear> ForPatient(string pseudonym, string? sex, int? deceased, IReadOnlyDictionary<int, int> ages, IReadOnlyList<Fact> facts, int lastYear)
    {
        if (facts.Count == 0 || ages.Count == 0)
        {
            yield break;
        }

        var onset = new Dictionary<string, int>();
        foreach (var f in facts.Where(f => f.kind == "condition" && f.category is not null))
        {
            onset[f.category!] = Math.Min(onset.GetValueOrDefault(f.category!, int.MaxValue), (int)f.year);
        }

        var byYear = facts.ToLookup(f => (int)f.year);
        var first = Math.Max((int)facts.Where(f => f.kind != "condition").Select(f => f.year).DefaultIfEmpty(facts.Min(f => f.year)).Min(), ages.Keys.Min());
        var last = Math.Min(lastYear, deceased ?? lastYear);
        for (var year = first; year <= last; year++)
        {
            if (!ages.TryGetValue(year, out var age))
            {
                continue;
            }

            var v = new Dictionary<string, double?>(StringComparer.Ordinal)
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
            Utilization(byYear[year], v, string.Empty);
            foreach (var (lab, _) in new[] { ("hba1c", 0), ("sbp", 0), ("dbp", 0) })
            {
                var values = byYear[year].Where(f => f.kind == "lab" && f.category == lab).Select(f => f.value).ToList();
                v[lab] = values.Count == 0 ? null : Math.Round(values.Average(), 2);
            }

            var observed = year + 1 <= lastYear && (deceased is null || deceased >= year + 1);
            v["outcome_observed"] = observed ? 1 : 0;
            if (observed)
            {
                var next = new Dictionary<string, double?>(StringComparer.Ordinal);
                Utilization(byYear[year + 1], next, string.Empty);
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

    private static Dictionary<string, double?> WithBand(Dictionary<string, double?> v, int age)
    {
        v["age_band"] = FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age));
        return v;
    }

    private static void Utilization(IEnumerable<Fact> facts, Dictionary<string, double?> v, string suffix)
    {
        var list = facts.ToList();
        var inpatient = list.Where(f => f.kind == "encounter" && f.category == "inpatient").ToList();
        var ed = list.Count(f => f.kind == "encounter" && f.category == "emergency");
        var amb = list.Count(f => f.kind == "encounter" && f.category == "ambulatory");
        var claims = list.Where(f => f.kind == "cost").ToList();
        v["inpatient_admissions" + suffix] = inpatient.Count;
        v["inpatient_days" + suffix] = inpatient.Sum(f => f.value);
        v["ed_visits" + suffix] = ed;
        v["ambulatory_visits" + suffix] = amb;
        var unit = FeatureSchema.UnitCost;
        v["cost" + suffix] = claims.Count > 0
            ? Math.Round(claims.Sum(f => f.value), 2)
            : (inpatient.Count * unit["inpatient_stay"]) + (inpatient.Sum(f => f.value) * unit["inpatient_day"]) + (ed * unit["emergency"]) + (amb * unit["ambulatory"]);
        v["cost_from_claims" + suffix] = claims.Count > 0 ? 1 : 0;
    }

    /// <summary>
    /// Consent per purpose and year. Per scope, the latest active Consent wins (by year; within a year
    /// a deny wins, because when unsure the data may not be used). Its provisions are applied base
    /// first, nested after, each one that covers the purpose and the year setting permit or deny.
    /// Across scopes, a deny for a purpose wins. No applicable provision leaves the state "none",
    /// which the site policy's consent default decides at study time.
    /// </summary>
    private static void RebuildConsent(SqliteConnection c, SqliteTransaction t, string pseudonym)
    {
        c.Execute("DELETE FROM consent_states WHERE pseudonym=@pseudonym", new { pseudonym }, t);
        var consents = c.Query<(string status, string? scope, int? year, string rules_json)>("SELECT status, scope, year, rules_json FROM consents WHERE pseudonym=@pseudonym", new { pseudonym }, t)
            .Where(k => k.status == "active")
            .Select(k => (k.scope, k.year, Rules: JsonSerializer.Deserialize<List<ConsentRule>>(k.rules_json) ?? []))
            .ToList();
        if (consents.Count == 0)
        {
            return;
        }

        var winners = consents.GroupBy(k => k.scope ?? string.Empty)
            .Select(g => g.OrderByDescending(k => k.year ?? int.MinValue).ThenBy(k => k.Rules.Any(r => !r.Permit) ? 0 : 1).First())
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
                    c.Execute("INSERT INTO consent_states(pseudonym, purpose, year, state) VALUES (@pseudonym, @purpose, @year, @state)", new { pseudonym, purpose, year, state }, t);
                }
            }
        }
    }

    public static string Format(double? value) => value is null ? string.Empty : value.Value.ToString("G17", CultureInfo.InvariantCulture);
}
