using System.Net;
using System.Text.Json.Nodes;
using FederatedTwin.Node.Sources;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// The pull benchmark's own Bulk Data server (not a product server): on 127.0.0.1 only, it serves a generated export folder through
/// the Bulk Data Access v2 protocol at system level (kick-off 202 + Content-Location, a manifest on the first poll,
/// requiresAccessToken with one fixed bearer token, files streamed from disk as they are), so `ftwin bench pull` measures the
/// client and the ingest over a real HTTP connection, not an EHR.
/// </summary>
internal sealed class BenchBulkServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly Dictionary<string, string> _files;
    private readonly string _token;

    private BenchBulkServer(WebApplication app, Dictionary<string, string> files, string token) => (_app, _files, _token) = (app, files, token);

    public Uri FhirBase { get; private set; } = null!;

    public static async Task<BenchBulkServer> Start(IReadOnlyList<string> files, string token)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new BenchBulkServer(app, files.ToDictionary(f => Path.GetFileName(f), f => f, StringComparer.Ordinal), token);
        app.Run(server.Handle);
        await app.StartAsync().ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.FhirBase = new Uri(address.TrimEnd('/') + "/fhir/");
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task Handle(HttpContext context)
    {
        if (context.Request.Headers.Authorization.ToString() != "Bearer " + _token)
        {
            context.Response.StatusCode = 401;
            return;
        }

        var path = context.Request.Path.Value ?? string.Empty;
        var origin = FhirBase.GetLeftPart(UriPartial.Authority);
        if (path == "/fhir/$export")
        {
            context.Response.StatusCode = 202;
            context.Response.Headers.ContentLocation = origin + "/status/1";
        }
        else if (path == "/status/1")
        {
            var output = new JsonArray([.. _files.Keys.Order(StringComparer.Ordinal).Select(name => (JsonNode)new JsonObject { ["type"] = name.Split('.')[0], ["url"] = $"{origin}/files/{name}" })]);
            var manifest = new JsonObject
            {
                ["transactionTime"] = TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["request"] = origin + "/fhir/$export",
                ["requiresAccessToken"] = true,
                ["output"] = output,
                ["error"] = new JsonArray(),
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(manifest.ToJsonString()).ConfigureAwait(false);
        }
        else if (path.StartsWith("/files/", StringComparison.Ordinal) && _files.TryGetValue(path["/files/".Length..], out var file))
        {
            context.Response.ContentType = "application/fhir+ndjson";
            context.Response.ContentLength = new FileInfo(file).Length;
            await context.Response.SendFileAsync(file).ConfigureAwait(false);
        }
        else
        {
            context.Response.StatusCode = 404;
        }
    }

    /// <summary>The bench's bearer token source: one fixed token (the bench runs no authorization server).</summary>
    public sealed class FixedToken(string token) : IAccessTokenSource
    {
        public ValueTask<string> GetAsync(bool refresh, CancellationToken cancellationToken) => ValueTask.FromResult(token);
    }
}
