using FederatedTwin.Twin.Mssp;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>Mean over Monte Carlo replicates with the 2.5th and 97.5th percentiles (a 95% interval of the simulated outcome).</summary>
public readonly record struct Estimate(double Mean, double Low, double High)
{
    /// <summary>Summarises replicate values.</summary>
    public static Estimate Of(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var sorted = values.Order().ToArray();
        return new Estimate(sorted.Average(), Percentile(sorted, 0.025), Percentile(sorted, 0.975));
    }

    private static double Percentile(double[] sorted, double q)
    {
        // Linear interpolation between order statistics (type 7, the R and NumPy default).
        var h = (sorted.Length - 1) * q;
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + ((h - lo) * (sorted[hi] - sorted[lo]));
    }
}

/// <summary>One outcome measure in one year: baseline, scenario, and the paired difference (scenario minus baseline).</summary>
public sealed record MeasureRow(string Measure, Estimate Baseline, Estimate Scenario, Estimate Difference);

/// <summary>One performance year settled on the scenario's Medicare-eligible expenditure (mean over replicates) and the
/// replicate distribution of the net settlement (shared savings minus shared losses).</summary>
public sealed record SettlementYear(int Year, SettlementResult Scenario, SettlementResult Baseline, Estimate ScenarioNetSettlement, Estimate BaselineNetSettlement);

/// <summary>
/// Results of a scenario: per calendar year (Year = 0 is the total over the horizon) and per-year MSSP settlements, with
/// the registry the models came from and the model id behind every outcome (risk-band models as risk:&lt;intervention&gt;),
/// so a result can be traced to the studies that trained them.
/// </summary>
public sealed record ScenarioResult(
    string Scenario,
    string TwinNote,
    string ModelSource,
    IReadOnlyDictionary<string, string> ModelsByOutcome,
    IReadOnlyList<string> ModelIds,
    int Population,
    int Replicates,
    IReadOnlyDictionary<int, IReadOnlyList<MeasureRow>> Years,
    IReadOnlyList<SettlementYear> Settlements,
    IReadOnlyList<FederatedTwin.Twin.Simulation.ModelOrigin> ModelOrigins,
    CohortSource Cohort)
{
    /// <summary>
    /// The sources of uncertainty the replicates drew, each with whether it was included and how (monte_carlo,
    /// coefficients, composition, intervention_effects; docs/scenarios.md, "Uncertainty in the twin's intervals"). The
    /// intervals of <see cref="Years"/> are percentiles of the replicates, so they combine every included source.
    /// </summary>
    public IReadOnlyList<UncertaintySource> UncertaintySources { get; init; } = [];

    /// <summary>The year-by-year measures as CSV (`ftwin scenario run --csv` and the dashboard's export): one row per year and measure, the total last.</summary>
    public string ToCsv()
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder("year,measure,baseline_mean,baseline_low,baseline_high,scenario_mean,scenario_low,scenario_high,diff_mean,diff_low,diff_high\n");
        foreach (var (year, rows) in Years.OrderBy(y => y.Key == 0 ? int.MaxValue : y.Key))
        {
            foreach (var row in rows)
            {
                sb.Append(c, $"{(year == 0 ? "total" : year.ToString(c))},{row.Measure},{row.Baseline.Mean},{row.Baseline.Low},{row.Baseline.High},{row.Scenario.Mean},{row.Scenario.Low},{row.Scenario.High},{row.Difference.Mean},{row.Difference.Low},{row.Difference.High}\n");
            }
        }

        return sb.ToString();
    }
}

/// <summary>
/// What the synthetic cohort was drawn from and what part of it is settled: <see cref="Composition"/> is a composition
/// release's registry id or "demo"; <see cref="ReleasedPopulation"/> the release's published (noisy) total, i.e. the
/// training population the composition describes; the cohort has <see cref="Population"/> people (the ACO's attributed
/// population, the release scaled to it by largest remainder); <see cref="MedicareEligibleAtStart"/> of them are 65 or
/// older at the start, the part whose costs MSSP settles (assigned beneficiaries come from the scenario's mssp terms).
/// </summary>
public sealed record CohortSource(string Composition, int? Year, long? ReleasedPopulation, int HiddenCompositionCells, int HiddenPrevalenceCells,
    int Population, int MedicareEligibleAtStart);

/// <summary>One source of uncertainty in a result's intervals: its name, whether the replicates drew it, and how (or why not).</summary>
public sealed record UncertaintySource(string Source, bool Included, string Note)
{
    /// <summary>The per-person draws of every simulated outcome.</summary>
    public const string MonteCarlo = "monte_carlo";
    /// <summary>The models' coefficients, N(β̂, Σ̂).</summary>
    public const string Coefficients = "coefficients";
    /// <summary>The cohort's composition, from the release's DP noise.</summary>
    public const string Composition = "composition";
    /// <summary>The interventions' effects, from their stated intervals.</summary>
    public const string InterventionEffects = "intervention_effects";
}
