using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// The replicates of one run of a baseline and a scenario on a cohort (<see cref="ScenarioRunner.RunOnCohort"/>): per
/// replicate, the year totals of each simulated year, baseline and scenario paired by common random numbers (replicate r
/// of both used the same draws), so a per-replicate difference is a paired difference. Without interventions the scenario
/// totals are the baseline's (the same objects).
/// </summary>
/// <param name="Baseline">Replicate → simulated year (0 = the first) → totals.</param>
/// <param name="Scenario">The same for the scenario.</param>
/// <param name="UncertaintySources">What the replicates drew (docs/scenarios.md, "Uncertainty in the twin's intervals").</param>
/// <param name="ModelOrigins">Where each twin outcome's model came from (federated, fallback, illustrative), in step order.</param>
public sealed record CohortRun(
    IReadOnlyList<YearTotals[]> Baseline,
    IReadOnlyList<YearTotals[]> Scenario,
    IReadOnlyList<UncertaintySource> UncertaintySources,
    IReadOnlyList<ModelOrigin> ModelOrigins)
{
    /// <summary>Number of replicates.</summary>
    public int Replicates => Baseline.Count;

    /// <summary>The replicate distribution of one simulated year's value, baseline.</summary>
    public Estimate BaselineOf(int year, Func<YearTotals, double> value) => Estimate.Of([.. Baseline.Select(b => value(b[year]))]);

    /// <summary>The replicate distribution of one simulated year's value, scenario.</summary>
    public Estimate ScenarioOf(int year, Func<YearTotals, double> value) => Estimate.Of([.. Scenario.Select(s => value(s[year]))]);

    /// <summary>The replicate distribution of the paired difference (scenario minus baseline) of one simulated year's value.</summary>
    public Estimate DifferenceOf(int year, Func<YearTotals, double> value) =>
        Estimate.Of([.. Baseline.Zip(Scenario, (b, s) => value(s[year]) - value(b[year]))]);
}
