using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

public class TwinTests
{
    private const int People = 40_000;
    private static readonly ModelSet Models = ModelSet.Demo();
    private static readonly Cohort Initial = Cohort.FromComposition(DemoModels.Composition(), Models, People, seed: 11, firstYear: 2027);

    private static YearTotals[] Run(IReadOnlyList<TwinIntervention> interventions, uint replicate = 0, int dop = -1, int years = 5) =>
        new TwinSimulator(Models).Run(Initial, new Cohort(People), interventions, years, new DrawStream(11, replicate), dop);

    [Fact]
    public void A_zero_effect_intervention_gives_exactly_zero_paired_difference()
    {
        var baseline = Run([]);
        var zero = Run([.. DemoInterventions.Create(Models).Select(x => x.WithNoEffect())]);
        TwinAssert.SameOutcomes(baseline, zero);
        Assert.True(zero.Sum(y => y[Metric.InterventionCost]) > 0, "the zero-effect interventions still enroll and cost money");
    }

    [Fact]
    public void Real_effects_change_the_outcomes_they_act_on()
    {
        // The counterpart of the zero-effect property: the same interventions with their effects do change the totals.
        var baseline = Run([]);
        var real = Run(DemoInterventions.Create(Models));
        Assert.True(real.Sum(y => y[Metric.Admissions]) < baseline.Sum(y => y[Metric.Admissions]));
        Assert.True(real.Sum(y => y[Metric.EdVisits]) < baseline.Sum(y => y[Metric.EdVisits]));
        Assert.True(real.Sum(y => y[Metric.TotalCost]) < baseline.Sum(y => y[Metric.TotalCost]));
    }

    [Fact]
    public void A_stronger_effect_on_admissions_or_cost_never_gives_smaller_savings()
    {
        // Exact in the first year: every person-year sees the same features and draws in every run, and admissions,
        // bed-days and cost are monotone in the relative risks for a fixed draw. Later years differ through the lagged
        // utilisation features (fewer admissions also mean fewer deaths, and survivors keep costing money), so over the
        // horizon only the totals are compared, a statistical rather than a per-draw property.
        TwinIntervention Chf(double admissionRr, double costRr) => new("chf", ChronicCondition.HeartFailure, null, null, 0, 1, [0.5],
            [new InterventionEffect(EffectOutcome.Admissions, admissionRr), new InterventionEffect(EffectOutcome.OtherCost, costRr)], 0, 0);
        var baseline = Run([]);
        var previous = baseline;
        foreach (var (adm, cost) in new[] { (0.95, 1.0), (0.8, 0.97), (0.6, 0.9), (0.4, 0.9), (0.4, 0.8) })
        {
            var current = Run([Chf(adm, cost)]);
            Assert.True(current[0][Metric.TotalCost] <= previous[0][Metric.TotalCost], $"first year, RR {adm}, cost RR {cost}");
            Assert.True(current[0][Metric.Admissions] <= previous[0][Metric.Admissions]);
            Assert.True(current[0][Metric.BedDays] <= previous[0][Metric.BedDays]);
            Assert.True(current.Sum(y => y[Metric.TotalCost]) < previous.Sum(y => y[Metric.TotalCost]), $"horizon, RR {adm}, cost RR {cost}");
            previous = current;
        }
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
        Assert.All(Initial.Alive, Assert.True);
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
    public void The_cohort_uses_the_feature_schema_age_bands()
    {
        Assert.Equal(new AgeBand(65, 74), AgeBand.Parse("65-74"));
        Assert.Equal(new AgeBand(90, AgeBand.TopBandHigh), AgeBand.Parse("90+"));
        Assert.Equal(8, DemoModels.Composition().Cells.Select(c => c.Band).Distinct().Count());
        Assert.Equal(2026, Initial.FeatureYear);
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
    public void First_year_outcomes_match_the_models_predictions_within_Monte_Carlo_error()
    {
        // Expected values from each person's features through the registered models; variances are those of the
        // Bernoulli / Poisson draws (4 standard errors).
        double admitted = 0, admittedVar = 0, deaths = 0, deathVar = 0, ed = 0, days = 0, cost = 0;
        for (var i = 0; i < People; i++)
        {
            var f = Initial.Features(i);
            var p = Models.Admission.Mean(f);
            admitted += p;
            admittedVar += p * (1 - p);
            var q = Models.Death.Mean(f);
            deaths += q;
            deathVar += q * (1 - q);
            ed += Math.Min(Models.EdVisits.Mean(f), 365);
            days += Math.Min(Models.InpatientDays.Mean(f), 365);
            cost += Models.Cost.Mean(f);
        }

        var year0 = Run([], years: 1)[0];
        Assert.InRange(year0[Metric.Admitted], admitted - (4 * Math.Sqrt(admittedVar)), admitted + (4 * Math.Sqrt(admittedVar)));
        Assert.InRange(year0[Metric.Deaths], deaths - (4 * Math.Sqrt(deathVar)), deaths + (4 * Math.Sqrt(deathVar)));
        Assert.InRange(year0[Metric.EdVisits], ed - (4 * Math.Sqrt(ed)), ed + (4 * Math.Sqrt(ed)));

        // Bed-days and cost have no closed-form variance here: use the spread over 12 replicates (4 standard errors of their mean).
        var replicates = Enumerable.Range(0, 12).Select(r => Run([], replicate: (uint)r, years: 1)[0]).ToList();
        foreach (var (metric, expected) in new[] { (Metric.BedDays, days), (Metric.TotalCost, cost) })
        {
            var values = replicates.Select(y => y[metric]).ToList();
            var mean = values.Average();
            var se = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Count - 1) / values.Count);
            Assert.InRange(mean, expected - (4 * se), expected + (4 * se));
        }
    }

    [Fact]
    public void Risk_band_targeting_enrolls_exactly_the_people_whose_predicted_risk_is_in_the_band()
    {
        var x = new TwinIntervention("band", null, null, Models.Admission, 0.2, 0.4, [1.0], [new InterventionEffect(EffectOutcome.Admissions, 1)], 0, 0);
        var expected = Enumerable.Range(0, People).Count(i => Models.Admission.Risk(Initial.Features(i)) is >= 0.2 and < 0.4);
        Assert.InRange(expected, 1, People - 1);
        Assert.Equal(expected, Run([x], years: 1)[0][Metric.Enrolled]);
    }
}
