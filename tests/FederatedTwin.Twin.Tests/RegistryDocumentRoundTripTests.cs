using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The typed registry documents read and write the JSON the registry has always held, byte for byte: the demo registry's 16
/// documents, a freshly fitted GLM (its coordinator document and its registry file) and a composition release, each compared
/// with the hand-built JSON the coordinator wrote before the documents were types (kept here as the format's oracle).
/// </summary>
public sealed class RegistryDocumentRoundTripTests
{
    private static readonly string[] Features = ["age", "sex_male", "diabetes", "inpatient_admissions"];

    [Fact]
    public void The_16_demo_registry_documents_are_written_back_identical()
    {
        var files = Directory.GetFiles(ModelSetTests.DemoRegistryDirectory, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(16, files.Count);
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            var model = RegisteredModel.FromJson(text);
            Assert.Equal(text, model.ToJson() + "\n");
        }
    }

    [Fact]
    public void A_fitted_glm_document_is_the_json_the_coordinator_always_wrote_and_reads_back_identical()
    {
        var fit = Fit();
        var glm = GlmStudy.Parse(new Dictionary<string, string> { ["family"] = "binomial", ["outcome"] = "admission_next_year", ["features"] = string.Join(",", Features) }, 8);
        var evaluation = GlmEvaluation.Summarize(glm, Sum(glm)) with { Holdout = 0.2 };
        var dp = new GlmPrivacy(2, 9, 2, 5, [.. Features.Select(_ => new FeatureBound(0, 90))]);
        var createdAt = new DateTimeOffset(2026, 12, 7, 1, 2, 3, 456, TimeSpan.Zero).AddTicks(7);
        foreach (var (privacy, eval) in new[] { ((GlmPrivacy?)null, (GlmEvaluationSummary?)null), (dp, evaluation) })
        {
            var document = GlmModelDocument.FromFit(fit, "admission_next_year", null, "s1", "HOPERAT", createdAt, privacy, privacy is null ? null : 1.99, eval);
            var json = document.ToJson();
            Assert.Equal(Legacy(fit, "admission_next_year", null, "s1", "HOPERAT", createdAt, privacy, privacy is null ? null : 1.99, eval is null ? null : LegacyEvaluation(glm, Sum(glm), 0.2)).ToJsonString(), json);
            var read = GlmModelDocument.FromJson(json);
            Assert.Equal(json, read.ToJson());
            Assert.True(read.IsReleased);
            Assert.Equal(json, new ModelStudyResult(GlmStudy.AlgorithmName, read).ToJson()[$"{{\"algorithm\":\"{GlmStudy.AlgorithmName}\",\"model\":".Length..^1]);

            // The registry file of the same model (what `ftwin models export` writes and the twin reads) also round-trips.
            var registered = RegisteredModel.FromJson(json);
            var file = registered.ToJson();
            Assert.Equal(file, RegisteredModel.FromJson(file).ToJson());

            // The coordinator's registry converts the typed document instead of parsing its JSON again: the same model.
            Assert.Equal(file, read.ToRegisteredModel().ToJson());
            Assert.Equal("created_at", Assert.Throws<RegisteredModelException>(() => (read with { CreatedAt = "yesterday" }).ToRegisteredModel()).Field);
            Assert.Equal("family", Assert.Throws<RegisteredModelException>(() => (read with { Family = "tweedie" }).ToRegisteredModel()).Field);
        }
    }

    [Fact]
    public void Release_is_decided_by_the_document()
    {
        var document = GlmModelDocument.FromFit(Fit(), "admission_next_year", null, "s1", "HOPERAT", DateTimeOffset.UnixEpoch);
        Assert.True(document.IsReleased);
        Assert.Null(document.NotReleasedReason);
        var refused = document with { Converged = false, Release = null, ReleaseRefused = "the fit did not converge in 25 IRLS rounds" };
        Assert.False(refused.IsReleased);
        Assert.Equal("not released: the fit did not converge in 25 IRLS rounds", refused.NotReleasedReason);
        var older = document with { Converged = false, Release = null, ReleaseRefused = null }; // written before release_refused existed
        Assert.Equal("the fit did not converge", older.NotReleasedReason);
        Assert.True((older with { Release = RegisteredModel.ReleaseDpPlannedRounds }).IsReleased);
    }

    [Fact]
    public void A_composition_document_is_the_json_the_coordinator_always_wrote_and_reads_back_identical()
    {
        var rng = new Random(5);
        var composition = Enumerable.Range(0, CompositionLayout.CompositionCells).Select(_ => (double)rng.Next(0, 400)).ToArray();
        var prevalence = new double[CompositionLayout.PrevalenceCells];
        for (var b = 0; b < CompositionLayout.AgeBands; b++)
        {
            for (var s = 0; s < CompositionLayout.Sexes; s++)
            {
                for (var l = 1; l < CompositionLayout.ConditionCountLevels; l++)
                {
                    for (var j = 0; j < CompositionLayout.Conditions; j++)
                    {
                        prevalence[CompositionLayout.PrevalenceIndex(j, b, s, l)] = Math.Floor(composition[CompositionLayout.CompositionIndex(b, s, l)] * rng.NextDouble() * 0.4);
                    }
                }
            }
        }

        var release = CompositionRelease.Publish(composition, prevalence, CompositionLayout.ConditionNames, ReleasedCounts.Noisy);
        var createdAt = new DateTimeOffset(2026, 12, 7, 1, 2, 3, TimeSpan.Zero);
        var document = release.ToDocument("census", "HOPERAT", 2024, 11, 0.5, createdAt);
        document = document with { Privacy = document.Privacy with { MinHonestNodes = 2, Scale = 1024, TrueRho = 0.4999 } };
        var legacy = LegacyComposition(release, "census", "HOPERAT", 2024, 11, 0.5, createdAt);
        legacy["privacy"]!["min_honest_nodes"] = 2;
        legacy["privacy"]!["scale"] = 1024.0;
        legacy["privacy"]!["true_rho"] = 0.4999;
        var json = document.ToJson();
        Assert.Equal(legacy.ToJsonString(), json);
        Assert.Equal(json, CompositionDocument.FromJson(json).ToJson());
        Assert.Equal(legacy.ToJsonString(new JsonSerializerOptions { WriteIndented = true }), CompositionDocument.FromJson(json).ToIndentedJson());
    }

    private static GlmResult Fit()
    {
        var rng = new Random(3);
        const int n = 2000;
        var x = new double[n * Features.Length];
        var y = new double[n];
        for (var i = 0; i < n; i++)
        {
            double age = rng.Next(18, 91), male = rng.Next(2), diabetes = rng.NextDouble() < 0.2 ? 1 : 0, admissions = rng.Next(0, 3);
            x[(4 * i) + 0] = age;
            x[(4 * i) + 1] = male;
            x[(4 * i) + 2] = diabetes;
            x[(4 * i) + 3] = admissions;
            var eta = -3 + (0.02 * age) + (0.1 * male) + (0.4 * diabetes) + (0.5 * admissions);
            y[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0;
        }

        return GlmPooled.Fit(GlmFamily.Binomial, Features, new GlmData(4, x, y));
    }

    private static double[] Sum(GlmStudy glm)
    {
        var sum = new double[GlmEvaluation.Layout(glm).Sum(b => b.Length)];
        for (var g = 0; g < 10; g++)
        {
            sum[(g * 100) + 50] = 5 + (10 * g);
            sum[GlmEvaluation.Bins + (g * 100) + 50] = 95 - (10 * g);
        }

        sum[(2 * GlmEvaluation.Bins) + 1] = 1000;
        sum[2 * GlmEvaluation.Bins] = 120.5;
        return sum;
    }

    // The format's oracle: the JSON the coordinator built by hand before its documents were types.
    private static JsonObject LegacyEvaluation(GlmStudy glm, double[] sum, double holdout)
    {
        var typed = Assert.IsType<BinomialEvaluation>(GlmEvaluation.Summarize(glm, sum));
        return new JsonObject
        {
            ["held_out_rows"] = typed.HeldOutRows,
            ["held_out_positives"] = typed.HeldOutPositives,
            ["auc"] = typed.Auc,
            ["brier"] = typed.Brier,
            ["calibration"] = new JsonArray([.. typed.Calibration.Select(g => (JsonNode)new JsonObject
            {
                ["count"] = g.Count,
                ["mean_predicted"] = g.MeanPredicted,
                ["observed_rate"] = g.ObservedRate,
            })]),
            ["holdout"] = holdout,
        };
    }

    private static JsonObject Legacy(GlmResult r, string outcome, string? offset, string studyId, string purpose, DateTimeOffset createdAt, GlmPrivacy? dp, double? trueRho, JsonObject? evaluation)
    {
        var terms = new JsonArray();
        for (var i = 0; i < r.Names.Count; i++)
        {
            terms.Add(new JsonObject
            {
                ["name"] = r.Names[i],
                ["coefficient"] = r.Coefficients[i],
                ["std_error"] = r.StandardErrors[i],
                ["statistic"] = r.Statistics[i],
                ["p_value"] = r.PValues[i],
                ["ci_low"] = r.LowerConfidence[i],
                ["ci_high"] = r.UpperConfidence[i],
            });
        }

        return new JsonObject
        {
            ["id"] = $"glm/{outcome}/{studyId}",
            ["kind"] = "glm",
            ["family"] = r.Family.ToString().ToLowerInvariant(),
            ["link"] = r.Family switch { GlmFamily.Binomial => "logit", GlmFamily.Poisson => "log", _ => "identity" },
            ["outcome"] = outcome,
            ["offset"] = offset,
            ["terms"] = terms,
            ["dispersion"] = r.Dispersion,
            ["deviance"] = r.Deviance,
            ["null_deviance"] = r.NullDeviance,
            ["residual_df"] = r.ResidualDf,
            ["null_df"] = r.NullDf,
            ["aic"] = r.Aic,
            ["rows"] = r.Rows,
            ["nodes"] = r.Nodes,
            ["rounds"] = r.Rounds,
            ["iterations"] = r.Iterations,
            ["converged"] = r.Converged,
            ["release"] = !r.Releasable ? null : r.Converged ? RegisteredModel.ReleaseConverged : RegisteredModel.ReleaseDpPlannedRounds,
            ["release_refused"] = r.Releasable ? null : r.PrivateRelease?.Refusal ?? $"the fit did not converge in {r.Iterations} IRLS rounds",
            ["dp_release_checks"] = null,
            ["study_id"] = studyId,
            ["purpose_of_use"] = purpose,
            ["created_at"] = createdAt.ToString("O", CultureInfo.InvariantCulture),
            ["evaluation"] = evaluation,
            ["privacy"] = dp is not null
                ? new JsonObject
                {
                    ["dp"] = true,
                    ["rho"] = dp.Rho,
                    ["rounds_planned"] = dp.Rounds,
                    ["rho_per_round"] = dp.RoundRho,
                    ["rounds_run"] = r.Rounds + (evaluation is null ? 0 : 1),
                    ["rho_spent"] = dp.RoundRho * (r.Rounds + (evaluation is null ? 0 : 1)),
                    ["max_rows_per_patient"] = dp.MaxRowsPerPatient,
                    ["min_honest_nodes"] = dp.MinHonestNodes,
                    ["true_rho"] = trueRho,
                }
                : new JsonObject { ["dp"] = false, ["rho"] = null },
            // Issue 20 added the coefficients' covariance (rows in term order) after every earlier field.
            ["covariance"] = new JsonArray([.. Enumerable.Range(0, r.Names.Count).Select(i =>
                (JsonNode)new JsonArray([.. Enumerable.Range(0, r.Names.Count).Select(j => (JsonNode?)JsonValue.Create(r.Covariance[i, j]))]))]),
        };
    }

    private static JsonObject LegacyComposition(CompositionRelease release, string studyId, string purposeOfUse, int year, int minimumCellSize, double rho, DateTimeOffset createdAt) => new()
    {
        ["id"] = $"composition/{year}/{studyId}",
        ["kind"] = "composition",
        ["outcome"] = "composition",
        ["year"] = year,
        ["minimum_cell_size"] = minimumCellSize,
        ["suppression"] = release.Counts == ReleasedCounts.Exact ? "linked_tables" : "table_by_table",
        ["composition"] = LegacyTable(release.Composition),
        ["prevalence"] = new JsonObject(CompositionLayout.ConditionNames.Select((name, j) => KeyValuePair.Create(name, (JsonNode?)LegacyTable(release.Prevalence[j])))),
        ["study_id"] = studyId,
        ["purpose_of_use"] = purposeOfUse,
        ["created_at"] = createdAt.ToString("O", CultureInfo.InvariantCulture),
        ["privacy"] = new JsonObject { ["dp"] = rho > 0, ["rho"] = rho > 0 ? rho : null, ["l2_sensitivity"] = CompositionLayout.L2Sensitivity },
    };

    private static JsonObject LegacyTable(PublishedTable table) => new()
    {
        ["name"] = table.Name,
        ["shape"] = new JsonArray([.. table.Labels.Select(l => (JsonNode)l.Count)]),
        ["labels"] = new JsonArray([.. table.Labels.Select(l => (JsonNode)new JsonArray([.. l.Select(x => (JsonNode)x)]))]),
        ["cells"] = new JsonArray([.. table.Cells.Select(c => c is { } v ? (JsonNode)v : null)]),
        ["suppressed"] = table.SuppressedCount,
    };
}
