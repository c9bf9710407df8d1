using FederatedTwin.Twin.Mssp;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// Runs a scenario against its baseline on the same twin: replicate r of both uses the draws of (seed, r), so the
/// per-replicate difference is a paired (common random numbers) difference. This is the API the coordinator hosts.
/// </summary>
public sealed class ScenarioRunner
{
    private readonly Composition _composition;

    /// <summary>Creates a runner over the composition the cohort is drawn from; the models come with each scenario.</summary>
    public ScenarioRunner(Composition composition)
    {
        ArgumentNullException.ThrowIfNull(composition);
        _composition = composition;
    }

    private readonly ReleasedComposition? _release;

    private ScenarioRunner(ReleasedComposition release)
        : this(release.ToComposition()) => _release = release;

    /// <summary>
    /// The runner for a scenario's model set: the newest composition release next to its models (by year, then
    /// registration time) if there is one, else the illustrative <see cref="DemoModels.Composition"/>.
    /// </summary>
    public static ScenarioRunner For(ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        return models.Compositions.Count > 0 ? new ScenarioRunner(models.Compositions[^1]) : new ScenarioRunner(DemoModels.Composition());
    }

    /// <summary>Runs a scenario on the composition its model set carries (see <see cref="For"/>).</summary>
    public static ScenarioResult RunScenario(ScenarioDefinition scenario, int? replicates = null, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        return For(scenario.Models).Run(scenario, replicates, progress);
    }

    /// <summary>
    /// Runs <paramref name="scenario"/> with its own replicate count unless <paramref name="replicates"/> is given;
    /// <paramref name="progress"/> hears the number of replicates (baseline and scenario) finished after each one.
    /// </summary>
    public ScenarioResult Run(ScenarioDefinition scenario, int? replicates = null, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        var k = replicates ?? scenario.Replicates;
        var models = scenario.Models;
        var cohort = Cohort.FromComposition(_composition, models, scenario.Population, scenario.Seed, scenario.StartYear);
        var medicare = 0;
        for (var i = 0; i < cohort.Count; i++)
        {
            // Medicare-eligible at the start: 65 or older by the end of the first simulated year (docs/scenarios.md).
            medicare += cohort.Age[i] + 1 >= 65 ? 1 : 0;
        }

        var source = new CohortSource(_composition.Source, _release?.Year, _release?.PublishedTotal ?? _composition.KnownTotal,
            _release?.HiddenCompositionCells ?? _composition.Cells.Count(c => c.Count is null), _release?.HiddenPrevalenceCells ?? 0, cohort.Count, medicare);
        var run = Replicates(scenario, cohort, _release, k, progress);
        var baseline = run.Baseline;
        var intervention = run.Scenario;
        var years = new Dictionary<int, IReadOnlyList<MeasureRow>>();
        for (var t = 0; t < scenario.Horizon; t++)
        {
            var year = t;
            years[scenario.StartYear + t] = Measures(baseline.Select(b => b[year]).ToArray(), intervention.Select(s => s[year]).ToArray());
        }

        years[0] = Measures(baseline.Select(Total).ToArray(), intervention.Select(Total).ToArray());
        var settlements = scenario.Mssp is { } terms
            ? Enumerable.Range(0, scenario.Horizon).Select(t => Settle(terms, scenario.StartYear + t, baseline.Select(b => b[t]).ToArray(), intervention.Select(s => s[t]).ToArray())).ToList()
            : [];
        var byOutcome = models.ModelIds.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        foreach (var x in scenario.Interventions.Where(x => x.RiskModel is not null))
        {
            byOutcome["risk:" + x.Name] = x.RiskModel!.Id;
        }

        foreach (var x in scenario.Interventions)
        {
            foreach (var e in x.Effects.Where(e => e.Shift is not null))
            {
                // The model whose coefficient turns a risk-factor shift into the effect, e.g. shift:dsme:admissions:hba1c.
                byOutcome[$"shift:{x.Name}:{e.Shift!.Outcome}:{e.Shift.Factor}"] = e.Shift.ModelId;
            }
        }

        return new ScenarioResult(scenario.Name, models.Description, models.Source, byOutcome, [.. byOutcome.Values.Distinct()],
            scenario.Population, k, years, settlements, models.Origins, source) { UncertaintySources = run.UncertaintySources };
    }

    /// <summary>
    /// Runs <paramref name="scenario"/> (its interventions, seed, horizon and uncertainty) and its baseline on a given cohort
    /// instead of one drawn from a composition: the facility twin runs a hospital's own patients (node/Twins). Replicates draw
    /// coefficients and intervention effects exactly as <see cref="Run"/> does (the same loop); there is no composition to
    /// draw, so the cohort is the same in every replicate. <paramref name="cohort"/> is not changed.
    /// </summary>
    public static CohortRun RunOnCohort(ScenarioDefinition scenario, Cohort cohort, int? replicates = null, IProgress<int>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(cohort);
        return Replicates(scenario, cohort, null, replicates ?? scenario.Replicates, progress);
    }

    /// <summary>
    /// The replicate loop both entry points share: replicate r draws its parameters from stream (seed, r), then runs the
    /// baseline and the scenario with the same per-person draws (common random numbers pair them). With a DP composition
    /// <paramref name="release"/> whose noise is drawn, each replicate redraws its cohort from its drawn composition.
    /// </summary>
    private static CohortRun Replicates(ScenarioDefinition scenario, Cohort cohort, ReleasedComposition? release, int k, IProgress<int>? progress)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(k);
        var models = scenario.Models;
        var work = new Cohort(cohort.Count);
        var sim = new TwinSimulator(models);
        var baseline = new YearTotals[k][];
        var intervention = new YearTotals[k][];
        var uncertainty = new ParameterUncertainty(models, scenario.Interventions, release, scenario.Uncertainty, k);
        for (var r = 0; r < k; r++)
        {
            // The replicate's parameters are drawn once and used by baseline and scenario alike (with the same per-person
            // draws: common random numbers still pair them).
            var draws = new DrawStream(scenario.Seed, (uint)r);
            var drawn = uncertainty.Draw(draws);
            sim.Models = drawn.Models;
            var start = drawn.Composition is { } composition
                ? Cohort.FromComposition(composition.ToComposition(), drawn.Models, scenario.Population, scenario.Seed, scenario.StartYear)
                : cohort;
            baseline[r] = sim.Run(start, work, [], scenario.Horizon, draws);
            // Without interventions the scenario run would repeat the baseline draw for draw.
            intervention[r] = drawn.Interventions.Count == 0 ? baseline[r] : sim.Run(start, work, drawn.Interventions, scenario.Horizon, draws);
            progress?.Report(r + 1);
        }

        return new CohortRun(baseline, intervention, uncertainty.Sources, models.Origins);
    }

    private static YearTotals Total(YearTotals[] perYear)
    {
        var total = new YearTotals();
        foreach (var y in perYear)
        {
            foreach (var m in Enum.GetValues<Metric>())
            {
                total[m] += y[m];
            }
        }

        return total;
    }

    private static List<MeasureRow> Measures(YearTotals[] b, YearTotals[] s)
    {
        var rows = new List<MeasureRow>();
        void Add(string name, Func<YearTotals, double> f) =>
            rows.Add(new MeasureRow(name, Estimate.Of([.. b.Select(f)]), Estimate.Of([.. s.Select(f)]), Estimate.Of([.. b.Zip(s, (x, y) => f(y) - f(x))])));
        Add("total_cost_of_care", y => y[Metric.TotalCost]);
        Add("pmpm", y => y.Pmpm);
        Add("admissions_per_1000", y => y.Per1000(Metric.Admissions));
        Add("people_admitted_per_1000", y => y.Per1000(Metric.Admitted));
        Add("ed_visits_per_1000", y => y.Per1000(Metric.EdVisits));
        Add("bed_days", y => y[Metric.BedDays]);
        Add("deaths", y => y[Metric.Deaths]);
        Add("new_onsets", y => y[Metric.NewOnsets]);
        Add("intervention_cost", y => y[Metric.InterventionCost]);
        Add("enrolled_person_years", y => y[Metric.Enrolled]);
        // Quality proxy: admissions per 1,000 Medicare person-years with >= 2 chronic conditions (the idea behind CMS's
        // MCC admissions measure in the APP set; not risk-adjusted like the real measure).
        Add("mcc_admissions_per_1000", y => y[Metric.McMultiMorbidPersonYears] == 0 ? 0 : y[Metric.McMultiMorbidAdmissions] / y[Metric.McMultiMorbidPersonYears] * 1000);
        // Net savings of the scenario: baseline cost minus scenario cost minus what the interventions cost.
        rows.Add(new MeasureRow("net_savings", Estimate.Of([.. b.Select(_ => 0.0)]), Estimate.Of([.. b.Zip(s, NetSavings)]), Estimate.Of([.. b.Zip(s, NetSavings)])));
        return rows;
    }

    private static double NetSavings(YearTotals b, YearTotals s) => b[Metric.TotalCost] - s[Metric.TotalCost] - s[Metric.InterventionCost];

    /// <summary>
    /// Settles one performance year on the Medicare-eligible part of the twin: expenditure per beneficiary-year is the
    /// twin's mean cost per Medicare-eligible person-year (intervention cost is the ACO's, not Medicare's, so excluded). Each
    /// simulated year settles under the rules of that performance year (<see cref="PerformanceYearRules"/>; years after the
    /// latest known settle under the latest).
    /// </summary>
    private static SettlementYear Settle(MsspTerms terms, int year, YearTotals[] b, YearTotals[] s)
    {
        SettlementResult One(double pbpy) => MsspSettlement.Settle(new SettlementInput(terms.Track, terms.Assigned, terms.BenchmarkPerBeneficiaryYear,
            (decimal)pbpy, terms.QualityStandardMet, terms.QualityScore, terms.LowRevenue, terms.MsrMlr, terms.ParticipantRevenue, terms.AgreementStartYear, year));
        static double Pbpy(YearTotals y) => y[Metric.McPersonYears] == 0 ? 0 : y[Metric.McCost] / y[Metric.McPersonYears];
        static double Net(SettlementResult r) => (double)(r.SharedSavings - r.SharedLosses);
        return new SettlementYear(year, One(b.Zip(s, (_, y) => Pbpy(y)).Average()), One(b.Average(Pbpy)),
            Estimate.Of([.. s.Select(y => Net(One(Pbpy(y))))]), Estimate.Of([.. b.Select(y => Net(One(Pbpy(y))))]));
    }
}
