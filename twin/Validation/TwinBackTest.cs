using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Validation;

/// <summary>
/// The back-test of the twin (`ftwin twin validate`, a step of `ftwin demo`): the models trained on the patient-years up to a
/// cut-off year C (GLM studies with max_year = C − 1: their last outcomes are of year C), the cohort drawn from the composition
/// released for year C at its published size, run forward over the years after C with no intervention, and compared outcome by
/// outcome and year by year with the federation's DP totals of those years (<see cref="ValidationComparison"/>). The cohort has
/// the federation's size, so the replicates' spread is the spread of what a population that size does (the binomial and count
/// noise of real outcomes), not that of a large synthetic cohort. Each replicate also draws the models' coefficients from N(β̂, Σ̂)
/// and the composition from its release's DP noise (<see cref="ParameterUncertainty"/>, as a scenario does), unless
/// <see cref="UncertaintyMode.MonteCarloOnly"/> is asked for.
/// </summary>
public static class TwinBackTest
{
    /// <summary>Runs the back-test; a model set without the cut-off year's composition, or observations not after the cut-off, are refused.</summary>
    public static TwinValidation Run(ModelSet models, int cutoffYear, OutcomeTotalsStudyResult observed, int replicates = 200, uint seed = 2022, UncertaintyMode mode = UncertaintyMode.All)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(observed);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicates, 20);
        if (observed.FromYear <= cutoffYear)
        {
            throw new ArgumentException($"the observed years ({observed.FromYear}-{observed.ToYear}) must follow the cut-off year {cutoffYear}", nameof(observed));
        }

        var release = models.Compositions.LastOrDefault(c => c.Year == cutoffYear)
            ?? throw new ArgumentException($"the model set holds no composition release of {cutoffYear} (it has: {string.Join(", ", models.Compositions.Select(c => c.Year).Distinct())})", nameof(models));
        var composition = release.ToComposition();
        var population = (int)Math.Max(1, release.PublishedTotal ?? (long)Math.Round(release.Counts.Sum()));
        var cohort = Cohort.FromComposition(composition, models, population, seed, cutoffYear + 1);
        var work = new Cohort(cohort.Count);
        var sim = new TwinSimulator(models);
        var horizon = observed.ToYear - cutoffYear;
        var uncertainty = new ParameterUncertainty(models, [], release, mode, replicates);
        var runs = new YearTotals[replicates][];
        for (var r = 0; r < replicates; r++)
        {
            var draws = new DrawStream(seed, (uint)r);
            var drawn = uncertainty.Draw(draws);
            sim.Models = drawn.Models;
            var start = drawn.Composition is { } c ? Cohort.FromComposition(c.ToComposition(), drawn.Models, population, seed, cutoffYear + 1) : cohort;
            runs[r] = sim.Run(start, work, [], horizon, draws);
        }

        var sources = string.Join("; ", uncertainty.Sources.Where(s => s.Included && s.Source != UncertaintySource.InterventionEffects).Select(s => $"{s.Source}: {s.Note}")
            .Append("the observed totals' DP noise (each interval is that of the prediction plus the observation's noise)"));
        var left = uncertainty.Sources.Where(s => !s.Included && s.Source != UncertaintySource.InterventionEffects).Select(s => $"{s.Source}: {s.Note}").ToList();
        return ValidationComparison.Compare(cutoffYear, cohort.Count, runs, observed, sources + (left.Count > 0 ? "; not included: " + string.Join("; ", left) : string.Empty));
    }
}
