using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Federation.Tests;

/// <summary>The node service (<see cref="NodeHost"/>, what `ftwin node run` starts) in this process, on a free loopback port.</summary>
internal static class NodeService
{
    /// <summary>A new node directory whose site policy is <paramref name="policyYaml"/>.</summary>
    public static async Task<string> WithPolicy(string name, string policyYaml)
    {
        var dir = TestFederation.TempDir(name);
        NodeDirectory.OpenOrInitialize(dir).Dispose();
        await File.WriteAllTextAsync(Path.Combine(dir, "policy.yaml"), policyYaml);
        return dir;
    }

    /// <summary>What starting the node over <paramref name="nodeDir"/> throws when its settings or its policy do not validate.</summary>
    public static Task<OptionsValidationException> RefusesToStart(string nodeDir, string? adminUrl = null) =>
        Assert.ThrowsAsync<OptionsValidationException>(() => NodeHost.Build([], o =>
        {
            o.NodeDir = nodeDir;
            o.AdminUrl = adminUrl ?? $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}";
        }).StartAsync());

    /// <summary>The node over <paramref name="nodeDir"/>, started; it waits a minute between polls of the coordinator it has none of.</summary>
    public static async Task<(WebApplication App, Uri Url)> Start(string nodeDir)
    {
        var url = $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}";
        var app = NodeHost.Build([], o =>
        {
            o.NodeDir = nodeDir;
            o.AdminUrl = url;
            o.RetryDelayMilliseconds = 60_000;
        });
        await app.StartAsync();
        return (app, new Uri(url));
    }
}
