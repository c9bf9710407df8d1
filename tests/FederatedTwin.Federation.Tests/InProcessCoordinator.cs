using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using Microsoft.AspNetCore.Builder;

namespace FederatedTwin.Federation.Tests;

/// <summary>A real coordinator (Kestrel on a loopback port) in this process, with one enrolled node directory.</summary>
internal sealed class InProcessCoordinator : IAsyncDisposable
{
    private InProcessCoordinator(WebApplication app, Uri url, string dataDir, NodeDirectory node)
    {
        App = app;
        Url = url;
        DataDir = dataDir;
        Node = node;
    }

    public WebApplication App { get; }

    public Uri Url { get; }

    public string DataDir { get; }

    public NodeDirectory Node { get; }

    public string NodeId => Node.Store.GetEnrollment()!.NodeId;

    public static async Task<InProcessCoordinator> Start(string name)
    {
        var root = TestFederation.TempDir(name);
        var port = ChildProcess.FreeLoopbackPort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var dataDir = Path.Combine(root, "coordinator");
        var app = CoordinatorHost.Build(["--urls", url.ToString().TrimEnd('/')], o => o.DataDir = dataDir);
        await app.StartAsync();
        var keys = (CoordinatorKeys)app.Services.GetService(typeof(CoordinatorKeys))!;
        var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"));
        await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
        using var admin = new FederatedTwin.Cli.Commands.AdminClient(url, keys.AdminToken);
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(node, url, token, "test-node", CancellationToken.None);
        return new InProcessCoordinator(app, url, dataDir, node);
    }

    public async ValueTask DisposeAsync()
    {
        Node.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
