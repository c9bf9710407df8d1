using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The node admin API's lists read straight from the store (/v1/decisions, /v1/events, /v1/privacy-ledger) keep their field
/// names: hospital IT tooling reads them, so a name is never changed.
/// </summary>
public sealed class NodeAdminApiTests
{
    [Fact]
    public async Task The_store_lists_name_their_fields_in_snake_case()
    {
        var dir = TestFederation.TempDir("admin-lists");
        string token;
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        using (var federation = SimulatedFederation.Around(node, peers: 2))
        {
            var yaml = $"""
                version: 1
                trusted_coordinators:
                  - name: aco
                    public_key: {Convert.ToBase64String(new byte[32])}
                purposes_allowed: [HOPERAT]
                algorithms_allowed: [federated-glm]
                minimum_nodes: 3
                privacy_budgets: {"{"}HOPERAT: 1.0{"}"}
                lifetime_privacy_budget: 2.0
                """;
            File.WriteAllText(node.PolicyPath, yaml);
            File.WriteAllText(node.PolicyPath + ".sig", PolicySignature.Sign(System.Text.Encoding.UTF8.GetBytes(yaml), federation.Officer).ToJson());
            var glm = new StudySpec(new StudyId("glm"), "federated-glm", new PurposeOfUse("HOPERAT"), 3, 3, 1, 30)
            {
                Parameters = new Dictionary<string, string>(StringComparer.Ordinal) { ["family"] = "binomial", ["outcome"] = "admission_next_year", ["features"] = "age,sex_male", ["dp_rho"] = "0.1" },
            };
            var decision = new StudyDecisions(node).Decide(glm);
            Assert.True(decision.Accept, decision.Reason);
            node.Store.Event("test", "glm", "an event");
            token = node.CreatedAdminToken!; // shown once, when the directory is made
        }

        var (app, url) = await NodeService.Start(dir);
        try
        {
            using var http = new HttpClient { BaseAddress = url };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            async Task<IEnumerable<string>> Fields(string path) =>
                JsonNode.Parse(await http.GetStringAsync(new Uri(path, UriKind.Relative)))!.AsArray().First(e => e!["study_id"]?.GetValue<string>() == "glm")!.AsObject().Select(f => f.Key);

            Assert.Equal(["study_id", "accept", "rule", "reason", "purpose_of_use", "algorithm", "decided_at"], await Fields("/v1/decisions"));
            Assert.Equal(["at", "kind", "study_id", "detail"], await Fields("/v1/events"));
            Assert.Equal(["study_id", "purpose", "year", "rho", "sites_per_person", "charged_rho", "recorded_at"], await Fields("/v1/privacy-ledger"));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
