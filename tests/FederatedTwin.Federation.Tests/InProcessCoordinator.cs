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
internal sealed class InProcessCoordinator(WebApplication app, Uri url, string dataDir, NodeDirectory node, TimeProvider clock) : IAsyncDisposable
{
    /// <summary>The clock the coordinator and the node were started with (the system's unless the test gave one).</summary>
    public TimeProvider Clock { get; } = clock;

    public WebApplication App { get; } = app;

    public Uri Url { get; } = url;

    public string DataDir { get; } = dataDir;

    public NodeDirectory Node { get; } = node;

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

    /// <summary>Another hospital: a new node directory with this node's policy, enrolled as "other" (the caller disposes it).</summary>
    public async Task<NodeDirectory> EnrollAnother(string name)
    {
        using var admin = new FederatedTwin.Cli.Commands.AdminClient(Url, CoordinatorKeys.ReadAdminToken(DataDir));
        var other = NodeDirectory.OpenOrInitialize(TestFederation.TempDir(name), time: Clock);
        await File.WriteAllTextAsync(other.PolicyPath, await File.ReadAllTextAsync(Node.PolicyPath));
        await Enrollment.Enroll(other, Url, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "other", Clock, CancellationToken.None);
        return other;
    }

    public async ValueTask DisposeAsync()
    {
        Node.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>Tests that each run against a fresh <see cref="InProcessCoordinator"/> (xUnit makes one instance of the class per test).</summary>
public abstract class InProcessCoordinatorTests(string name, TimeProvider? clock = null) : IAsyncLifetime
{
    private InProcessCoordinator? _coordinator;

    private protected InProcessCoordinator Coordinator => _coordinator ?? throw new InvalidOperationException("The coordinator starts before each test.");

    public async Task InitializeAsync() => _coordinator = await InProcessCoordinator.Start(name, clock);

    public async Task DisposeAsync()
    {
        if (_coordinator is not null)
        {
            await _coordinator.DisposeAsync();
        }
    }
}
