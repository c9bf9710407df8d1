using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Features;

/// <summary>One patient-year's features, as <see cref="FeatureSchema.Columns"/> lists them.</summary>
public sealed record PatientYear(string Pseudonym, IReadOnlyDictionary<string, double?> Values);

/// <summary>
/// Builds patient-year features from the de-identified facts, leaving out records in sensitive
/// categories (the site default; a policy that allows them for a purpose is applied when a study
/// asks), and evaluates consent into a state per purpose and year. Everything is read as of one data
/// version: <paramref name="asOf"/> (a study's pinned version, <see cref="DataSnapshot"/>), or, when null,
/// the version published last, read once per call so one call never mixes two versions.
/// </summary>
public sealed class FeatureBuilder(NodeStore store, long? asOf = null)
{
    public static readonly IReadOnlyList<string> Purposes = ["TREAT", "HOPERAT", "HPAYMT", "HRESCH", "PUBHLTH"];

    private const int ChunkPatients = 1024;

    private long Version() => asOf ?? store.Read(FeatureQueries.PublishedVersion);

    /// <summary>The last year with any fact: outcomes are observed only up to it.</summary>
    public int? DataLastYear()
    {
        var version = Version();
        return store.Read(c => FeatureQueries.DataLastYear(c, version));
    }

    /// <summary>Pseudonyms of the patients recorded as dead in <paramref name="year"/> or before (never counted or shown; the patient twin leaves them out).</summary>
    public IReadOnlySet<string> DeceasedBy(int year)
    {
        var version = Version();
        return store.Read(c => FeatureQueries.DeceasedBy(c, year, version));
    }

    /// <summary>Every patient-year, computed from the facts (non-sensitive only).</summary>
    public IEnumerable<PatientYear> All() => All(new HashSet<string>());

    /// <summary>Every patient-year, with the records of these sensitive categories used too (what a site policy allows a purpose).</summary>
    public IEnumerable<PatientYear> All(IReadOnlySet<string> allowedSensitive) => All(allowedSensitive, Version());

    private IEnumerable<PatientYear> All(IReadOnlySet<string> allowedSensitive, long version)
    {
        var lastYear = store.Read(c => FeatureQueries.DataLastYear(c, version)) ?? FeatureSchema.FirstYear;
        using var connection = store.Open();
        using var reader = FeatureQueries.PatientsWithFacts(connection, version).GetEnumerator();

        // Patients are independent: a chunk at a time is computed on all cores and yielded in order, while this
        // thread reads the next chunk from the store.
        Task<IEnumerable<PatientYear>[]>? pending = null;
        var more = true;
        while (more || pending is not null)
        {
            Task<IEnumerable<PatientYear>[]>? computing = null;
            if (more)
            {
                var chunk = new List<PatientWithFactsRow>(ChunkPatients);
                while (chunk.Count < ChunkPatients && (more = reader.MoveNext()))
                {
                    chunk.Add(reader.Current);
                }

                computing = chunk.Count == 0 ? null : Task.Run(() =>
                {
                    var rows = new IEnumerable<PatientYear>[chunk.Count];
                    Parallel.For(0, chunk.Count, i =>
                    {
                        var p = chunk[i];
                        var facts = t_facts ??= new List<StoredFact>(256);
                        facts.Clear();
                        EntryCodec.ReadFacts(p.Data, allowedSensitive, facts);
                        rows[i] = ForPatient(p.Pseudonym, p.Sex, p.DeceasedYear, p.BirthYear, p.NinetyPlus, facts, lastYear);
                    });
                    return rows;
                });
            }

            if (pending is not null)
            {
                foreach (var patient in pending.GetAwaiter().GetResult())
                {
                    foreach (var row in patient)
                    {
                        yield return row;
                    }
                }
            }

            pending = computing;
        }
    }

    /// <summary>
    /// The patient-years a study with this purpose of use may use: a year whose consent state for the
    /// purpose is deny is left out, one that is permit is kept, and one with no state follows the site
    /// policy's default (opt-in: left out).
    /// </summary>
    public IEnumerable<PatientYear> ForPurpose(string purpose, bool optIn) => ForPurpose(purpose, optIn, new HashSet<string>());

    /// <summary>The same, with the sensitive categories the site policy allows this purpose.</summary>
    public IEnumerable<PatientYear> ForPurpose(string purpose, bool optIn, IReadOnlySet<string> allowedSensitive) => ForPurpose(purpose, optIn, allowedSensitive, Version());

    private IEnumerable<PatientYear> ForPurpose(string purpose, bool optIn, IReadOnlySet<string> allowedSensitive, long version)
    {
        var states = store.Read(c => FeatureQueries.ConsentStates(c, purpose, version).ToDictionary(s => (s.Pseudonym, s.Year), s => s.State));
        foreach (var row in All(allowedSensitive, version))
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
        var version = Version();
        var stale = ResourcesFlaggedUnderOtherCodeLists(policy.SensitiveCodesFingerprint, version);
        if (stale > 0)
        {
            throw new Federation.ParticipationRefusedException($"{stale} stored resources were flagged under other custom sensitive code lists than the site policy's: run the ingest again on the node's exports before it computes for a study.");
        }

        return ForPurpose(purpose, policy.IsOptIn(purpose), policy.SensitiveAllowedFor(purpose), version);
    }

    /// <summary>Stored resources whose sensitivity flags were computed under other custom code lists than these (null: built-in lists only).</summary>
    public long ResourcesFlaggedUnderOtherCodeLists(string? customCodesFingerprint) => ResourcesFlaggedUnderOtherCodeLists(customCodesFingerprint, Version());

    private long ResourcesFlaggedUnderOtherCodeLists(string? customCodesFingerprint, long version)
    {
        var tag = customCodesFingerprint?[..16];
        return store.Read(c => FeatureQueries.FactsFlaggedUnlike(c, tag, version)
            .Sum(data => EntryCodec.Split(data).LongCount(e => EntryCodec.Decode(data.AsSpan(e.Offset, e.Length)).CodeListsTag != tag)));
    }

    /// <summary>Counts of records excluded from features as sensitive, by category (never who).</summary>
    public IReadOnlyDictionary<string, long> SensitiveExclusions() => store.Read(c => FeatureQueries.SensitiveCounts(c, Version())
        .SelectMany(s => s.Split(';')).Select(s => s.Split('=')).GroupBy(p => p[0], StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.Sum(p => long.Parse(p[1], CultureInfo.InvariantCulture)), StringComparer.Ordinal));

    /// <summary>Patient-years whose consent state is deny, by purpose (never who).</summary>
    public IReadOnlyDictionary<string, long> ConsentDenials() => store.Read(c => FeatureQueries.ConsentDenials(c, Version()));

    private static readonly int ColYear = FeatureDictionary.Column("year"), ColAge = FeatureDictionary.Column("age"), ColAgeBand = FeatureDictionary.Column("age_band"),
        ColSexMale = FeatureDictionary.Column("sex_male"), ColMedicare = FeatureDictionary.Column("medicare_eligible"), ColConditionCount = FeatureDictionary.Column("condition_count"),
        ColAdmissions = FeatureDictionary.Column("inpatient_admissions"), ColDays = FeatureDictionary.Column("inpatient_days"), ColEd = FeatureDictionary.Column("ed_visits"),
        ColAmbulatory = FeatureDictionary.Column("ambulatory_visits"), ColCost = FeatureDictionary.Column("cost"), ColCostFromClaims = FeatureDictionary.Column("cost_from_claims"),
        ColObserved = FeatureDictionary.Column("outcome_observed"), ColAdmissionNext = FeatureDictionary.Column("admission_next_year"),
        ColDaysNext = FeatureDictionary.Column("inpatient_days_next_year"), ColEdNext = FeatureDictionary.Column("ed_visits_next_year"),
        ColCostNext = FeatureDictionary.Column("cost_next_year"), ColDeathNext = FeatureDictionary.Column("death_next_year");

    private static readonly string[] Labs = ["hba1c", "sbp", "dbp"];
    private static readonly int[] ColLabs = [.. Labs.Select(FeatureDictionary.Column)];
    private static readonly int[] ColConditions = [.. FeatureSchema.Conditions.Select(FeatureDictionary.Column)];
    private static readonly int[] ColOnsets = [.. FeatureSchema.Conditions.Select(c => FeatureDictionary.Column($"onset_{c}_next_year"))];

    /// <summary>Fact categories the features use: the model conditions by their position, then the ESRD proxy.</summary>
    private static readonly FrozenDictionary<string, int> ConditionIndex =
        FeatureSchema.Conditions.Append(FeatureSchema.EsrdProxy).Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal).ToFrozenDictionary(StringComparer.Ordinal);

    private static readonly int Esrd = FeatureSchema.Conditions.Count;
    private const int Years = FeatureSchema.LastYear - FeatureSchema.FirstYear + 1;

    // Per-thread scratch for ForPatient (neither outlives the call): patients are computed in parallel, and these
    // were a new list and array per patient.
    [ThreadStatic]
    private static List<StoredFact>? t_facts;

    [ThreadStatic]
    private static YearTotals[]? t_years;

    private static IEnumerable<PatientYear> ForPatient(string pseudonym, string? sex, int? deceased, int? birthYear, bool ninetyPlus, IReadOnlyList<StoredFact> facts, int lastYear)
    {
        var firstAged = ninetyPlus ? FeatureSchema.FirstYear : birthYear is { } b && b <= FeatureSchema.LastYear ? Math.Max(b, FeatureSchema.FirstYear) : (int?)null;
        if (facts.Count == 0 || firstAged is null)
        {
            return [];
        }

        // One pass over the facts into per-year totals (in the facts' order, so sums are the same as summing each year's list).
        var onset = new int[ConditionIndex.Count];
        Array.Fill(onset, int.MaxValue);
        var years = t_years ??= new YearTotals[Years];
        Array.Clear(years);
        int minAll = int.MaxValue, minUse = int.MaxValue;
        foreach (var f in facts)
        {
            minAll = Math.Min(minAll, f.Year);
            if (f.Kind == "condition")
            {
                if (f.Category is not null && ConditionIndex.TryGetValue(f.Category, out var c))
                {
                    onset[c] = Math.Min(onset[c], f.Year);
                }

                continue;
            }

            minUse = Math.Min(minUse, f.Year);
            if (f.Year is >= FeatureSchema.FirstYear and <= FeatureSchema.LastYear)
            {
                years[f.Year - FeatureSchema.FirstYear].Add(f);
            }
        }

        var first = Math.Max(minUse == int.MaxValue ? minAll : minUse, firstAged.Value);
        var last = Math.Min(lastYear, deceased ?? lastYear);
        var rows = new List<PatientYear>(Math.Max(0, last - first + 1));
        var male = sex == "male" ? 1 : 0;
        for (var year = first; year <= last; year++)
        {
            if (Deidentification.SafeHarbor.AgeInYear(birthYear, ninetyPlus, year) is not { } age)
            {
                continue;
            }

            var v = new FeatureDictionary();
            v.Set(ColYear, year);
            v.Set(ColAge, age);
            v.Set(ColAgeBand, AgeBandIndex(age));
            v.Set(ColSexMale, male);
            v.Set(ColMedicare, age >= 65 || onset[Esrd] <= year ? 1 : 0);
            var count = 0;
            for (var c = 0; c < ColConditions.Length; c++)
            {
                var has = onset[c] <= year;
                v.Set(ColConditions[c], has ? 1 : 0);
                count += has ? 1 : 0;
            }

            v.Set(ColConditionCount, count);
            var now = TotalsOf(years, year);
            v.Set(ColAdmissions, now.Inpatient);
            v.Set(ColDays, now.InpatientDays);
            v.Set(ColEd, now.Emergency);
            v.Set(ColAmbulatory, now.Ambulatory);
            v.Set(ColCost, now.Cost);
            v.Set(ColCostFromClaims, now.Claims > 0 ? 1 : 0);
            for (var lab = 0; lab < Labs.Length; lab++)
            {
                v.Set(ColLabs[lab], now.LabMean(lab));
            }

            var observed = year + 1 <= lastYear && (deceased is null || deceased >= year + 1);
            v.Set(ColObserved, observed ? 1 : 0);
            if (observed)
            {
                var next = TotalsOf(years, year + 1);
                v.Set(ColAdmissionNext, next.Inpatient > 0 ? 1 : 0);
                v.Set(ColDaysNext, next.InpatientDays);
                v.Set(ColEdNext, next.Emergency);
                v.Set(ColCostNext, next.Cost);
                v.Set(ColDeathNext, deceased == year + 1 ? 1 : 0);
                for (var c = 0; c < ColOnsets.Length; c++)
                {
                    v.Set(ColOnsets[c], onset[c] == year + 1 ? 1 : 0);
                }
            }

            rows.Add(new PatientYear(pseudonym, v));
        }

        return rows;
    }

    private static YearTotals TotalsOf(YearTotals[] years, int year) =>
        year is >= FeatureSchema.FirstYear and <= FeatureSchema.LastYear ? years[year - FeatureSchema.FirstYear] : default;

    private static readonly int[] BandOfAge = [.. Enumerable.Range(0, Deidentification.SafeHarbor.TopAge + 1).Select(a => FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(a)))];

    private static int AgeBandIndex(int age) => BandOfAge[Math.Clamp(age, 0, BandOfAge.Length - 1)];

    /// <summary>A patient's utilization, cost and labs in one year.</summary>
    private struct YearTotals
    {
        private static readonly double UnitStay = FeatureSchema.UnitCost["inpatient_stay"], UnitDay = FeatureSchema.UnitCost["inpatient_day"],
            UnitEmergency = FeatureSchema.UnitCost["emergency"], UnitAmbulatory = FeatureSchema.UnitCost["ambulatory"];

        public int Inpatient, Emergency, Ambulatory, Claims;
        public double InpatientDays;
        private double _claimSum, _lab0, _lab1, _lab2;
        private int _n0, _n1, _n2;

        public void Add(StoredFact f)
        {
            switch (f.Kind)
            {
                case "encounter" when f.Category == "inpatient":
                    Inpatient++;
                    InpatientDays += f.Value;
                    break;
                case "encounter" when f.Category == "emergency":
                    Emergency++;
                    break;
                case "encounter" when f.Category == "ambulatory":
                    Ambulatory++;
                    break;
                case "cost":
                    Claims++;
                    _claimSum += f.Value;
                    break;
                case "lab" when f.Category == "hba1c":
                    _lab0 += f.Value;
                    _n0++;
                    break;
                case "lab" when f.Category == "sbp":
                    _lab1 += f.Value;
                    _n1++;
                    break;
                case "lab" when f.Category == "dbp":
                    _lab2 += f.Value;
                    _n2++;
                    break;
            }
        }

        /// <summary>Cost from claims where the year has any, else from the unit-cost table (docs/features.md).</summary>
        public readonly double Cost => Claims > 0
            ? Math.Round(_claimSum, 2)
            : (Inpatient * UnitStay) + (InpatientDays * UnitDay) + (Emergency * UnitEmergency) + (Ambulatory * UnitAmbulatory);

        /// <summary>The year's mean of a lab (in <see cref="Labs"/> order), to 2 decimals; null without a value.</summary>
        public readonly double? LabMean(int lab) => lab switch
        {
            0 => _n0 == 0 ? null : Math.Round(_lab0 / _n0, 2),
            1 => _n1 == 0 ? null : Math.Round(_lab1 / _n1, 2),
            _ => _n2 == 0 ? null : Math.Round(_lab2 / _n2, 2),
        };
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
            .Select(k => (k.Scope, k.Year, Rules: (JsonSerializer.Deserialize<List<ConsentRule>>(k.RulesJson) ?? []).OrderBy(r => r.Depth).ToList())) // outer provisions first, once (not per purpose and year)
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
                    foreach (var rule in consent.Rules)
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
