using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using Microsoft.AspNetCore.Builder;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A real coordinator (Kestrel on a loopback port) in this process, with one enrolled node directory. Given a clock, the coordinator's
/// services and the node's signatures read it: a test moves it (FakeTimeProvider) instead of waiting for windows and deadlines.
/// </summary>
internal sealed class InProcessCoordinator(WebApplication app, Uri url, Uri adminUrl, string adminToken, string dataDir, NodeDirectory node, TimeProvider clock) : IAsyncDisposable
{
    /// <summary>The clock the coordinator and the node were started with (the system's unless the test gave one).</summary>
    public TimeProvider Clock { get; } = clock;

    public WebApplication App { get; } = app;

    /// <summary>Where nodes reach the coordinator.</summary>
    public Uri Url { get; } = url;

    /// <summary>The admin API's own listener.</summary>
    public Uri AdminUrl { get; } = adminUrl;

    /// <summary>The admin token the coordinator made at its start (its data directory keeps only the hash).</summary>
    public string AdminToken { get; } = adminToken;

    /// <summary>An admin API client with the coordinator's admin token.</summary>
    public FederatedTwin.Cli.Commands.AdminClient Admin() => new(AdminUrl, AdminToken);

    /// <summary>An HTTP client for the admin listener, bearing the admin token.</summary>
    public HttpClient AdminHttp()
    {
        var http = new HttpClient { BaseAddress = AdminUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AdminToken);
        return http;
    }

    public string DataDir { get; } = dataDir;

    /// <summary>The running coordinator's own store (coordinator.db, or its PostgreSQL database): what a test reads its state through.</summary>
    public FederatedTwin.Coordinator.Storage.CoordinatorStore Store => (FederatedTwin.Coordinator.Storage.CoordinatorStore)App.Services.GetService(typeof(FederatedTwin.Coordinator.Storage.CoordinatorStore))!;

    public NodeDirectory Node { get; } = node;

    public string NodeId => Node.Store.GetEnrollment()!.NodeId;

    /// <param name="configure">Options over the test's defaults (rate limits, intervals).</param>
    public static async Task<InProcessCoordinator> Start(string name, TimeProvider? clock = null, Action<CoordinatorOptions>? configure = null)
    {
        clock ??= TimeProvider.System;
        var root = TestFederation.TempDir(name);
        var port = ChildProcess.FreeLoopbackPort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        var dataDir = Path.Combine(root, "coordinator");
        var app = CoordinatorHost.Build(["--urls", url.ToString().TrimEnd('/')], o =>
        {
            o.DataDir = dataDir;
            o.AdminUrl = adminUrl.ToString().TrimEnd('/');
            configure?.Invoke(o);
        }, clock);
        await app.StartAsync();
        var keys = (CoordinatorKeys)app.Services.GetService(typeof(CoordinatorKeys))!;
        var adminToken = keys.CreatedAdminToken!;
        var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"), time: clock);
        await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
        using var admin = new FederatedTwin.Cli.Commands.AdminClient(adminUrl, adminToken);
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(node, url, token, "test-node", clock, CancellationToken.None);
        return new InProcessCoordinator(app, url, adminUrl, adminToken, dataDir, node, clock);
    }

    public async ValueTask DisposeAsync()
    {
        Node.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
