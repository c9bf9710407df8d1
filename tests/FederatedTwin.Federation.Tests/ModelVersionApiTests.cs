using System.Net;
using System.Text.Json.Nodes;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The admin API's model versions and diff (docs/models.md, "Versions") on what they cannot answer: an unknown model or version is a
/// 404 problem naming what is missing, never a 500 or an empty success. (Versions of a real lineage: <see cref="RefreshEndToEndTests"/>.)
/// </summary>
public sealed class ModelVersionApiTests
{
    [Fact]
    public async Task Unknown_models_and_versions_are_404_problems()
    {
        await using var coordinator = await InProcessCoordinator.Start("model-versions-api");
        using var http = coordinator.AdminHttp();
        foreach (var path in new[] { "/v1/admin/model-versions?model=glm%2Fadmission_next_year%2Fnone", "/v1/admin/model-diff?model=glm%2Fadmission_next_year%2Fnone&from=1&to=2" })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Contains("glm/admission_next_year/none", problem["detail"]!.ToString(), StringComparison.Ordinal);
        }
    }
}
