namespace FederatedTwin.Scenarios.Twin;

/// <summary>
/// The built-in DEMO twin used until the federated model registry exists (issue 7 depends on the models issue).
/// Coefficients are illustrative round numbers chosen to give plausible Medicare-like rates (about 4-5% annual
/// mortality, ~300 admissions and ~600 ED visits per 1,000 at 65+ with multimorbidity, ~$12k per beneficiary-year);
/// they are NOT estimates from any study and every result computed with them says so (ids start with "demo/").
/// </summary>
public static class DemoModels
{
    /// <summary>The demo model set.</summary>
    public static TwinModelSet Create()
    {
        string[] conditions = [.. ChronicConditions.All];
        // Baseline annual onset log-odds per condition (illustrative) and a common age slope.
        double[] onsetIntercepts = [-4.6, -4.0, -4.7, -4.3, -4.2, -4.5, -3.2, -4.3, -5.0, -4.8, -5.1];
        var onset = conditions.Select((c, k) => new TwinModel($"demo/onset-{c}@1", ModelFamily.Logistic,
            ["intercept", "age65", "condition_count"], [onsetIntercepts[k], 0.03, 0.10])).ToList();

        return new TwinModelSet(
            new TwinModel("demo/death@1", ModelFamily.Logistic,
                ["intercept", "age65", "male", "chf", "copd", "ckd", "dementia", "cancer", "condition_count"],
                [-4.4, 0.08, 0.25, 0.6, 0.5, 0.4, 0.8, 0.7, 0.05]),
            onset,
            new TwinModel("demo/admissions@1", ModelFamily.Poisson,
                ["intercept", "age65", "chf", "copd", "ckd", "diabetes", "condition_count"],
                [-2.6, 0.02, 0.55, 0.45, 0.3, 0.15, 0.18]),
            new TwinModel("demo/length-of-stay@1", ModelFamily.Poisson, ["intercept", "age65", "condition_count"], [1.45, 0.01, 0.05]),
            new TwinModel("demo/ed-visits@1", ModelFamily.Poisson,
                ["intercept", "age65", "chf", "copd", "depression", "condition_count"], [-1.3, 0.005, 0.3, 0.35, 0.3, 0.15]),
            new TwinModel("demo/ambulatory-cost@1", ModelFamily.LogNormal,
                ["intercept", "age65", "condition_count", "cancer", "ckd"], [8.3, 0.01, 0.25, 0.6, 0.3], Dispersion: 0.9),
            new TwinModel("demo/facility-unit-cost@1", ModelFamily.Identity,
                ["admissions", "bed_days", "ed_visits"], [9_000, 1_200, 1_100]));
    }

    /// <summary>An illustrative composition histogram (age band x sex x condition count) for the demo twin.</summary>
    public static Composition Composition()
    {
        var cells = new List<CompositionCell>();
        AgeBand[] bands = [new(18, 44), new(45, 64), new(65, 74), new(75, 84), new(85, 99)];
        double[] bandWeight = [0.10, 0.15, 0.40, 0.25, 0.10];
        for (var b = 0; b < bands.Length; b++)
        {
            foreach (var male in new[] { false, true })
            {
                for (var count = 0; count <= 6; count++)
                {
                    // Older bands carry more conditions: geometric-like decay whose ratio rises with age.
                    var ratio = 0.35 + (0.12 * b);
                    var weight = bandWeight[b] * (male ? 0.45 : 0.55) * Math.Pow(ratio, count) * (1 - ratio);
                    var n = (long)Math.Round(weight * 200_000);
                    cells.Add(new CompositionCell(bands[b], male, count, n < 11 ? null : n));
                }
            }
        }

        // Suppression threshold 11 as in CMS's cell-size suppression policy; prevalence per condition (illustrative).
        return new Composition(cells, SuppressionThreshold: 11, KnownTotal: null,
            Prevalence: [0.08, 0.25, 0.10, 0.15, 0.20, 0.09, 0.55, 0.15, 0.06, 0.08, 0.04]);
    }
}
