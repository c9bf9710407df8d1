using FederatedTwin.Scenarios.Random;
using FederatedTwin.Scenarios.Twin;

namespace FederatedTwin.Scenarios.Tests;

public class TwinTests
{
    private const int People = 40_000;
    private static readonly TwinModelSet Models = DemoModels.Create();
    private static readonly Cohort Initial = Cohort.FromComposition(DemoModels.Composition(), People, seed: 11);

    private static YearTotals[] Run(IReadOnlyList<TwinIntervention> interventions, uint replicate = 0, int dop = -1) =>
        new TwinSimulator(Models).Run(Initial, new Cohort(People), interventions, 5, new DrawStream(11, replicate), dop);

    [Fact]
    public void A_zero_effect_intervention_gives_exactly_zero_paired_difference()
    {
        var baseline = Run([]);
        var zero = Run([.. DemoInterventions.Create(Models).Select(x => x.WithNoEffect())]);
        foreach (var metric in Enum.GetValues<Metric>().Where(m => m is not (Metric.InterventionCost or Metric.Enrolled)))
        {
            for (var t = 0; t < baseline.Length; t++)
            {
                Assert.Equal(baseline[t][metric], zero[t][metric]);
            }
        }

        Assert.True(zero.Sum(y => y[Metric.InterventionCost]) > 0, "the zero-effect interventions still enroll and cost money");
    }

    [Fact]
    public void A_stronger_effect_on_admissions_or_cost_never_gives_smaller_savings()
    {
        TwinIntervention Chf(double admissionRr, double costRr) => new("chf", ChronicCondition.HeartFailure, null, null, 0, 1, [0.5],
            [new InterventionEffect(EffectOutcome.Admissions, admissionRr), new InterventionEffect(EffectOutcome.AmbulatoryCost, costRr)], 0, 0);
        var baseline = Run([]);
        var previous = baseline;
        foreach (var (adm, cost) in new[] { (0.95, 1.0), (0.8, 0.97), (0.6, 0.9), (0.4, 0.9) })
        {
            var current = Run([Chf(adm, cost)]);
            for (var t = 0; t < baseline.Length; t++)
            {
                Assert.True(current[t][Metric.TotalCost] <= previous[t][Metric.TotalCost], $"year {t}, RR {adm}");
                Assert.True(current[t][Metric.Admissions] <= previous[t][Metric.Admissions]);
            }

            previous = current;
        }

        Assert.True(previous.Sum(y => y[Metric.TotalCost]) < baseline.Sum(y => y[Metric.TotalCost]));
    }

    [Fact]
    public void Results_do_not_depend_on_the_number_of_threads()
    {
        var one = Run(DemoInterventions.Create(Models), dop: 1);
        var many = Run(DemoInterventions.Create(Models), dop: 4);
        for (var t = 0; t < one.Length; t++)
        {
            foreach (var metric in Enum.GetValues<Metric>())
            {
                Assert.Equal(one[t][metric], many[t][metric]);
            }
        }
    }

    [Fact]
    public void The_cohort_reproduces_the_composition_cells_within_one_person()
    {
        var composition = DemoModels.Composition();
        var counts = composition.ImputedCounts();
        var total = counts.Sum();
        for (var cell = 0; cell < composition.Cells.Count; cell++)
        {
            var c = composition.Cells[cell];
            var observed = Enumerable.Range(0, People).Count(i => c.Band.Contains(Initial.Age[i]) && Initial.Male[i] == c.Male
                && System.Numerics.BitOperations.PopCount(Initial.Conditions[i]) == c.ConditionCount);
            Assert.InRange(observed, (counts[cell] / total * People) - 1, (counts[cell] / total * People) + 1);
        }
    }

    [Fact]
    public void Suppressed_cells_get_the_documented_imputation()
    {
        AgeBand band = new(65, 74);
        var withTotal = new Composition([new(band, true, 0, 100), new(band, false, 0, null), new(band, true, 1, null)], 11, 108, [.. new double[11]]);
        Assert.Equal([100, 4, 4], withTotal.ImputedCounts());
        var noTotal = withTotal with { KnownTotal = null };
        Assert.Equal([100, 5.5, 5.5], noTotal.ImputedCounts());
    }

    [Fact]
    public void First_year_admissions_and_deaths_match_the_models_within_Monte_Carlo_error()
    {
        double expectedAdmissions = 0, expectedDeaths = 0, deathVariance = 0;
        for (var i = 0; i < People; i++)
        {
            expectedAdmissions += Models.Admissions.Mean(Initial.Age[i], Initial.Male[i], Initial.Conditions[i]);
            var p = Models.Death.Mean(Initial.Age[i], Initial.Male[i], Initial.Conditions[i]);
            expectedDeaths += p;
            deathVariance += p * (1 - p);
        }

        var year0 = Run([])[0];
        // Poisson sum: variance = mean; 4 standard errors.
        Assert.InRange(year0[Metric.Admissions], expectedAdmissions - (4 * Math.Sqrt(expectedAdmissions)), expectedAdmissions + (4 * Math.Sqrt(expectedAdmissions)));
        Assert.InRange(year0[Metric.Deaths], expectedDeaths - (4 * Math.Sqrt(deathVariance)), expectedDeaths + (4 * Math.Sqrt(deathVariance)));
    }

    [Fact]
    public void Risk_band_targeting_selects_exactly_the_people_whose_predicted_risk_is_in_the_band()
    {
        var x = new TwinIntervention("band", null, null, Models.Admissions, 0.2, 0.4, [1.0], [new InterventionEffect(EffectOutcome.Admissions, 1)], 0, 0);
        var plan = new InterventionPlan([x], 1);
        var selected = 0;
        for (var i = 0; i < People; i++)
        {
            var risk = Models.Admissions.Risk(Initial.Age[i], Initial.Male[i], Initial.Conditions[i]);
            var inBand = risk >= 0.2 && risk < 0.4;
            Assert.Equal(inBand, plan.Eligible(0, Initial.Age[i], Initial.Male[i], Initial.Conditions[i]));
            selected += inBand ? 1 : 0;
        }

        Assert.InRange(selected, 1, People - 1);
    }
}
