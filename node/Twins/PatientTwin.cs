using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Node.Features;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Node.Twins;

/// <summary>
/// The patient twin (issue 21): for each of the hospital's own living patients, the next-year risks and expected utilisation and
/// cost from the federation's released GLMs evaluated on the patient's own features, with 95% intervals from each model's
/// covariance, and under a scenario the same quantities as if the patient were enrolled, paired with the baseline.
/// <para>
/// The expectations follow the population twin's yearly step (twin/Simulation/OutcomePasses.cs) so that the patient and the
/// population twins agree: admissions are a Poisson count with rate λ0 = ln(1 + e^η) (P(N ≥ 1) is the model's p), times an
/// intervention's relative risk; inpatient days are μ_D·λ/λ0 (the length of stay μ_D/λ0 per admission); ED visits μ_E × RR;
/// cost is k·(facility part priced at the unit costs) + other, with F = stay·λ0 + day·μ_D + ED·μ_E, k = min(1, μ_C/F) and
/// other = max(μ_C − F, 0) × the other-cost RR (the twin's log-normal noise has mean one, so it drops out of the expectation).
/// Where the twin draws counts, this takes their expectations; the twin's per-draw cap of 365 days is not applied to the mean.
/// </para>
/// </summary>
public sealed partial class PatientTwin
{
    public const string Admission = "admission";
    public const string Death = "death";
    public const string EdVisit = "ed_visit";
    public const string ExpectedEdVisits = "expected_ed_visits";
    public const string ExpectedInpatientDays = "expected_inpatient_days";
    public const string ExpectedCost = "expected_cost";
    public const string BenefitKey = "benefit";

    /// <summary>Φ⁻¹(0.975): the 95% Wald interval on the link scale.</summary>
    public const double Z = EffectInterval.Z975;

    /// <summary>The twin's cap on a count model's mean per person-year (OutcomePasses.MaxCountMean: a year has 365 days).</summary>
    private const double MaxCountMean = 365;

    /// <summary>The twin's guard on a cost model's mean (OutcomePasses.MaxCostMean).</summary>
    private const double MaxCostMean = 10_000_000;

    private const int SlotAdmission = 0, SlotDeath = 1, SlotEd = 2, SlotDays = 3, SlotCost = 4, SlotOnset = 5;
    private static readonly int Slots = SlotOnset + PatientYearSchema.Conditions.Count;

    private static readonly int ColAge = FeatureDictionary.Column("age"), ColAgeBand = FeatureDictionary.Column("age_band"), ColSexMale = FeatureDictionary.Column("sex_male");
    private static readonly int[] ColConditions = [.. PatientYearSchema.Conditions.Select(FeatureDictionary.Column)];

    private readonly PatientModel?[] _slots = new PatientModel?[Slots];
    private readonly Dictionary<string, PatientModel> _byId = new(StringComparer.Ordinal);
    private readonly CompiledIntervention[] _interventions;
    private readonly TwinParameters _parameters;

    /// <summary>
    /// Chooses one model per outcome among <paramref name="models"/> (the node's released models; never the demo set for a real
    /// patient) and compiles it. Several models of one outcome: the newest (created_at, then id) is used and the others are listed
    /// in <see cref="Unused"/>. <paramref name="interventions"/> is the scenario (null: none); a risk band must name one of
    /// <paramref name="models"/>.
    /// </summary>
    public PatientTwin(IReadOnlyList<RegisteredModel> models, IReadOnlyList<TwinIntervention>? interventions = null, TwinParameters? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        _parameters = parameters ?? new TwinParameters();
        _parameters.Validate();
        var unused = new List<UnusedModel>();
        foreach (var group in models.GroupBy(m => SlotOf(m.Outcome, m.Family, out _)))
        {
            var ordered = group.OrderByDescending(m => m.CreatedAt).ThenBy(m => m.Id, StringComparer.Ordinal).ToList();
            if (group.Key < 0)
            {
                foreach (var m in ordered)
                {
                    _ = SlotOf(m.Outcome, m.Family, out var why);
                    unused.Add(new UnusedModel(m.Id, m.Outcome, why!));
                }

                continue;
            }

            PatientModel? chosen = null;
            foreach (var m in ordered)
            {
                if (chosen is not null)
                {
                    unused.Add(new UnusedModel(m.Id, m.Outcome, $"superseded by the newer {chosen.Model.Id}"));
                    continue;
                }

                try
                {
                    chosen = new PatientModel(m);
                }
                catch (ArgumentException e)
                {
                    unused.Add(new UnusedModel(m.Id, m.Outcome, e.Message));
                }
            }

            _slots[group.Key] = chosen;
        }

        foreach (var m in _slots.OfType<PatientModel>())
        {
            _byId[m.Model.Id] = m;
        }

        Unused = unused;
        Used = [.. _slots.OfType<PatientModel>().Select(m => m.Model)];
        MissingOutcomes = [.. MissingList()];
        Interventions = interventions ?? [];
        _interventions = [.. Interventions.Select(Compile)];
        HasScenario = interventions is not null;
    }

    /// <summary>The models scored, one per outcome.</summary>
    public IReadOnlyList<RegisteredModel> Used { get; }

    /// <summary>Released models not used (another outcome than the twin's, a term not in the schema, superseded).</summary>
    public IReadOnlyList<UnusedModel> Unused { get; }

    /// <summary>Outcomes and expected values no patient gets, because no released model supplies them (with the reason).</summary>
    public IReadOnlyList<(string Outcome, string Reason)> MissingOutcomes { get; }

    /// <summary>The scenario's interventions (empty without one).</summary>
    public IReadOnlyList<TwinIntervention> Interventions { get; }

    /// <summary>True when a scenario was given (every patient then says whether it is eligible).</summary>
    public bool HasScenario { get; }

    /// <summary>Every risk name a patient can have (binary outcomes with a model), for tables.</summary>
    public IReadOnlyList<string> RiskNames =>
        [.. new[] { (Admission, SlotAdmission), (Death, SlotDeath) }.Where(p => _slots[p.Item2] is not null).Select(p => p.Item1),
         .. _slots[SlotEd] is { Family: GlmFamily.Poisson } ? [EdVisit] : Array.Empty<string>(),
         .. PatientYearSchema.Conditions.Where((c, k) => _slots[SlotOnset + k] is not null).Select(c => "onset_" + c)];

    /// <summary>The expected values some patient can have.</summary>
    public IReadOnlyList<string> ExpectedNames =>
        [.. new[] { ExpectedEdVisits, ExpectedInpatientDays, ExpectedCost }.Where(e => !MissingOutcomes.Any(m => m.Outcome == e))];

    /// <summary>
    /// The patient-years the twin scores: each living patient's row of the node's last data year. A patient recorded as dead in
    /// that year or before is left out (the row of the year of death exists, but there is no next year to predict); a patient with
    /// no row that year (consent denies the purpose, or no age) is not scored. Rows come from <paramref name="rows"/>, already
    /// filtered for the purpose by <see cref="FeatureBuilder.ForStudy"/>.
    /// </summary>
    public static IEnumerable<PatientYear> LivingLatest(IEnumerable<PatientYear> rows, int lastYear, IReadOnlySet<string> deceased)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(deceased);
        return rows.Where(r => r.Values.GetValueOrDefault("year") == lastYear && !deceased.Contains(r.Pseudonym));
    }

    /// <summary>Scores every row, in parallel, in the rows' order.</summary>
    public IReadOnlyList<PatientTwinResult> ScoreAll(IReadOnlyList<PatientYear> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var results = new PatientTwinResult[rows.Count];
        Parallel.For(0, rows.Count, () => new Scratch(this), (i, _, scratch) =>
        {
            results[i] = Score(rows[i], scratch);
            return scratch;
        }, _ => { });
        return results;
    }

    /// <summary>Scores one patient-year row.</summary>
    public PatientTwinResult Score(PatientYear row) => Score(row, new Scratch(this));

    private PatientTwinResult Score(PatientYear row, Scratch s)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.Values is FeatureDictionary d)
        {
            d.CopyTo(s.Row);
        }
        else
        {
            for (var i = 0; i < FeatureSchema.Columns.Count; i++)
            {
                s.Row[i] = row.Values.GetValueOrDefault(FeatureSchema.Columns[i].Name) ?? double.NaN;
            }
        }

        return Score(row.Pseudonym, s.Row, s);
    }

    /// <summary>Scores one patient from a row of schema width (NaN where missing): the hot path the bench times.</summary>
    public PatientTwinResult Score(string pseudonym, ReadOnlySpan<double> row) => Score(pseudonym, row, new Scratch(this));

    private PatientTwinResult Score(string pseudonym, ReadOnlySpan<double> row, Scratch s)
    {
        for (var k = 0; k < Slots; k++)
        {
            if (_slots[k] is { } m && (k < SlotOnset || row[ColConditions[k - SlotOnset]] != 1))
            {
                m.Evaluate(row, s.X, out s.Eta[k], out s.Se[k]);
            }
            else
            {
                s.Eta[k] = double.NaN;
                s.Se[k] = double.NaN;
            }
        }

        var missing = new List<string>();
        var baseline = Compute(row, s, Effects.None, missing);
        var conditions = new List<string>();
        for (var k = 0; k < ColConditions.Length; k++)
        {
            if (row[ColConditions[k]] == 1)
            {
                conditions.Add(PatientYearSchema.Conditions[k]);
            }
        }

        var band = row[ColAgeBand] is var b && !double.IsNaN(b) ? PatientYearSchema.AgeBands[(int)b] : "unknown";
        var sex = row[ColSexMale] == 1 ? "male" : "not male";
        if (!HasScenario)
        {
            return new PatientTwinResult(pseudonym, band, sex, conditions, baseline, missing, null, null, null, null);
        }

        var eligible = new List<string>();
        var effects = Effects.None;
        foreach (var x in _interventions)
        {
            if (x.Eligible(row, s, missing))
            {
                eligible.Add(x.Intervention.Name);
                effects = effects.Then(x);
            }
        }

        if (eligible.Count == 0)
        {
            return new PatientTwinResult(pseudonym, band, sex, conditions, baseline, missing, eligible, null, null, null);
        }

        // The same code path as the baseline, only the multipliers differ: multipliers of exactly 1 give exactly the baseline.
        var scenario = Compute(row, s, effects, null);
        var differences = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (name, risk) in baseline.Risks)
        {
            differences[name] = scenario.Risks[name].Value - risk.Value;
        }

        foreach (var name in new[] { ExpectedEdVisits, ExpectedInpatientDays, ExpectedCost })
        {
            if (baseline.Expected(name) is { } before && scenario.Expected(name) is { } after)
            {
                differences[name] = after.Value - before.Value;
            }
        }

        // Expected net savings next year if enrolled (the payer's view the MSSP settles on): cost avoided minus the program's cost.
        double? benefit = baseline.Cost is { } c0 && scenario.Cost is { } c1 ? c0.Value - c1.Value - effects.ProgramCost : null;
        return new PatientTwinResult(pseudonym, band, sex, conditions, baseline, missing, eligible, scenario, differences, benefit);
    }

    private PatientOutcomes Compute(ReadOnlySpan<double> row, Scratch s, Effects e, List<string>? missing)
    {
        var risks = new Dictionary<string, PatientInterval>(StringComparer.Ordinal);
        var eta = s.Eta;
        var se = s.Se;

        // Admissions: the rate λ0 whose P(N ≥ 1) is the model's p, times RR (OutcomePasses.AdmissionPass).
        bool hasAdm = _slots[SlotAdmission] is not null, admOk = hasAdm && !double.IsNaN(eta[SlotAdmission]);
        (double L0, double L, double P) adm = default;
        if (admOk)
        {
            adm = AdmissionRate(eta[SlotAdmission], e.AdmInvOr, e.AdmRr);
            var lo = AdmissionRate(eta[SlotAdmission] - (Z * se[SlotAdmission]), e.AdmInvOr, e.AdmRr).P;
            var hi = AdmissionRate(eta[SlotAdmission] + (Z * se[SlotAdmission]), e.AdmInvOr, e.AdmRr).P;
            risks[Admission] = new PatientInterval(adm.P, lo, hi);
        }
        else if (hasAdm)
        {
            missing?.Add(Admission);
        }

        Binary(SlotDeath, Death, e.DeathInvOr);
        for (var c = 0; c < ColConditions.Length; c++)
        {
            if (row[ColConditions[c]] != 1)
            {
                Binary(SlotOnset + c, "onset_" + PatientYearSchema.Conditions[c], e.OnsetInvOr[c]);
            }
        }

        // ED visits: the model's mean × RR (OutcomePasses.EdPass); P(any) = 1 − e^−μ for a Poisson count.
        PatientInterval? ed = null;
        var edModel = _slots[SlotEd];
        double muEd = 0;
        if (edModel is not null && !double.IsNaN(eta[SlotEd]))
        {
            muEd = CountMean(edModel, eta[SlotEd]);
            double lo = CountMean(edModel, eta[SlotEd] - (Z * se[SlotEd])), hi = CountMean(edModel, eta[SlotEd] + (Z * se[SlotEd]));
            ed = new PatientInterval(muEd * e.EdRr, lo * e.EdRr, hi * e.EdRr);
            if (edModel.Family == GlmFamily.Poisson)
            {
                risks[EdVisit] = new PatientInterval(-double.ExpM1(-muEd * e.EdRr), -double.ExpM1(-lo * e.EdRr), -double.ExpM1(-hi * e.EdRr));
            }
        }
        else if (edModel is not null)
        {
            missing?.Add(edModel.Family == GlmFamily.Poisson ? EdVisit : ExpectedEdVisits);
            if (edModel.Family == GlmFamily.Poisson)
            {
                missing?.Add(ExpectedEdVisits);
            }
        }

        // Inpatient days: μ_D spread over the admissions at the length of stay μ_D/λ0 (OutcomePasses.DaysPass).
        PatientInterval? days = null;
        var daysModel = _slots[SlotDays];
        double muDays = 0;
        if (daysModel is not null && admOk && !double.IsNaN(eta[SlotDays]))
        {
            muDays = CountMean(daysModel, eta[SlotDays]);
            var ratio = adm.L0 > 0 ? adm.L / adm.L0 : 0;
            days = new PatientInterval(muDays * ratio, CountMean(daysModel, eta[SlotDays] - (Z * se[SlotDays])) * ratio,
                CountMean(daysModel, eta[SlotDays] + (Z * se[SlotDays])) * ratio);
        }
        else if (daysModel is not null && hasAdm)
        {
            missing?.Add(ExpectedInpatientDays);
        }

        // Cost: k × the facility part at unit prices + the rest × the other-cost RR (OutcomePasses.CostPass), in expectation.
        PatientInterval? cost = null;
        var costModel = _slots[SlotCost];
        if (costModel is not null && ed is not null && days is not null && !double.IsNaN(eta[SlotCost]))
        {
            var p = _parameters;
            var facilityBase = (p.InpatientStayCost * adm.L0) + (p.InpatientDayCost * muDays) + (p.EmergencyVisitCost * muEd);
            var facility = (p.InpatientStayCost * adm.L) + (p.InpatientDayCost * days.Value.Value) + (p.EmergencyVisitCost * ed.Value.Value);
            double Cost(double etaC)
            {
                var mean = Math.Min(Math.Max(Mean(costModel.Family, etaC), 0), MaxCostMean) * e.CostMeanRr;
                var k = Math.Min(1, mean / Math.Max(facilityBase, double.Epsilon));
                return (k * facility) + (Math.Max(mean - facilityBase, 0) * e.OtherRr);
            }

            cost = new PatientInterval(Cost(eta[SlotCost]), Cost(eta[SlotCost] - (Z * se[SlotCost])), Cost(eta[SlotCost] + (Z * se[SlotCost])));
        }
        else if (costModel is not null && _slots[SlotAdmission] is not null && _slots[SlotDays] is not null && _slots[SlotEd] is not null)
        {
            missing?.Add(ExpectedCost);
        }

        return new PatientOutcomes(risks, ed, days, cost);

        void Binary(int slot, string name, double invOr)
        {
            if (_slots[slot] is null)
            {
                return;
            }

            if (double.IsNaN(eta[slot]))
            {
                missing?.Add(name);
                return;
            }

            // An odds ratio multiplies the odds: 1/OR divides e^−η (OutcomePasses.DeathPass, OnsetPass).
            risks[name] = new PatientInterval(Logistic(eta[slot], invOr), Logistic(eta[slot] - (Z * se[slot]), invOr), Logistic(eta[slot] + (Z * se[slot]), invOr));
        }
    }

    /// <summary>p = 1/(1 + e^−η/OR).</summary>
    private static double Logistic(double eta, double invOr) => 1 / (1 + (Math.Exp(-eta) * invOr));

    /// <summary>
    /// The admission count's rates as OutcomePasses.AdmissionPass computes them: x = e^−η, λ0 = ln(1 + 1/x) (capped at 365),
    /// an odds shift x' = x/OR, then λ = RR·ln(1 + 1/x'); P(N ≥ 1) = 1/(1 + x') when RR = 1, else 1 − e^−λ.
    /// </summary>
    private static (double L0, double L, double P) AdmissionRate(double eta, double invOr, double rr)
    {
        var x = Math.Max(Math.Exp(-eta), 1e-300);
        var l0 = Math.Min(double.LogP1(1 / x), MaxCountMean);
        var l = l0;
        var p = 1 / (1 + x);
        if (invOr != 1)
        {
            var shifted = Math.Max(x * invOr, 1e-300);
            l = Math.Min(double.LogP1(1 / shifted), MaxCountMean);
            p = 1 / (1 + shifted);
        }

        if (rr != 1)
        {
            l *= rr;
            p = -double.ExpM1(-l);
        }

        return (l0, l, p);
    }

    private static double Mean(GlmFamily family, double eta) => family == GlmFamily.Gaussian ? eta : Math.Exp(eta);

    private static double CountMean(PatientModel m, double eta) => Math.Min(Math.Max(Mean(m.Family, eta), 0), MaxCountMean);

    /// <summary>
    /// The twin outcome slot of a model by its outcome column and family (-1 with the reason for one the twin has no use for):
    /// the families OutcomePasses knows (TwinOutcomes.Requirement).
    /// </summary>
    private static int SlotOf(string outcome, GlmFamily family, out string? reason)
    {
        reason = null;
        int slot = outcome switch
        {
            "admission_next_year" => SlotAdmission,
            "death_next_year" => SlotDeath,
            "ed_visits_next_year" => SlotEd,
            "inpatient_days_next_year" => SlotDays,
            "cost_next_year" => SlotCost,
            _ when PatientYearSchema.OnsetCondition(outcome) is { } c => SlotOnset + PatientYearSchema.Conditions.ToList().IndexOf(c),
            _ => -1,
        };
        if (slot < 0)
        {
            reason = $"{outcome} is not an outcome of the twin's yearly step";
            return -1;
        }

        var binary = slot is SlotAdmission or SlotDeath or >= SlotOnset;
        if (binary ? family != GlmFamily.Binomial : family == GlmFamily.Binomial)
        {
            reason = $"{outcome} needs a {(binary ? "binomial" : "poisson or gaussian")} model, not {family.ToString().ToLowerInvariant()}";
            return -1;
        }

        return slot;
    }

    private IEnumerable<(string, string)> MissingList()
    {
        const string NoModel = "no released model of ";
        if (_slots[SlotAdmission] is null)
        {
            yield return (Admission, NoModel + "admission_next_year");
        }

        if (_slots[SlotDeath] is null)
        {
            yield return (Death, NoModel + "death_next_year");
        }

        if (_slots[SlotEd] is null)
        {
            yield return (EdVisit, NoModel + "ed_visits_next_year");
            yield return (ExpectedEdVisits, NoModel + "ed_visits_next_year");
        }
        else if (_slots[SlotEd]!.Family != GlmFamily.Poisson)
        {
            yield return (EdVisit, "the ed_visits_next_year model is gaussian: P(any visit) = 1 − e^−μ needs a Poisson count");
        }

        if (_slots[SlotDays] is null || _slots[SlotAdmission] is null)
        {
            yield return (ExpectedInpatientDays, "needs released models of inpatient_days_next_year and admission_next_year (days = μ_D·λ/λ0, as the population twin)");
        }

        if (_slots[SlotCost] is null || _slots[SlotAdmission] is null || _slots[SlotDays] is null || _slots[SlotEd] is null)
        {
            yield return (ExpectedCost, "needs released models of cost_next_year, admission_next_year, inpatient_days_next_year and ed_visits_next_year (the population twin prices admissions, days and ED visits inside the cost)");
        }

        for (var c = 0; c < PatientYearSchema.Conditions.Count; c++)
        {
            if (_slots[SlotOnset + c] is null)
            {
                yield return ("onset_" + PatientYearSchema.Conditions[c], NoModel + PatientYearSchema.OnsetOutcome(PatientYearSchema.Conditions[c]));
            }
        }
    }

    private CompiledIntervention Compile(TwinIntervention x)
    {
        PatientModel? risk = null;
        if (x.RiskModel is { } r)
        {
            // A real patient is never selected by an illustrative model: the band's model must be one of the node's released models.
            risk = _byId.GetValueOrDefault(r.Id);
            if (risk is null)
            {
                throw new ArgumentException($"intervention '{x.Name}': its risk band's model {r.Id} is not one of this node's released models used by the patient twin ({string.Join(", ", _byId.Keys.Order(StringComparer.Ordinal))})");
            }
        }

        foreach (var shift in x.Effects.Select(e => e.Shift).OfType<RiskFactorShift>())
        {
            if (!_byId.ContainsKey(shift.ModelId))
            {
                throw new ArgumentException($"intervention '{x.Name}': its risk-factor shift names model {shift.ModelId}, which is not one of this node's released models used by the patient twin");
            }
        }

        return new CompiledIntervention(x, risk);
    }

    /// <summary>Per-thread buffers: the row, the terms' values and each slot's η and se.</summary>
    private sealed class Scratch(PatientTwin twin)
    {
        public readonly double[] Row = new double[FeatureDictionary.Width];
        public readonly double[] X = new double[Math.Max(1, twin._slots.Concat(twin._byId.Values).Concat(twin._interventions?.Select(i => i.Risk) ?? []).Max(m => m?.Terms ?? 0))];
        public readonly double[] Eta = new double[Slots];
        public readonly double[] Se = new double[Slots];
    }
}
