using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The twin's parameter uncertainty (docs/scenarios.md, "Uncertainty in the twin's intervals"): effects with intervals in
/// the scenario file, coefficient draws from N(β̂, Σ̂), the composition from its DP noise, shared by baseline and
/// scenario, reproducible for a seed, and reported as sources.
/// </summary>
public sealed class UncertaintyTests
{
    private const string Scenario = """
        name: test
        start_year: 2027
        horizon: 2
        population: 2000
        replicates: 6
        seed: 11
        interventions:
          - name: chf
            target:
              condition: heart_failure
            coverage: [0.6]
            cost_pmpm: 100
            effects:
              - outcome: admissions
                relative_risk: { estimate: 0.8, ci95: [0.65, 0.98] }
              - outcome: death
                odds_ratio: 0.9
        """;

    /// <summary>A binomial admission model fitted (pooled IRLS) on rows drawn from known coefficients; its covariance is the fit's.</summary>
    internal static RegisteredModel FittedAdmission(int rows, int seed, string study = "aco-2026-unc")
    {
        var random = new System.Random(seed);
        var x = new double[rows * 3];
        var y = new double[rows];
        for (var i = 0; i < rows; i++)
        {
            var age = 40 + random.Next(50);
            var male = random.Next(2);
            var hf = random.NextDouble() < 0.15 ? 1 : 0;
            x[3 * i] = age;
            x[(3 * i) + 1] = male;
            x[(3 * i) + 2] = hf;
            var eta = -4.0 + (0.03 * age) + (0.1 * male) + (0.9 * hf);
            y[i] = random.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0;
        }

        var fit = GlmPooled.Fit(GlmFamily.Binomial, ["age", "sex_male", "heart_failure"], new GlmData(3, x, y));
        return RegisteredModel.FromGlmResult(fit, "admission_next_year", study, "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null));
    }

    private static ModelSet Fitted(RegisteredModel model) => ModelSet.FromModels([model], "test", fallback: ModelSet.DemoFallback());

    [Fact]
    public void An_effect_with_a_95_percent_interval_is_read_as_log_normal()
    {
        var s = ScenarioParser.Parse(Scenario);
        var rr = s.Interventions[0].Effects[0];
        Assert.Equal(0.8, rr.Multiplier);
        Assert.Equal(new EffectInterval(0.8, 0.65, 0.98), rr.Interval);
        Assert.Equal((Math.Log(0.98) - Math.Log(0.65)) / (2 * 1.959963984540054), rr.Interval!.LogSd, 12);
        Assert.True(rr.Uncertain);
        Assert.Null(s.Interventions[0].Effects[1].Interval);
        Assert.False(s.Interventions[0].Effects[1].Uncertain);
        Assert.Equal(UncertaintyMode.All, s.Uncertainty);
    }

    [Theory]
    [InlineData("{ estimate: 0.8, ci95: [0.85, 0.98] }", "interventions[0].effects[0].relative_risk.ci95")]
    [InlineData("{ estimate: 0.8, ci95: [0.65] }", "interventions[0].effects[0].relative_risk.ci95")]
    [InlineData("{ ci95: [0.65, 0.98] }", "interventions[0].effects[0].relative_risk.estimate")]
    [InlineData("{ estimate: 0.8, ci95: [-0.1, 0.98] }", "interventions[0].effects[0].relative_risk.ci95")]
    [InlineData("{ estimate: 0.8, ci95: [0.65, 0.98], sd: 1 }", "interventions[0].effects[0].relative_risk.sd")]
    public void A_bad_interval_names_its_field(string value, string field)
    {
        var e = Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(Scenario.Replace("{ estimate: 0.8, ci95: [0.65, 0.98] }", value, StringComparison.Ordinal)));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void The_uncertainty_field_turns_parameter_uncertainty_off_and_rejects_other_values()
    {
        Assert.Equal(UncertaintyMode.MonteCarloOnly, ScenarioParser.Parse(Scenario + "\nuncertainty: monte_carlo_only\n").Uncertainty);
        Assert.Equal(UncertaintyMode.All, ScenarioParser.Parse(Scenario + "\nuncertainty: all\n").Uncertainty);
        Assert.Equal("uncertainty", Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(Scenario + "\nuncertainty: some\n")).Field);
    }

    [Fact]
    public void Coefficient_draws_have_the_fitted_mean_and_covariance()
    {
        var model = FittedAdmission(4_000, seed: 5);
        Assert.NotNull(model.Covariance);
        var sampler = new CoefficientSampler(model);
        Assert.Equal(CoefficientSampler.FromCovariance, sampler.Kind);
        const int n = 6_000;
        var p = model.Terms.Count;
        var draws = Enumerable.Range(0, n).Select(r =>
        {
            var stream = new DrawStream(3, (uint)r);
            return sampler.DrawCoefficients(k => NormalQuantile.Of(stream.ParameterUniform(ParameterUncertainty.CoefficientSource, 0, k)));
        }).ToArray();
        var sigma = model.Covariance!;
        for (var i = 0; i < p; i++)
        {
            var mean = draws.Average(d => d[i]);
            Assert.InRange(mean - model.Terms[i].Coefficient, -4 * Math.Sqrt(sigma[i][i] / n), 4 * Math.Sqrt(sigma[i][i] / n));
            for (var j = 0; j <= i; j++)
            {
                var mi = mean;
                var mj = draws.Average(d => d[j]);
                var cov = draws.Sum(d => (d[i] - mi) * (d[j] - mj)) / (n - 1);
                // Sampling error of a covariance from n normal draws: sd = √((σ_ii σ_jj + σ_ij²)/n); 5 sd.
                var tolerance = 5 * Math.Sqrt(((sigma[i][i] * sigma[j][j]) + (sigma[i][j] * sigma[i][j])) / n);
                Assert.InRange(cov - sigma[i][j], -tolerance, tolerance);
            }
        }

        // The intercept and the age coefficient are strongly negatively correlated in this fit: the draws keep that.
        var correlation = sigma[0][1] / Math.Sqrt(sigma[0][0] * sigma[1][1]);
        Assert.True(correlation < -0.8, $"fit correlation {correlation}");
    }

    /// <summary>
    /// An onset model fitted (pooled IRLS) where no one with heart failure has the onset: quasi-complete separation, so the
    /// heart-failure coefficient's estimate diverges (the fit stops with it near −20 and a standard error of thousands), as in
    /// the demo's exact asthma and COPD onset models.
    /// </summary>
    private static RegisteredModel SeparatedOnset()
    {
        var random = new System.Random(21);
        const int rows = 3_000;
        var x = new double[rows * 2];
        var y = new double[rows];
        for (var i = 0; i < rows; i++)
        {
            var age = 40 + random.Next(50);
            var hf = random.NextDouble() < 0.08 ? 1 : 0;
            x[2 * i] = age;
            x[(2 * i) + 1] = hf;
            y[i] = hf == 0 && random.NextDouble() < 1 / (1 + Math.Exp(-(-6.0 + (0.03 * age)))) ? 1 : 0;
        }

        // Pooled IRLS's coefficient rule never stops a diverging estimate (it moves by about 1 per iteration); the federated
        // fit's rule stopped the demo's at −25. The registry document is built here from where 20 iterations leave it.
        var fit = GlmPooled.Fit(GlmFamily.Binomial, ["age", "heart_failure"], new GlmData(2, x, y), maxIterations: 20);
        var terms = fit.Names.Select((name, j) => new ModelTerm(name, fit.Coefficients[j], fit.StandardErrors[j], fit.LowerConfidence[j], fit.UpperConfidence[j])).ToList();
        return new RegisteredModel(RegisteredModel.GlmId("onset_asthma_next_year", "aco-2026-sep"), RegisteredModel.GlmKind, fit.Family, "onset_asthma_next_year", null,
            terms, fit.Dispersion, fit.Deviance, fit.NullDeviance, fit.Aic, fit.Rows, fit.Nodes, fit.Rounds, "aco-2026-sep", "HOPERAT", DateTimeOffset.UnixEpoch,
            new ModelPrivacy(false, null))
        {
            Covariance = RegisteredModel.CovarianceRows(fit.Covariance),
        };
    }

    [Fact]
    public void A_separated_coefficient_is_held_at_its_estimate_and_the_others_drawn_given_it()
    {
        var model = SeparatedOnset();
        var hf = model.Terms[2];
        Assert.Equal("heart_failure", hf.Name);
        Assert.True(hf.Coefficient <= -CoefficientSampler.DivergentCoefficient && hf.StdError >= -hf.Coefficient, $"the fit did not diverge: {hf}");
        var sampler = new CoefficientSampler(model);
        Assert.Equal(CoefficientSampler.FromCovariance, sampler.Kind);

        const int n = 4_000;
        var draws = Enumerable.Range(0, n).Select(r =>
        {
            var stream = new DrawStream(9, (uint)r);
            return sampler.DrawCoefficients(k => NormalQuantile.Of(stream.ParameterUniform(ParameterUncertainty.CoefficientSource, 0, k)));
        }).ToArray();

        // No one with heart failure had the onset: the replicates' mean risk of a 70-year-old with it stays numerically 0
        // (drawn from the reported Wald variance, half the replicates would give every such person the onset for certain).
        var risk = draws.Average(b => 1 / (1 + Math.Exp(-(b[0] + (70 * b[1]) + b[2]))));
        Assert.True(risk < 1e-3, $"mean drawn risk with heart failure {risk}");
        Assert.Equal(["heart_failure"], sampler.Held);
        Assert.All(draws, b => Assert.Equal(hf.Coefficient, b[2]));

        // The identified coefficients are still drawn, with their conditional variance Σ_oo − Σ_os Σ_ss⁻¹ Σ_so.
        var sigma = model.Covariance!;
        for (var i = 0; i < 2; i++)
        {
            var expected = sigma[i][i] - (sigma[i][2] * sigma[i][2] / sigma[2][2]);
            var mean = draws.Average(b => b[i]);
            var variance = draws.Sum(b => (b[i] - mean) * (b[i] - mean)) / (n - 1);
            Assert.InRange(variance / expected, 0.9, 1.1);
        }
    }

    [Theory]
    [InlineData(GlmFamily.Binomial, -25.5, 186_193.9, true)]
    [InlineData(GlmFamily.Poisson, -22, 50_000, true)]
    [InlineData(GlmFamily.Binomial, -12, 1.5, false)]
    [InlineData(GlmFamily.Binomial, -3, 40, false)]
    [InlineData(GlmFamily.Gaussian, 127.7, 273.3, false)]
    public void Only_a_diverging_log_or_logit_coefficient_counts_as_separated(GlmFamily family, double coefficient, double se, bool separated) =>
        Assert.Equal(separated, CoefficientSampler.IsSeparated(family, coefficient, se));

    [Fact]
    public void An_older_document_without_covariance_draws_from_the_standard_errors()
    {
        var model = FittedAdmission(2_000, seed: 6) with { Covariance = null };
        var sampler = new CoefficientSampler(model);
        Assert.Equal(CoefficientSampler.FromStandardErrors, sampler.Kind);
        var draws = Enumerable.Range(0, 3_000).Select(r =>
        {
            var stream = new DrawStream(4, (uint)r);
            return sampler.DrawCoefficients(k => NormalQuantile.Of(stream.ParameterUniform(ParameterUncertainty.CoefficientSource, 0, k)))[1];
        }).ToArray();
        var sd = Math.Sqrt(draws.Sum(d => (d - draws.Average()) * (d - draws.Average())) / (draws.Length - 1));
        Assert.InRange(sd / model.Terms[1].StdError!.Value, 0.93, 1.07);
        Assert.Equal(CoefficientSampler.Fixed, new CoefficientSampler(DemoModels.Registry()[0]).Kind);
    }

    [Fact]
    public void The_covariance_round_trips_through_the_registry_documents_and_must_match_the_standard_errors()
    {
        var model = FittedAdmission(2_000, seed: 7);
        var back = RegisteredModel.FromJson(model.ToJson());
        Assert.Equal(model.Covariance!.SelectMany(r => r), back.Covariance!.SelectMany(r => r));
        var json = model.ToJson();
        Assert.Contains("\"covariance\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("covariance", (model with { Covariance = null }).ToJson(), StringComparison.Ordinal);
        var wrong = model with { Covariance = [.. model.Covariance!.Select((r, i) => (IReadOnlyList<double>)[.. r.Select((v, j) => i == j ? v * 4 : v)])] };
        Assert.Equal("covariance[0][0]", Assert.Throws<RegisteredModelException>(wrong.Validate).Field);
        var asymmetric = model with { Covariance = [.. model.Covariance!.Select((r, i) => (IReadOnlyList<double>)[.. r.Select((v, j) => i == 0 && j == 1 ? v * 2 : v)])] };
        Assert.Equal("covariance[0][1]", Assert.Throws<RegisteredModelException>(asymmetric.Validate).Field);
    }

    [Fact]
    public void Baseline_and_scenario_of_a_replicate_share_the_drawn_coefficients()
    {
        // An intervention with no effect and no cost: if both runs of a replicate use the same drawn coefficients (and
        // the same per-person draws), every paired difference is exactly 0, while the coefficients vary by replicate.
        var models = Fitted(FittedAdmission(1_500, seed: 8));
        var parsed = ScenarioParser.Parse(Scenario.Replace("cost_pmpm: 100", "cost_pmpm: 0", StringComparison.Ordinal));
        var scenario = parsed with { Models = models, Interventions = [.. parsed.Interventions.Select(x => x.WithNoEffect())] };
        var result = new ScenarioRunner(DemoModels.Composition()).Run(scenario);
        Assert.Contains(result.UncertaintySources, u => u.Source == UncertaintySource.Coefficients && u.Included);
        // (enrolled_person_years counts the enrolled people: the one measure a no-effect intervention changes.)
        foreach (var row in result.Years.Values.SelectMany(r => r).Where(r => r.Measure != "enrolled_person_years"))
        {
            Assert.Equal((0.0, 0.0, 0.0), (row.Difference.Mean, row.Difference.Low, row.Difference.High));
        }

        // The coefficient draws widen the baseline's interval against the same run with Monte Carlo only.
        var mc = new ScenarioRunner(DemoModels.Composition()).Run(scenario with { Uncertainty = UncertaintyMode.MonteCarloOnly, Replicates = 30 });
        var all = new ScenarioRunner(DemoModels.Composition()).Run(scenario with { Replicates = 30 });
        static double Width(ScenarioResult r) => r.Years[2027].Single(m => m.Measure == "people_admitted_per_1000").Baseline is var e ? e.High - e.Low : 0;
        Assert.True(Width(all) > Width(mc), $"{Width(all)} vs {Width(mc)}");
    }

    [Fact]
    public void A_seed_reproduces_the_run_and_another_seed_does_not()
    {
        var parsed = ScenarioParser.Parse(Scenario);
        var scenario = parsed with { Models = Fitted(FittedAdmission(1_500, seed: 9)) };
        var runner = new ScenarioRunner(DemoModels.Composition());
        var a = ScenarioJson.Serialize(runner.Run(scenario));
        Assert.Equal(a, ScenarioJson.Serialize(runner.Run(scenario)));
        Assert.NotEqual(a, ScenarioJson.Serialize(runner.Run(scenario with { Seed = 12 })));
    }

    [Fact]
    public void Monte_carlo_only_is_the_run_with_every_parameter_at_its_point_value()
    {
        // Demo models have no standard errors, so with point effects nothing is drawn: the same numbers as
        // monte_carlo_only on the file with intervals.
        var withIntervals = ScenarioParser.Parse(Scenario + "\nuncertainty: monte_carlo_only\n");
        var points = ScenarioParser.Parse(Scenario.Replace("{ estimate: 0.8, ci95: [0.65, 0.98] }", "0.8", StringComparison.Ordinal));
        var runner = new ScenarioRunner(DemoModels.Composition());
        var a = runner.Run(withIntervals);
        var b = runner.Run(points);
        Assert.Equal(a.ToCsv(), b.ToCsv());
        Assert.All(a.UncertaintySources.Where(u => u.Source != UncertaintySource.MonteCarlo), u => Assert.False(u.Included));
        Assert.Contains(b.UncertaintySources, u => u.Source == UncertaintySource.Coefficients && !u.Included && u.Note.Contains("held fixed", StringComparison.Ordinal));
        Assert.NotEqual(a.ToCsv(), runner.Run(ScenarioParser.Parse(Scenario)).ToCsv());
    }

    [Fact]
    public void The_sources_are_in_the_result_json()
    {
        var result = new ScenarioRunner(DemoModels.Composition()).Run(ScenarioParser.Parse(Scenario));
        var json = ScenarioJson.Serialize(result);
        Assert.Contains("\"uncertainty_sources\"", json, StringComparison.Ordinal);
        Assert.Equal([UncertaintySource.MonteCarlo, UncertaintySource.Coefficients, UncertaintySource.Composition, UncertaintySource.InterventionEffects],
            result.UncertaintySources.Select(u => u.Source));
        var effects = result.UncertaintySources.Single(u => u.Source == UncertaintySource.InterventionEffects);
        Assert.True(effects.Included);
        Assert.StartsWith("1 of 2 effects drawn", effects.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void A_scenario_on_a_dp_release_draws_the_composition_per_replicate_reproducibly()
    {
        var release = ReleasedComposition.FromJson(ReleasedCompositionTests.Release(patients: 4_000, seed: 3, noiseSd: 2).Json);
        var models = ModelSet.FromModels(DemoModels.Registry(), "demo", compositions: [release]);
        var scenario = ScenarioParser.Parse(Scenario) with { Models = models };
        var runner = ScenarioRunner.For(models);
        var result = runner.Run(scenario);
        var composition = result.UncertaintySources.Single(u => u.Source == UncertaintySource.Composition);
        Assert.True(composition.Included);
        Assert.Contains(release.Id, composition.Note, StringComparison.Ordinal);
        Assert.Equal(ScenarioJson.Serialize(result), ScenarioJson.Serialize(runner.Run(scenario)));
        var fixedComposition = runner.Run(scenario with { Uncertainty = UncertaintyMode.MonteCarloOnly });
        Assert.NotEqual(result.ToCsv(), fixedComposition.ToCsv());
    }

    [Fact]
    public void A_dp_fits_document_carries_the_fits_reported_covariance()
    {
        // GlmModelDocument.FromFit stores GlmResult.Covariance as it is: for a DP fit that is GlmNoisyNewtonFit's
        // damped-iteration covariance, whose √diag are the standard errors the document reports.
        var fit = RegistryTests.Fit();
        var document = GlmModelDocument.FromFit(fit, "admission_next_year", null, "s1", "HOPERAT", DateTimeOffset.UnixEpoch);
        Assert.Equal(RegisteredModel.CovarianceRows(fit.Covariance).SelectMany(r => r), document.Covariance!.SelectMany(r => r));
        var model = document.ToRegisteredModel();
        Assert.Equal(CoefficientSampler.FromCovariance, new CoefficientSampler(model).Kind);
        var older = GlmModelDocument.FromJson(document.ToJson().Replace("\"covariance\"", "\"ignored\"", StringComparison.Ordinal));
        Assert.Null(older.Covariance);
        Assert.Equal(CoefficientSampler.FromStandardErrors, new CoefficientSampler(older.ToRegisteredModel()).Kind);
    }

    [Fact]
    public void A_dp_composition_is_drawn_around_the_published_counts_and_hidden_cells_stay()
    {
        var (json, _) = ReleasedCompositionTests.Release(patients: 4_000, seed: 3, noiseSd: 2);
        var release = ReleasedComposition.FromJson(json);
        var sd = release.NoiseSd!.Value;
        Assert.Equal(Math.Sqrt(12) / Math.Sqrt(2 * 0.5), sd, 12);
        var draws = Enumerable.Range(0, 400).Select(r =>
        {
            var stream = new DrawStream(1, (uint)r);
            return release.Drawn((t, c) => NormalQuantile.Of(stream.ParameterUniform(ParameterUncertainty.CompositionSource, t, c))).Counts;
        }).ToArray();
        var moved = 0;
        for (var i = 0; i < release.Counts.Count; i++)
        {
            var values = draws.Select(d => d[i]).ToArray();
            if (values.All(v => v == release.Counts[i]))
            {
                continue; // a hidden cell keeps its filled value
            }

            moved++;
            if (release.Counts[i] > 5 * sd)
            {
                var spread = Math.Sqrt(values.Sum(v => (v - values.Average()) * (v - values.Average())) / (values.Length - 1));
                Assert.InRange(values.Average() - release.Counts[i], -0.3 * sd, 0.3 * sd);
                Assert.InRange(spread / sd, 0.85, 1.15);
            }
        }

        Assert.Equal(release.Counts.Count - release.HiddenCompositionCells, moved);
        Assert.Null(ReleasedComposition.FromJson(ReleasedCompositionTests.Release(patients: 4_000, seed: 3).Json).NoiseSd);
    }
}
