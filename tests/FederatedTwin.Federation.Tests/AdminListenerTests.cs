using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Audit;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The admin API on a listener of its own (loopback by default), and the admin token kept as a salted hash: shown once, refused in
/// the clear, a plaintext token from an older directory migrated at start, a new one effective on a running coordinator.
/// </summary>
public sealed class AdminListenerTests
{
    [Fact]
    public async Task The_admin_api_is_served_only_on_the_admin_listener_and_the_node_api_only_on_the_node_listener()
    {
        await using var coordinator = await InProcessCoordinator.Start("listeners");
        using var admin = coordinator.AdminHttp();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/admin/studies")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/health/ready")).StatusCode);

        using var onNodeListener = new HttpClient { BaseAddress = coordinator.Url };
        onNodeListener.DefaultRequestHeaders.Authorization = new("Bearer", coordinator.AdminToken);
        using var refused = await onNodeListener.GetAsync("/v1/admin/studies");
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        Assert.EndsWith(RefusalRules.WrongListener, JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["type"]!.ToString(), StringComparison.Ordinal);

        // The listener is the connection's local port: a Host header naming the admin address changes nothing.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/studies");
        spoofed.Headers.Host = coordinator.AdminUrl.Authority;
        Assert.Equal(HttpStatusCode.NotFound, (await onNodeListener.SendAsync(spoofed)).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/node/work")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/identity")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await onNodeListener.GetAsync("/v1/identity")).StatusCode);

        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinator.DataDir, "coordinator.db"));
        var rules = connection.Query<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = AuditActions.RequestRefused }).Select(d => JsonNode.Parse(d)!["rule"]!.ToString()).ToList();
        Assert.Equal([RefusalRules.WrongListener], rules); // four refusals from one source in one interval: one entry, the rest counted
    }

    [Theory]
    [InlineData("http://10.1.2.3:7401", UrlPolicy.HttpsRequired)]
    [InlineData("http://127.0.0.1:0", "must name its port")]
    [InlineData("http://127.0.0.1:7401/admin", "no path")]
    public void An_admin_url_beyond_loopback_on_http_or_without_a_port_of_its_own_is_refused_at_start(string adminUrl, string reason)
    {
        var dir = TestFederation.TempDir("admin-url");
        var e = Assert.Throws<OptionsValidationException>(() => CoordinatorHost.Build(["--urls", "http://127.0.0.1:7455"], o =>
        {
            o.DataDir = dir;
            o.AdminUrl = adminUrl;
        }));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_admin_url_on_the_node_listeners_port_is_refused_at_start()
    {
        var dir = TestFederation.TempDir("admin-port");
        var e = Assert.Throws<OptionsValidationException>(() => CoordinatorHost.Build(["--urls", "http://0.0.0.0:7455"], o =>
        {
            o.DataDir = dir;
            o.AdminUrl = "http://127.0.0.1:7455";
        }));
        Assert.Contains("port of its own", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_token_is_kept_as_a_salted_hash_and_its_creation_recorded()
    {
        await using var coordinator = await InProcessCoordinator.Start("token-hash");
        var stored = (await File.ReadAllTextAsync(Path.Combine(coordinator.DataDir, AdminTokens.FileName))).Trim();
        Assert.StartsWith("ftwin-admin-token:v1:hmac-sha256:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(coordinator.AdminToken, stored, StringComparison.Ordinal);

        // What the file holds does not authenticate.
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", stored);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/admin/studies")).StatusCode);

        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinator.DataDir, "coordinator.db"));
        var created = JsonNode.Parse(connection.QuerySingle<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = AuditActions.AdminTokenCreated }))!;
        Assert.Equal("created", created["how"]!.ToString());
        Assert.DoesNotContain(coordinator.AdminToken, created.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_plaintext_admin_token_from_an_older_version_is_hashed_at_start_and_still_works()
    {
        var root = TestFederation.TempDir("token-migrate");
        var dataDir = Path.Combine(root, "coordinator");
        Directory.CreateDirectory(dataDir);
        var old = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        FederatedTwin.Hosting.Files.DurableFile.CreateOwnerOnly(Path.Combine(dataDir, AdminTokens.FileName), System.Text.Encoding.ASCII.GetBytes(old + "\n"));
        var adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        await using var app = CoordinatorHost.Build(["--urls", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}"], o =>
        {
            o.DataDir = dataDir;
            o.AdminUrl = adminUrl.ToString().TrimEnd('/');
        });
        await app.StartAsync();

        Assert.DoesNotContain(old, await File.ReadAllTextAsync(Path.Combine(dataDir, AdminTokens.FileName)), StringComparison.Ordinal);
        using var http = new HttpClient { BaseAddress = adminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", old);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/admin/studies")).StatusCode);
        await app.StopAsync();

        using var connection = TestStore.OpenReadOnly(Path.Combine(dataDir, "coordinator.db"));
        Assert.Equal("migrated", JsonNode.Parse(connection.QuerySingle<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = AuditActions.AdminTokenCreated }))!["how"]!.ToString());
    }

    [Fact]
    public async Task A_new_admin_token_made_on_the_host_works_at_once_and_retires_the_old_one()
    {
        await using var coordinator = await InProcessCoordinator.Start("token-issue");
        var issued = await Task.Run(() => TestFederation.Ftwin("coordinator", "admin-token", "--data-dir", coordinator.DataDir));
        Assert.True(issued.ExitCode == 0, issued.Stderr);
        var token = issued.Stdout.Trim();
        Assert.Matches("^[0-9a-f]{64}$", token);

        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", coordinator.AdminToken);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/v1/admin/studies")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/admin/studies")).StatusCode);
    }
}
