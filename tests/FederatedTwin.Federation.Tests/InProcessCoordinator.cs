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
internal sealed class InProcessCoordinator : IAsyncDisposable
{
    private InProcessCoordinator(WebApplication app, Uri url, string dataDir, NodeDirectory node, TimeProvider clock)
    {
        App = app;
        Url = url;
        DataDir = dataDir;
        Node = node;
        Clock = clock;
    }

    /// <summary>The clock the coordinator and the node were started with (the system's unless the test gave one).</summary>
    public TimeProvider Clock { get; }

    public WebApplication App { get; }

    public Uri Url { get; }

    public string DataDir { get; }

    public NodeDirectory Node { get; }

    public string NodeId => Node.Store.GetEnrollment()!.NodeId;

    public static async Task<InProcessCoordinator> Start(string name, TimeProvider? clock = null)
    {
        clock ??= TimeProvider.System;
        var root = TestFederation.TempDir(name);
        var port = ChildProcess.FreeLoopbackPort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var dataDir = Path.Combine(root, "coordinator");
        var app = CoordinatorHost.Build(["--urls", url.ToString().TrimEnd('/')], o => o.DataDir = dataDir, clock);
        await app.StartAsync();
        var keys = (CoordinatorKeys)app.Services.GetService(typeof(CoordinatorKeys))!;
        var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"), time: clock);
        await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
        using var admin = new FederatedTwin.Cli.Commands.AdminClient(url, keys.AdminToken);
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(node, url, token, "test-node", clock, CancellationToken.None);
        return new InProcessCoordinator(app, url, dataDir, node, clock);
    }

    public async ValueTask DisposeAsync()
    {
        Node.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
