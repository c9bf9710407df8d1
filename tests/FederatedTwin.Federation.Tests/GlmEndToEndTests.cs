using FederatedTwin.Cli.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Glm;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The exact federated GLM across three node processes, each with its own synthetic FHIR export ingested
/// through the real pipeline: the coefficients the coordinator decrypts equal a pooled fit of the same
/// patient-years (read back from the three stores after the study) within 1e-6 relative.
/// </summary>
public sealed class GlmEndToEndTests
{
    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "diabetes", "copd", "condition_count", "inpatient_admissions", "ed_visits"];

    [Theory]
    [InlineData("binomial", "admission_next_year", null)]
    [InlineData("poisson", "ed_visits_next_year", "50")]
    public async Task A_federated_glm_equals_the_pooled_fit_of_the_same_rows(string family, string outcome, string? maxResponse)
    {
        var profiles = SyntheticProfile.All;
        using var federation = await LocalFederationWithData("glm-" + family, (i, node) =>
        {
            var export = TestFederation.TempDir("glm-export");
            PopulationGenerator.Generate(300 + (150 * i), profiles[i % profiles.Count], (ulong)(11 + i), export);
            new IngestPipeline(node).Run(export);
        });
        var yaml = $"""
            id: glm-{family}
            algorithm: federated-glm
            purpose_of_use: HOPERAT
            min_nodes: 3
            max_nodes: 3
            rounds: 1
            phase_deadline_seconds: 30
            parameters:
              family: {family}
              outcome: {outcome}
              features: {string.Join(",", Features)}
              max_rows_per_node: "100000"
              max_abs_feature: "1000"
            {(maxResponse is null ? string.Empty : $"  max_abs_response: \"{maxResponse}\"")}
            """;
        await federation.CreateStudy(yaml, CancellationToken.None);
        var study = await federation.WaitForStudy($"glm-{family}", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var model = study["result"]!["model"]!;
        Assert.True(model["converged"]!.GetValue<bool>());
        Assert.True(model["rounds"]!.GetValue<int>() <= 10, $"{model["rounds"]} rounds");

        // The pooled reference: every node's rows, as each node computed them for the study.
        var glm = GlmStudy.Parse(StudyFile.Parse(yaml), Protocol.Crypto.RlweThresholdScheme.Default.MaxParties);
        var parts = federation.Nodes.Select(n =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(n.Dir);
            return LocalFederatedGlm.Rows(dir, glm, "HOPERAT");
        }).ToList();
        var pooled = GlmPooled.Fit(glm.Spec.Family, Features, new GlmData(Features.Length, [.. parts.SelectMany(p => p.Design)], [.. parts.SelectMany(p => p.Responses)]));
        var terms = model["terms"]!.AsArray();
        Assert.Equal(pooled.Coefficients.Count, terms.Count);
        for (var i = 0; i < terms.Count; i++)
        {
            var federated = terms[i]!["coefficient"]!.GetValue<double>();
            Assert.True(Math.Abs(federated - pooled.Coefficients[i]) <= 1e-6 * Math.Max(1, Math.Abs(pooled.Coefficients[i])), $"{pooled.Names[i]}: federated {federated}, pooled {pooled.Coefficients[i]}");
            Assert.True(Math.Abs(terms[i]!["std_error"]!.GetValue<double>() - pooled.StandardErrors[i]) <= 1e-6 * pooled.StandardErrors[i], $"{pooled.Names[i]} standard error");
        }

        Assert.Equal(pooled.Deviance, model["deviance"]!.GetValue<double>(), 1e-6 * pooled.Deviance);
        Assert.Equal(parts.Sum(p => p.Rows), model["rows"]!.GetValue<long>());

        // And it is in the registry.
        var registered = await federation.Admin.Send(HttpMethod.Get, $"/v1/admin/models/{model["id"]}");
        Assert.Equal(model["id"]!.ToString(), registered!["id"]!.ToString());
    }

    private static Task<FederatedTwin.Cli.Demo.LocalFederation> LocalFederationWithData(string name, Action<int, NodeDirectory> prepare) =>
        FederatedTwin.Cli.Demo.LocalFederation.Start(TestFederation.TempDir(name), ["site-a", "site-b", "site-c"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, prepare);
}
