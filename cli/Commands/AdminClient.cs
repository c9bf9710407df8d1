using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// The analysts' HTTP client for the coordinator's /v1/admin API, at its admin listener. The bearer token never travels in the
/// clear beyond loopback (<see cref="UrlPolicy"/>: the URL is checked before anything is sent).
/// </summary>
internal sealed class AdminClient(Uri coordinatorAdmin, string adminToken) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = UrlPolicy.Require(coordinatorAdmin, "the coordinator's admin URL"), Timeout = TimeSpan.FromSeconds(60) };

    public async Task<JsonNode?> Send(HttpMethod method, string path, HttpContent? content = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        using var response = await _http.SendAsync(request, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            var problem = string.IsNullOrEmpty(body) ? null : TryParse(body);
            throw new AdminRequestException($"{(int)response.StatusCode} {problem?["title"]}: {problem?["detail"] ?? body}");
        }

        return string.IsNullOrEmpty(body) ? null : JsonNode.Parse(body);
    }

    private static JsonNode? TryParse(string body)
    {
        try
        {
            return JsonNode.Parse(body);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

internal sealed class AdminRequestException(string message) : Exception(message);
