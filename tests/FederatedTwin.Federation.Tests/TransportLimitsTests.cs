using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// What the coordinator reads of a /v1/node request before it knows who sent it: the headers only. A body is read after its
/// signature verified, within its endpoint kind's limit (413 otherwise), and a body that trickles is ended (408); none of these
/// refusals is a 500, and each is recorded under its rule.
/// </summary>
public sealed class TransportLimitsTests : IAsyncLifetime
{
    private InProcessCoordinator _coordinator = null!;

    public async Task InitializeAsync() => _coordinator = await InProcessCoordinator.Start("transport-limits");

    public async Task DisposeAsync() => await _coordinator.DisposeAsync();

    private static readonly (string, string)[] Protocol = [(FederationProtocol.VersionHeader, FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Content-Type", "application/json")];

    private List<JsonObject> Refusals(string action)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(_coordinator.DataDir, "coordinator.db"));
        return [.. connection.Query<string>("SELECT detail FROM audit_log WHERE action=@action ORDER BY seq", new { action }).Select(d => JsonNode.Parse(d)!.AsObject())];
    }

    [Fact]
    public async Task An_unsigned_body_is_refused_401_before_the_client_has_finished_sending_it()
    {
        // 15 MB is within the limit of an update upload, so only the missing signature can refuse it; 64 KiB of it is sent.
        await using var raw = await RawHttp.Connect(_coordinator.Url);
        await raw.SendHead("POST", "/v1/node/attempts/s1/1/1/update", _coordinator.Url, [.. Protocol, ("Content-Length", "15000000")]);
        Assert.True(await raw.TrySend(new byte[64 * 1024]));

        var (status, head) = await raw.ReadHead(TimeSpan.FromSeconds(10));
        Assert.Equal(401, status);
        Assert.Contains("Connection: close", head, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("Missing", Assert.Single(Refusals(AuditActions.AuthenticationFailure))["failure"]!.ToString());
    }

    [Fact]
    public async Task An_unsigned_chunked_body_is_refused_without_being_read()
    {
        await using var raw = await RawHttp.Connect(_coordinator.Url);
        await raw.SendHead("POST", "/v1/node/attempts/s1/1/1/update", _coordinator.Url, [.. Protocol, ("Transfer-Encoding", "chunked")]);
        Assert.True(await raw.TrySend(Encoding.ASCII.GetBytes("10000\r\n").Concat(new byte[0x10000]).Concat("\r\n"u8.ToArray()).ToArray()));

        Assert.Equal(401, (await raw.ReadHead(TimeSpan.FromSeconds(10))).Status);
    }

    [Theory]
    [InlineData("/v1/node/work", 60_000_000L)] // the hostile pass's 60 MB, at an endpoint that takes no body
    [InlineData("/v1/node/studies/s1/decision", NodeRequestBodies.SmallBodyBytes + 1L)]
    [InlineData("/v1/node/attempts/s1/1/1/update", 17_000_000L)] // beyond the largest ciphertext one key may decrypt, in base64
    [InlineData("/v1/node/attempts/s1/1/1/key-share-commitment", NodeRequestBodies.SmallBodyBytes + 1L)]
    public async Task A_declared_body_over_its_endpoint_kinds_limit_is_413_problem_details_before_anything_is_sent(string path, long length)
    {
        await using var raw = await RawHttp.Connect(_coordinator.Url);
        await raw.SendHead(path.EndsWith("/work", StringComparison.Ordinal) ? "GET" : "POST", path, _coordinator.Url, [.. Protocol, ("Content-Length", length.ToString(System.Globalization.CultureInfo.InvariantCulture))]);

        var (status, head) = await raw.ReadHead(TimeSpan.FromSeconds(10));
        Assert.Equal(413, status);
        Assert.Contains("application/problem+json", head, StringComparison.Ordinal);
        var refused = Assert.Single(Refusals(AuditActions.RequestRefused));
        Assert.Equal(RefusalRules.BodyTooLarge, refused["rule"]!.ToString());
        Assert.Equal(413, refused["status"]!.GetValue<int>());
        Assert.Empty(Refusals(AuditActions.AuthenticationFailure)); // refused for its size alone, before its signature was looked at
    }

    [Fact]
    public async Task A_signed_chunked_body_that_outgrows_its_limit_is_413()
    {
        var body = Encoding.UTF8.GetBytes("{\"reason\":\"" + new string('x', NodeRequestBodies.SmallBodyBytes) + "\"}");
        const string path = "/v1/node/studies/s1/decision";
        using var http = new HttpClient { BaseAddress = _coordinator.Url };
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StreamContent(new UnseekableStream(body)) };
        foreach (var (name, value) in RawHttp.SignedHeaders(_coordinator, "POST", path, body))
        {
            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal(RefusalRules.BodyTooLarge, Assert.Single(Refusals(AuditActions.RequestRefused))["rule"]!.ToString());
    }

    [Fact]
    public async Task A_signed_body_that_trickles_in_is_ended_with_408_not_500()
    {
        // Kestrel's minimum request body data rate is 240 bytes/s after a 5 s grace period: one byte a second falls below it.
        var body = Encoding.UTF8.GetBytes("{\"study\":\"s1\",\"accept\":true,\"rule\":\"r\",\"reason\":\"" + new string('x', 900) + "\"}");
        const string path = "/v1/node/studies/s1/decision";
        await using var raw = await RawHttp.Connect(_coordinator.Url);
        await raw.SendHead("POST", path, _coordinator.Url, [.. RawHttp.SignedHeaders(_coordinator, "POST", path, body), ("Content-Length", body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        var reading = raw.ReadHead(TimeSpan.FromSeconds(30));
        for (var i = 0; i < body.Length && !reading.IsCompleted && await raw.TrySend(body.AsMemory(i, 1)); i++)
        {
            await Task.WhenAny(reading, Task.Delay(1000));
        }

        var (status, head) = await reading;
        Assert.Equal(408, status);
        Assert.Contains("application/problem+json", head, StringComparison.Ordinal);
        Assert.Equal(RefusalRules.BodyTooSlow, Assert.Single(Refusals(AuditActions.RequestRefused))["rule"]!.ToString());
    }

    /// <summary>A stream whose length HttpClient cannot know, so it sends the body chunked.</summary>
    private sealed class UnseekableStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }
}
