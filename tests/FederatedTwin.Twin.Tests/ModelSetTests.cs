using System.Text.RegularExpressions;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

public sealed class ModelSetTests : IDisposable
{
    /// <summary>The demo registry as shipped in the source tree (also embedded in the assembly).</summary>
    internal static readonly string DemoRegistryDirectory =
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../twin/Simulation/DemoRegistry"));

    private readonly TempDirectory _dir = new("ftwin-models-");

    public void Dispose() => _dir.Dispose();

    /// <summary>Copies the demo registry into a temporary directory, applying <paramref name="edit"/> to each model (null drops it).</summary>
    private string DemoCopy(Func<RegisteredModel, RegisteredModel?>? edit = null) => _dir.DemoRegistry(edit);

    [Fact]
    public void The_condition_enum_spells_the_feature_schema_condition_columns_in_order()
    {
        var names = Enum.GetNames<ChronicCondition>().Select(n => Regex.Replace(n, "(?<=[a-z])([A-Z])", "_$1").ToLowerInvariant()).ToList();
        Assert.Equal(PatientYearSchema.Conditions, names);
        Assert.Equal(ChronicConditions.Count, PatientYearSchema.Conditions.Count);
    }

    [Fact]
    public void The_demo_set_maps_every_twin_outcome_to_a_demo_model()
    {
        var set = ModelSet.Demo();
        Assert.Equal(16, set.ModelIds.Count);
        Assert.Equal("demo/admission_next_year", set.ByOutcome[TwinOutcomes.Admission].Id);
        Assert.Equal("demo/onset_heart_failure_next_year", set.ByOutcome["onset:heart_failure"].Id);
        Assert.All(set.Registry, m => Assert.Equal(0, m.Rows));
    }

    [Fact]
    public void Compiled_eta_equals_the_plain_sum_of_coefficient_times_feature_for_every_model()
    {
        // An independent evaluator: sum over the registered terms of beta * PersonFeatures.Value(term).
        var set = ModelSet.Demo();
        var cohort = Cohort.FromComposition(DemoModels.Composition(), set, 5_000, seed: 3, firstYear: 2027);
        foreach (var model in set.ByOutcome.Values)
        {
            for (var i = 0; i < cohort.Count; i += 7)
            {
                var f = cohort.Features(i) with { Age = cohort.Age[i] + (i % 40) };
                var expected = model.Model.Terms.Sum(t => t.Coefficient * f.Value(t.Name));
                Assert.True(Math.Abs(model.Eta(f) - expected) <= 1e-12 * Math.Max(1, Math.Abs(expected)), $"{model.Id}, person {i}");
            }
        }
    }

    [Fact]
    public void The_embedded_demo_and_the_demo_registry_directory_give_identical_results()
    {
        var embedded = ModelSet.Demo();
        var directory = ModelSet.Load(DemoRegistryDirectory);
        Assert.Equal(embedded.ModelIds, directory.ModelIds);
        YearTotals[] Run(ModelSet set)
        {
            var cohort = Cohort.FromComposition(DemoModels.Composition(), set, 10_000, seed: 5, firstYear: 2027);
            return new TwinSimulator(set).Run(cohort, new Cohort(cohort.Count), DemoInterventions.Create(set), 3, new DrawStream(5, 0));
        }

        var a = Run(embedded);
        var b = Run(directory);
        for (var t = 0; t < a.Length; t++)
        {
            foreach (var metric in Enum.GetValues<Metric>())
            {
                Assert.Equal(a[t][metric], b[t][metric]);
            }
        }
    }

    [Fact]
    public void An_unknown_term_is_an_error_at_load_time_naming_the_model_and_the_term()
    {
        var dir = DemoCopy(m => m.Outcome == "death_next_year" ? m with { Terms = [.. m.Terms, new ModelTerm("hba1c", 0.1)] } : m);
        var e = Assert.Throws<ModelSetException>(() => ModelSet.Load(dir));
        Assert.Contains("demo/death_next_year", e.Message, StringComparison.Ordinal);
        Assert.Contains("'hba1c'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_outcome_without_a_model_is_an_error_naming_the_outcome_and_column()
    {
        var dir = DemoCopy(m => m.Outcome == "onset_asthma_next_year" ? null : m);
        var e = Assert.Throws<ModelSetException>(() => ModelSet.Load(dir));
        Assert.Equal("onset:asthma", e.Field);
        Assert.Contains("onset_asthma_next_year", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_candidates_for_an_outcome_need_an_explicit_choice()
    {
        var dir = DemoCopy();
        var second = RegisteredModel.FromGlmResult(RegistryTests.Fit(), "admission_next_year", "aco-2026-readmit", "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null));
        ModelRegistry.Save(second, dir);
        var e = Assert.Throws<ModelSetException>(() => ModelSet.Load(dir));
        Assert.Equal(TwinOutcomes.Admission, e.Field);
        Assert.Contains("models.use.admission", e.Message, StringComparison.Ordinal);

        var chosen = ModelSet.Load(dir, new Dictionary<string, string> { [TwinOutcomes.Admission] = second.Id });
        Assert.Equal(second.Id, chosen.Admission.Id);
        Assert.Equal(second.Id, chosen.ModelIds.Single(p => p.Key == TwinOutcomes.Admission).Value);
    }

    [Fact]
    public void A_use_entry_must_name_an_existing_model_of_the_right_outcome()
    {
        Assert.Equal("use.death", Assert.Throws<ModelSetException>(() => ModelSet.Demo(new Dictionary<string, string> { ["death"] = "glm/nope/x" })).Field);
        var wrong = Assert.Throws<ModelSetException>(() => ModelSet.Demo(new Dictionary<string, string> { ["death"] = "demo/admission_next_year" }));
        Assert.Contains("death_next_year", wrong.Message, StringComparison.Ordinal);
        Assert.Equal("use.readmission", Assert.Throws<ModelSetException>(() => ModelSet.Demo(new Dictionary<string, string> { ["readmission"] = "demo/admission_next_year" })).Field);
    }

    [Fact]
    public void Gaussian_models_year_terms_and_offsets_are_evaluated_and_keep_the_zero_effect_property()
    {
        // A registry where cost is a gaussian (identity-link) model with a year trend, and inpatient days a poisson model
        // with the prior year's days as an offset.
        var dir = DemoCopy(m => m.Outcome switch
        {
            "cost_next_year" => m with
            {
                Family = GlmFamily.Gaussian,
                Terms = [new ModelTerm("(Intercept)", -400_000), new ModelTerm("year", 200), new ModelTerm("age", 60), new ModelTerm("condition_count", 1_500), new ModelTerm("cost", 0.3)],
            },
            "inpatient_days_next_year" => m with { Offset = "inpatient_days", Terms = [new ModelTerm("(Intercept)", -2.5), new ModelTerm("inpatient_admissions", 0.2)] },
            _ => m,
        });
        var set = ModelSet.Load(dir);
        var f = new PersonFeatures(2026, 70, true, 0b101, 1, 3, 0, 9_000);
        Assert.Equal(-400_000 + (200 * 2026) + (60 * 70) + (1_500 * 2) + (0.3 * 9_000), set.Cost.Mean(f), 6);
        Assert.Equal(Math.Exp(-2.5 + 0.2 + 3), set.InpatientDays.Mean(f), 12);

        var cohort = Cohort.FromComposition(DemoModels.Composition(), set, 20_000, seed: 9, firstYear: 2027);
        var sim = new TwinSimulator(set);
        var baseline = sim.Run(cohort, new Cohort(cohort.Count), [], 4, new DrawStream(9, 0));
        var zero = sim.Run(cohort, new Cohort(cohort.Count), [.. DemoInterventions.Create(set).Select(x => x.WithNoEffect())], 4, new DrawStream(9, 0));
        foreach (var metric in Enum.GetValues<Metric>().Where(m => m is not (Metric.InterventionCost or Metric.Enrolled)))
        {
            for (var t = 0; t < baseline.Length; t++)
            {
                Assert.Equal(baseline[t][metric], zero[t][metric]);
            }
        }

        Assert.True(zero.Sum(y => y[Metric.Enrolled]) > 0);

        Assert.True(baseline[0][Metric.TotalCost] > 0);
    }

    [Fact]
    public void Registry_models_of_inpatient_days_and_onset_are_used_when_present_instead_of_the_fallback()
    {
        // The demo does not train these outcomes (docs/scenarios.md); a registry that has them is picked up per outcome.
        var demo = DemoModels.Registry();
        var days = demo.Single(m => m.Outcome == "inpatient_days_next_year") with { Id = "glm/inpatient_days_next_year/site-study", StudyId = "site-study" };
        var onset = demo.Single(m => m.Outcome == "onset_diabetes_next_year") with { Id = "glm/onset_diabetes_next_year/site-study", StudyId = "site-study" };
        var set = ModelSet.FromModels([days, onset], "test", fallback: ModelSet.DemoFallback());
        Assert.Equal(days.Id, set.InpatientDays.Id);
        Assert.Equal(onset.Id, set.Onset[(int)ChronicCondition.Diabetes].Id);
        Assert.Equal("demo/onset_ckd_next_year", set.Onset[(int)ChronicCondition.Ckd].Id);
        Assert.NotEqual(ModelOrigin.Fallback, set.Origins.Single(o => o.Outcome == "inpatient_days").Kind);
        Assert.Equal(ModelOrigin.Fallback, set.Origins.Single(o => o.Outcome == "onset:ckd").Kind);
    }

    [Fact]
    public void Negative_unit_costs_are_rejected() =>
        Assert.Equal("unit_costs.inpatient_day", Assert.Throws<ModelSetException>(() => ModelSet.Demo(parameters: new TwinParameters(InpatientDayCost: -1))).Field);
}
