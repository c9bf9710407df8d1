using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node.Features;

namespace FederatedTwin.Federation.Tests;

/// <summary>Feature, outcome and offset columns belong to one schema (PatientYearSchema), which the coordinator checks when a study is created.</summary>
public sealed class StudyColumnsTests
{
    private static readonly string Study = $"""
        {TestFederation.StudyHeader("unknown-column", "federated-glm")}
          family: binomial
          outcome: admission_next_year
          features: age,sex_male,frailty_index
        """;

    [Fact]
    public void The_nodes_feature_schema_has_exactly_the_shared_schemas_columns()
    {
        Assert.Equal(PatientYearSchema.Columns, FeatureSchema.Columns.Select(c => c.Name));
    }

    [Fact]
    public async Task A_study_naming_an_unknown_feature_column_is_a_400_problem_at_creation()
    {
        await using var coordinator = await InProcessCoordinator.Start("unknown-column");
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", coordinator.AdminToken);

        using var response = await http.PostAsync("/v1/admin/studies", new StringContent(Study, Encoding.UTF8, "application/yaml"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(body)!;
        Assert.Equal("Invalid study", problem["title"]?.ToString());
        Assert.Equal("parameters.features", problem["field"]?.ToString());
        Assert.Contains("'frailty_index' is not a column of the patient-year feature schema", problem["detail"]?.ToString(), StringComparison.Ordinal);

        // The same study with schema columns only is created.
        using var ok = await http.PostAsync("/v1/admin/studies", new StringContent(Study.Replace(",frailty_index", string.Empty, StringComparison.Ordinal), Encoding.UTF8, "application/yaml"));
        Assert.True(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
    }
}
