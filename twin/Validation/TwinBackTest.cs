using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Validation;

/// <summary>
/// The back-test of the twin (`ftwin twin validate`, a step of `ftwin demo`): the models trained on the patient-years up to a
/// cut-off year C (GLM studies with max_year = C − 1: their last outcomes are of year C), the cohort drawn from the composition
/// released for year C at its published size, run forward over the years after C with no intervention, and compared outcome by
/// outcome and year by year with the federation's DP totals of those years (<see cref="ValidationComparison"/>). The cohort has
/// the federation's size, so the replicates' spread is the spread of what a population that size does (the binomial and count
/// noise of real outcomes), not that of a large synthetic cohort.
/// </summary>
public static class TwinBackTest
{
    /// <summary>What the intervals include today.</summary>
    public const string Sources = "outcome draws of a cohort the size of the cut-off composition (Monte Carlo) and the observed totals' DP noise; "
        + "not the models' coefficient uncertainty nor the composition's noise (the cohort is drawn once from the released composition)";

    /// <summary>Runs the back-test; a model set without the cut-off year's composition, or observations not after the cut-off, are refused.</summary>
    public static TwinValidation Run(ModelSet models, int cutoffYear, OutcomeTotalsStudyResult observed, int replicates = 200, uint seed = 2022)
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
        var runs = new YearTotals[replicates][];
        for (var r = 0; r < replicates; r++)
        {
            runs[r] = sim.Run(cohort, work, [], horizon, new DrawStream(seed, (uint)r));
        }

        return ValidationComparison.Compare(cutoffYear, cohort.Count, runs, observed, Sources);
    }
}
