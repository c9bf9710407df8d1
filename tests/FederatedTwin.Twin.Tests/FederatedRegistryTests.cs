using System.Text.Json.Nodes;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The twin on models the federation trained: a GLM fitted with the federated IRLS rounds (GlmIrlsFit + GlmNode over several
/// sites) on a GlmStudy feature list with the categorical age_band, registered with RegisteredModel.FromGlmResult, is
/// evaluated by the twin exactly as the node built its rows; outcomes without a registry model fall back to the demo set.
/// </summary>
public sealed class FederatedRegistryTests
{
    internal sealed record Person(int Age, bool Male, int Conditions, double Admissions, double Y = 0);

    /// <summary>A feature's value exactly as node/Algorithms/LocalFederatedGlm builds it (age_band from the capped age).</summary>
    private static double NodeValue(Person p, string feature)
    {
        if (GlmStudy.Indicator(feature) is { } indicator)
        {
            var band = Analytics.Composition.CompositionLayout.AgeBand(Math.Min(p.Age, 90));
            return GlmStudy.Categorical[indicator.Column][band] == indicator.Level ? 1 : 0;
        }

        return feature switch
        {
            "sex_male" => p.Male ? 1 : 0,
            "age" => Math.Min(p.Age, 90),
            "inpatient_admissions" => p.Admissions,
            "condition_count" => System.Numerics.BitOperations.PopCount((uint)p.Conditions),
            _ => (p.Conditions >> PatientYearSchema.Conditions.ToList().IndexOf(feature)) & 1,
        };
    }

    /// <summary>Fits the admission GLM over three sites with the federated rounds; returns the model and the training persons.</summary>
    internal static (RegisteredModel Model, GlmResult Fit, List<Person> Rows, GlmStudy Study) FitAdmissionModel()
    {
        var study = GlmStudy.Parse(new Dictionary<string, string>
        {
            ["family"] = "binomial",
            ["outcome"] = "admission_next_year",
            ["features"] = "age_band,sex_male,heart_failure,diabetes,copd,inpatient_admissions",
            ["max_rows_per_node"] = "100000",
            ["max_abs_feature"] = "200",
        }, 16);
        Assert.Contains("age_band[90+]", study.Features);
        var random = new System.Random(7);
        var rows = new List<Person>();
        var sites = new List<GlmData>();
        double[] bandEffect = [0, 0.2, 0.4, 0.7, 1.0, 1.3, 1.6, 1.9];
        for (var site = 0; site < 3; site++)
        {
            var x = new List<double>();
            var y = new List<double>();
            for (var i = 0; i < 6_000; i++)
            {
                var p = new Person(random.Next(0, 100), random.NextDouble() < 0.45,
                    (random.NextDouble() < 0.1 ? 1 << 2 : 0) | (random.NextDouble() < 0.25 ? 1 : 0) | (random.NextDouble() < 0.1 ? 1 << 3 : 0),
                    random.NextDouble() < 0.15 ? random.Next(1, 4) : 0);
                var eta = -3.2 + bandEffect[Analytics.Composition.CompositionLayout.AgeBand(Math.Min(p.Age, 90))] + (p.Male ? 0.2 : 0)
                    + (((p.Conditions >> 2) & 1) * 0.8) + ((p.Conditions & 1) * 0.3) + (((p.Conditions >> 3) & 1) * 0.5) + (0.4 * p.Admissions) + (0.1 * site);
                x.AddRange(study.Features.Select(f => NodeValue(p, f)));
                y.Add(random.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0);
                rows.Add(p with { Y = y[^1] });
            }

            sites.Add(new GlmData(study.Features.Count, [.. x], [.. y]));
        }

        var fit = new GlmIrlsFit(study.Spec);
        while (!fit.IsFinished)
        {
            var request = fit.NextRequest();
            var sum = new double[request.Length];
            foreach (var data in sites)
            {
                var v = GlmNode.Compute(study.Spec, request, data);
                for (var j = 0; j < sum.Length; j++)
                {
                    sum[j] += v[j];
                }
            }

            fit.Accept(sum);
        }

        var result = fit.Result!;
        Assert.True(result.Converged);
        var model = RegisteredModel.FromGlmResult(result, study.Outcome, "aco-2026-readmit", "HOPERAT", DateTimeOffset.Parse("2026-11-20T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture), new ModelPrivacy(false, null));
        return (model, result, rows, study);
    }

    [Fact]
    public void A_federated_glm_with_age_band_indicators_is_evaluated_as_the_node_built_its_rows()
    {
        var (model, fit, rows, study) = FitAdmissionModel();
        // The coordinator's registry document carries extras (link, z statistics, evaluation): they are skipped.
        var document = JsonNode.Parse(model.ToJson())!.AsObject();
        document["link"] = "logit";
        document["converged"] = true;
        document["evaluation"] = null;
        var loaded = RegisteredModel.FromJson(document.ToJsonString());
        Assert.Contains(loaded.Terms, t => t.Name == "age_band[65-74]");

        var set = ModelSet.FromModels([loaded], "test-registry", fallback: ModelSet.DemoFallback());
        var compiled = set.Admission;
        Assert.Equal(model.Id, compiled.Id);
        double predicted = 0;
        foreach (var p in rows)
        {
            // Independent: Σ β_j · x_j with x_j exactly as the node computed it for the fit.
            var eta = fit.Coefficients[0] + study.Features.Select((f, j) => fit.Coefficients[j + 1] * NodeValue(p, f)).Sum();
            var features = new PersonFeatures(2026, p.Age, p.Male, p.Conditions, p.Admissions, 0, 0, 0);
            Assert.Equal(eta, compiled.Eta(features), 9);
            Assert.Equal(1 / (1 + Math.Exp(-eta)), compiled.Risk(features), 12);
            predicted += compiled.Risk(features);
        }

        // A logistic MLE with an intercept reproduces the number of events: Σ p̂ = Σ y (score equation for the intercept).
        // A wrong indicator (e.g. an off-by-one band) would break this by far more than the tolerance.
        var events = rows.Sum(p => p.Y);
        Assert.Equal(events, predicted, 3);
    }

    [Fact]
    public void Outcomes_without_a_registry_model_fall_back_to_the_demo_set_and_say_so()
    {
        var (model, _, _, _) = FitAdmissionModel();
        var death = new RegisteredModel("glm/death_next_year/aco-2026-mort", "glm", GlmFamily.Binomial, "death_next_year", null,
            [new ModelTerm(ModelTerm.Intercept, -4, 0.1, -4.2, -3.8), new ModelTerm("hba1c", 0.1, 0.01, 0.08, 0.12)],
            1, 100, 120, 104, 5000, 3, 8, "aco-2026-mort", "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null));
        var set = ModelSet.FromModels([model, death], "test-registry", fallback: ModelSet.DemoFallback());
        var origins = set.Origins.ToDictionary(o => o.Outcome);
        Assert.Equal(ModelOrigin.Federated, origins["admission"].Kind);
        Assert.Equal("aco-2026-readmit", origins["admission"].StudyId);
        Assert.Equal(18_000, origins["admission"].Rows);
        Assert.Null(origins["admission"].Reason);
        // A registry model with a term the twin does not simulate falls back, naming the term.
        Assert.Equal(ModelOrigin.Fallback, origins["death"].Kind);
        Assert.StartsWith("demo/", origins["death"].Id, StringComparison.Ordinal);
        Assert.Contains("hba1c", origins["death"].Reason, StringComparison.Ordinal);
        Assert.Equal(ModelOrigin.Fallback, origins["onset:heart_failure"].Kind);
        Assert.Contains("holds no binomial model of onset_heart_failure_next_year", origins["onset:heart_failure"].Reason, StringComparison.Ordinal);
        Assert.Equal(TwinOutcomes.All.Count - 1, set.Origins.Count(o => o.Kind == ModelOrigin.Fallback));

        // Without a fallback the same registry is an error naming the outcome.
        var e = Assert.Throws<ModelSetException>(() => ModelSet.FromModels([model], "test-registry"));
        Assert.Contains("has no model", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scenario_on_an_exported_registry_with_fallback_names_every_models_origin_and_keeps_crn()
    {
        using var registry = new TempDirectory("ftwin-fedreg-");
        var (model, _, _, _) = FitAdmissionModel();
        ModelRegistry.Save(model, registry.Path);
        var yaml = $"""
            name: registry with fallback
            start_year: 2027
            horizon: 2
            population: 2000
            replicates: 3
            seed: 5
            models:
              registry: '{registry.Path}'
              fallback: demo
            interventions:
              - name: nothing
                coverage: [1]
                effects:
                  - outcome: admissions
                    relative_risk: 1
            """;
        var result = ScenarioRunner.RunScenario(ScenarioParser.Parse(yaml));
        Assert.Equal(model.Id, result.ModelsByOutcome["admission"]);
        Assert.Equal(ModelOrigin.Federated, result.ModelOrigins.Single(o => o.Outcome == "admission").Kind);
        Assert.All(result.ModelOrigins.Where(o => o.Outcome != "admission"), o => Assert.Equal(ModelOrigin.Fallback, o.Kind));
        Assert.Equal("demo", result.Cohort.Composition);
        foreach (var row in result.Years.SelectMany(y => y.Value).Where(r => r.Measure != "intervention_cost" && r.Measure != "enrolled_person_years" && r.Measure != "net_savings"))
        {
            Assert.Equal(0, row.Difference.Mean);
        }

        // A fallback that is not a registry is an error at its own line.
        var missing = Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml.Replace("fallback: demo", "fallback: ./no-such-registry", StringComparison.Ordinal)));
        Assert.Equal("models.fallback", missing.Field);
        Assert.Equal(9, missing.Line);

        // Without the fallback the file is refused at the models line.
        var e = Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml.Replace("  fallback: demo\n", string.Empty, StringComparison.Ordinal)));
        Assert.Equal(8, e.Line);
        Assert.Contains("has no model", e.Message, StringComparison.Ordinal);
    }
}
