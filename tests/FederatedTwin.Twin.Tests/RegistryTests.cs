using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Tests;

public sealed class RegistryTests
{
    /// <summary>A converged two-feature binomial fit as analytics/Glm reports it (values illustrative, shapes real).</summary>
    internal static GlmResult Fit(GlmFamily family = GlmFamily.Binomial, bool converged = true) => new()
    {
        Family = family,
        Names = ["(Intercept)", "age", "heart_failure"],
        Coefficients = [-5.1, 0.031, 0.62],
        StandardErrors = [0.20, 0.002, 0.05],
        Statistics = [-25.5, 15.5, 12.4],
        PValues = [1e-100, 1e-50, 1e-30],
        LowerConfidence = [-5.49, 0.027, 0.52],
        UpperConfidence = [-4.71, 0.035, 0.72],
        // Consistent with the standard errors (√diag), as every GlmResult is; the registry now stores it.
        Covariance = new double[,] { { 0.04, 0, 0 }, { 0, 0.000004, 0 }, { 0, 0, 0.0025 } },
        Dispersion = 1,
        DispersionEstimated = false,
        PearsonChiSquare = null,
        Deviance = 41_234.5,
        NullDeviance = 45_678.9,
        ResidualDf = 99_997,
        NullDf = 99_999,
        Aic = 41_240.5,
        Rows = 100_000,
        Nodes = 3,
        Rounds = 8,
        Iterations = 6,
        Converged = converged,
        Standardization = null,
    };

    private static RegisteredModel Registered() => RegisteredModel.FromGlmResult(Fit(), "admission_next_year", "aco-2026-readmit", "HOPERAT",
        new DateTimeOffset(2026, 11, 20, 10, 0, 0, TimeSpan.Zero), new ModelPrivacy(true, 0.25));

    private static RegisteredModelException Invalid(string json) => Assert.Throws<RegisteredModelException>(() => RegisteredModel.FromJson(json));

    [Fact]
    public void A_GLM_result_becomes_a_registered_model_with_every_term()
    {
        var m = Registered();
        Assert.Equal("glm/admission_next_year/aco-2026-readmit", m.Id);
        Assert.Equal("glm", m.Kind);
        Assert.Equal(GlmFamily.Binomial, m.Family);
        Assert.Equal(["(Intercept)", "age", "heart_failure"], m.Terms.Select(t => t.Name));
        Assert.Equal(0.031, m.Coefficient("age"));
        Assert.Equal(new ModelTerm("heart_failure", 0.62, 0.05, 0.52, 0.72), m.Terms[2]);
        Assert.Equal((100_000L, 3, 8), (m.Rows, m.Nodes, m.Rounds));
        Assert.Equal((41_234.5, 45_678.9, 41_240.5), (m.Deviance!.Value, m.NullDeviance!.Value, m.Aic!.Value));
    }

    [Fact]
    public void A_fit_that_did_not_converge_is_not_registered() =>
        Assert.Throws<ArgumentException>(() => RegisteredModel.FromGlmResult(Fit(converged: false), "admission_next_year", "s1", "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null)));

    [Fact]
    public void The_release_field_round_trips_and_a_dp_planned_rounds_release_must_be_a_dp_model()
    {
        var exact = RegisteredModel.FromGlmResult(Fit(), "admission_next_year", "s1", "HOPERAT", DateTimeOffset.UnixEpoch, new ModelPrivacy(false, null));
        Assert.Equal(RegisteredModel.ReleaseConverged, exact.Release);
        Assert.Contains("\"release\": \"converged\"", exact.ToJson(), StringComparison.Ordinal);
        var dp = exact with { Release = RegisteredModel.ReleaseDpPlannedRounds, Privacy = new ModelPrivacy(true, 2, 8, 8, 2) };
        var back = RegisteredModel.FromJson(dp.ToJson());
        Assert.Equal((RegisteredModel.ReleaseDpPlannedRounds, new ModelPrivacy(true, 2, 8, 8, 2)), (back.Release, back.Privacy));
        Assert.Equal("release", Assert.Throws<RegisteredModelException>(() => (exact with { Release = RegisteredModel.ReleaseDpPlannedRounds }).Validate()).Field);
        Assert.Equal("release", Assert.Throws<RegisteredModelException>(() => (exact with { Release = "stopped" }).Validate()).Field);
        Assert.Equal("privacy.rho_spent", Assert.Throws<RegisteredModelException>(() => (dp with { Privacy = new ModelPrivacy(true, 2, 8, 8, 3) }).Validate()).Field);
    }

    [Fact]
    public void JSON_is_snake_case_and_round_trips()
    {
        var m = Registered();
        var json = m.ToJson();
        foreach (var key in new[] { "\"null_deviance\"", "\"std_error\"", "\"ci_low\"", "\"purpose_of_use\"", "\"created_at\"", "\"study_id\"", "\"family\": \"binomial\"", "\"rho\": 0.25" })
        {
            Assert.Contains(key, json, StringComparison.Ordinal);
        }

        var back = RegisteredModel.FromJson(json);
        Assert.Equal(json, back.ToJson());
        Assert.Equal(m.Terms, back.Terms);
        Assert.Equal(m.CreatedAt, back.CreatedAt);
    }

    [Fact]
    public void Save_writes_the_id_path_and_LoadDirectory_reads_it_back()
    {
        using var registry = new TempDirectory("ftwin-registry-");
        var path = ModelRegistry.Save(Registered(), registry.Path);
        Assert.Equal(Path.Combine(registry.Path, "glm", "admission_next_year", "aco-2026-readmit.json"), path);
        var loaded = Assert.Single(ModelRegistry.LoadDirectory(registry.Path));
        Assert.Equal("glm/admission_next_year/aco-2026-readmit", loaded.Id);
    }

    [Fact]
    public void Two_files_with_the_same_id_are_an_error_naming_both()
    {
        using var registry = new TempDirectory("ftwin-registry-");
        var path = ModelRegistry.Save(Registered(), registry.Path);
        File.Copy(path, Path.Combine(registry.Path, "copy.json"));
        var e = Assert.Throws<RegisteredModelException>(() => ModelRegistry.LoadDirectory(registry.Path));
        Assert.Equal("id", e.Field);
        Assert.Contains("copy.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("aco-2026-readmit.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_bad_file_in_a_registry_is_reported_with_its_path_and_field()
    {
        using var registry = new TempDirectory("ftwin-registry-");
        Directory.CreateDirectory(registry.Path);
        File.WriteAllText(Path.Combine(registry.Path, "bad.json"), Registered().ToJson().Replace("\"binomial\"", "\"logit\"", StringComparison.Ordinal));
        var e = Assert.Throws<RegisteredModelException>(() => ModelRegistry.LoadDirectory(registry.Path));
        Assert.Equal("family", e.Field);
        Assert.Equal(Path.Combine(registry.Path, "bad.json"), e.Origin);
        Assert.Contains("'logit' is not one of binomial, poisson, gaussian", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"outcome\": \"admission_next_year\",", "", "outcome", "is required")]
    [InlineData("\"rows\": 100000", "\"rows\": -1", "rows", "must not be negative")]
    [InlineData("\"kind\": \"glm\"", "\"kind\": \"gbm\"", "kind", "not a known model kind")]
    [InlineData("\"name\": \"age\"", "\"name\": \"heart_failure\"", "terms[2].name", "appears twice")]
    [InlineData("\"name\": \"age\"", "\"name\": \"Age Years\"", "terms[1].name", "column name")]
    [InlineData("\"name\": \"(Intercept)\"", "\"name\": \"intercept\"", "terms[0].name", "first term must be (Intercept)")]
    [InlineData("\"coefficient\": 0.031", "\"coefficient\": \"big\"", "terms[1].coefficient", "not valid")]
    [InlineData("\"std_error\": 0.002", "\"std_error\": null", "terms[1].std_error", "fitted model")]
    [InlineData("\"offset\": null", "\"offset\": \"cost\"", "offset", "poisson and gaussian families only")]
    [InlineData("\"rho\": 0.25", "\"rho\": null", "privacy.rho", "zCDP rho")]
    [InlineData("\"purpose_of_use\": \"HOPERAT\"", "\"purpose_of_use\": \"MARKETING\"", "purpose_of_use", "PurposeOfUse")]
    [InlineData("\"study_id\": \"aco-2026-readmit\"", "\"study_id\": \"ACO 2026\"", "study_id", "study id")]
    [InlineData("\"deviance\": 41234.5", "\"deviance\": null", "deviance", "required for a fitted model")]
    [InlineData("\"id\": \"glm/admission_next_year/aco-2026-readmit\"", "\"id\": \"glm/../etc\"", "id", "not a registry id")]
    public void Validation_errors_name_the_field(string find, string replace, string field, string problem)
    {
        var json = Registered().ToJson();
        Assert.Contains(find, json, StringComparison.Ordinal);
        var e = Invalid(json.Replace(find, replace, StringComparison.Ordinal));
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unfitted_model_must_not_claim_fit_statistics()
    {
        var m = Registered() with { Rows = 0, Nodes = 0, Rounds = 0, Terms = [new ModelTerm("(Intercept)", -2)], Dispersion = null, NullDeviance = null, Aic = null };
        Assert.Equal("deviance", Assert.Throws<RegisteredModelException>(m.Validate).Field);
        Assert.Equal("release", Assert.Throws<RegisteredModelException>((m with { Deviance = null }).Validate).Field); // "converged" claims a fit
        // The coefficients' covariance is a fit statistic too (issue 20).
        Assert.Equal("covariance", Assert.Throws<RegisteredModelException>((m with { Deviance = null, Release = null }).Validate).Field);
        (m with { Deviance = null, Release = null, Covariance = null }).Validate();
    }

    /// <summary>The coordinator's documents carry descriptive extras (link, z, p-values, evaluation) the twin does not read.</summary>
    [Fact]
    public void Descriptive_fields_the_twin_does_not_read_are_skipped()
    {
        var json = Registered().ToJson().Replace("\"nodes\": 3,", "\"nodes\": 3, \"link\": \"logit\", \"evaluation\": { \"auc\": 0.71 },", StringComparison.Ordinal);
        Assert.Equal(Registered().Id, RegisteredModel.FromJson(json).Id);
    }
}
