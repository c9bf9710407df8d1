using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Twin.Scenarios;

namespace FederatedTwin.Federation.Tests;

/// <summary>POST /v1/admin/scenarios/run: admin only, RFC 9457 problems naming field and line, the CLI's JSON.</summary>
public sealed class ScenarioEndpointTests
{
    private const string Scenario = """
        name: endpoint
        start_year: 2027
        horizon: 2
        population: 2000
        replicates: 3
        seed: 4
        models:
          registry: coordinator
          fallback: demo
        interventions:
          - name: chf
            target: { condition: heart_failure }
            coverage: [0.5]
            cost_pmpm: 100
            effects:
              - outcome: admissions
                relative_risk: 0.8
        """;

    [Fact]
    public async Task Runs_a_scenario_on_the_coordinators_registry_and_answers_the_clis_json()
    {
        await using var coordinator = await InProcessCoordinator.Start("scenario-endpoint");
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };

        using (var anonymous = await http.PostAsync("/v1/admin/scenarios/run", new StringContent(Scenario, Encoding.UTF8, "application/yaml")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", coordinator.AdminToken);
        using var response = await http.PostAsync("/v1/admin/scenarios/run", new StringContent(Scenario, Encoding.UTF8, "application/yaml"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);

        // The same scenario parsed and run here, with the registry the coordinator holds (empty: every outcome falls back).
        var options = new ScenarioParseOptions
        {
            AllowDirectories = false,
            NamedRegistries = new Dictionary<string, NamedRegistry> { ["coordinator"] = new([], []) },
        };
        var expected = ScenarioJson.Serialize(ScenarioRunner.RunScenario(ScenarioParser.Parse(Scenario, options)));
        Assert.Equal(expected, body);
        var json = JsonNode.Parse(body)!;
        Assert.Equal("coordinator", json["model_source"]!.ToString());
        Assert.All(json["model_origins"]!.AsArray(), o => Assert.Equal("fallback", o!["kind"]!.ToString()));

        // Invalid YAML: RFC 9457 problem details with the field and the line.
        using var bad = await http.PostAsync("/v1/admin/scenarios/run", new StringContent(Scenario.Replace("coverage: [0.5]", "coverage: [1.5]", StringComparison.Ordinal), Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(await bad.Content.ReadAsStringAsync())!;
        Assert.Equal(400, problem["status"]!.GetValue<int>());
        Assert.Equal("interventions[0].coverage[0]", problem["field"]!.ToString());
        Assert.Equal(13, problem["line"]!.GetValue<long>());
        Assert.Contains("line 13", problem["detail"]!.ToString(), StringComparison.Ordinal);

        // A directory on the coordinator's disk is refused.
        using var directory = await http.PostAsync("/v1/admin/scenarios/run", new StringContent(Scenario.Replace("registry: coordinator", "registry: /etc", StringComparison.Ordinal), Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.BadRequest, directory.StatusCode);
        Assert.Equal("models.registry", JsonNode.Parse(await directory.Content.ReadAsStringAsync())!["field"]!.ToString());
    }
}
