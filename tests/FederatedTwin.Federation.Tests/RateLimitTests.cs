using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Rate limits on /v1/node (per source address before anything is verified, per node once it is) and on failed authentication, and
/// refusals audited as counted summaries: a flood grows the audit trail by a few entries per interval, each naming its rule.
/// </summary>
public sealed class RateLimitTests
{
    private static List<(string Action, JsonObject Detail)> Audit(InProcessCoordinator coordinator, long afterSeq = 0)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinator.DataDir, "coordinator.db"));
        return [.. connection.Query<(string, string)>("SELECT action, detail FROM audit_log WHERE seq > @afterSeq ORDER BY seq", new { afterSeq })
            .Select(r => (r.Item1, JsonNode.Parse(r.Item2)!.AsObject()))];
    }

    private static long Head(InProcessCoordinator coordinator)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinator.DataDir, "coordinator.db"));
        return connection.ExecuteScalar<long>("SELECT MAX(seq) FROM audit_log");
    }

    private static async Task<HttpStatusCode> Unsigned(HttpClient http)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/node/work");
        request.Headers.Add(FederationProtocol.VersionHeader, FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private static long Repeats(IEnumerable<(string Action, JsonObject Detail)> entries, string action, string rule, string ruleField = "rule") =>
        entries.Where(e => e.Action == action && e.Detail[ruleField]?.ToString() == rule && e.Detail["repeats"] is not null).Sum(e => e.Detail["repeats"]!.GetValue<long>());

    [Fact]
    public async Task A_flood_of_forged_requests_grows_the_audit_trail_by_intervals_not_by_requests()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("flood", clock, o => o.FailedAuthenticationsPerMinutePerAddress = 100);
        var head = Head(coordinator);
        using var http = new HttpClient { BaseAddress = coordinator.Url };

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 500; i++)
        {
            statuses.Add(await Unsigned(http));
        }

        // The first 100 failures are checked (401), the rest of the minute's are refused unread (429).
        Assert.Equal(100, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(400, statuses.Count(s => s == HttpStatusCode.TooManyRequests));

        // 500 refusals, two audit entries: the first of each rule from this source, each naming its rule.
        var during = Audit(coordinator, head);
        Assert.Equal(2, during.Count);
        Assert.Equal("Missing", during.Single(e => e.Action == AuditActions.AuthenticationFailure).Detail["failure"]!.ToString());
        Assert.Equal(RefusalRules.FailedAuthenticationLimit, during.Single(e => e.Action == AuditActions.RequestRefused).Detail["rule"]!.ToString());

        // The interval ends; the next refusal (or the flusher) records the counts of the one before, and it is recorded in full again.
        clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(HttpStatusCode.TooManyRequests, await Unsigned(http)); // the lockout runs on its own minute, not the audit's
        await Eventually.Until(() => Repeats(Audit(coordinator, head), AuditActions.RequestRefused, RefusalRules.FailedAuthenticationLimit) == 399, TimeSpan.FromSeconds(10), "the interval's summary");

        var after = Audit(coordinator, head);
        Assert.Equal(99, Repeats(after, AuditActions.AuthenticationFailure, "Missing", "failure"));
        Assert.True(after.Count <= 5, string.Join("\n", after.Select(e => $"{e.Action} {e.Detail.ToJsonString()}")));
        Assert.Equal(501, after.Sum(e => e.Detail["repeats"]?.GetValue<long>() ?? 1));
        Assert.All(after, e => Assert.Equal("127.0.0.1", e.Detail["source"]!.ToString()));
    }

    [Fact]
    public async Task Repeats_still_open_when_the_coordinator_stops_are_recorded_before_it_stops()
    {
        var coordinator = await InProcessCoordinator.Start("flood-stop");
        var head = Head(coordinator);
        using (var http = new HttpClient { BaseAddress = coordinator.Url })
        {
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, await Unsigned(http));
            }
        }

        await coordinator.DisposeAsync();
        var entries = Audit(coordinator, head);
        Assert.Equal(9, Repeats(entries, AuditActions.AuthenticationFailure, "Missing", "failure"));
        Assert.Equal(AuditActions.ServiceStopped, entries[^1].Action);
    }

    [Fact]
    public async Task Wrong_admin_tokens_are_counted_the_same_way_and_then_refused_unchecked()
    {
        await using var coordinator = await InProcessCoordinator.Start("admin-flood", configure: o => o.FailedAuthenticationsPerMinutePerAddress = 5);
        var head = Head(coordinator);
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", "not-the-token");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            statuses.Add((await http.GetAsync("/v1/admin/studies")).StatusCode);
        }

        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 5), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 3)], statuses);
        var entries = Audit(coordinator, head);
        Assert.Equal(CoordinatorAuditRecords.AdminTokenRule, entries.Single(e => e.Action == AuditActions.AdminAuthenticationFailure).Detail["rule"]!.ToString());
        Assert.Equal(RefusalRules.FailedAuthenticationLimit, entries.Single(e => e.Action == AuditActions.RequestRefused).Detail["rule"]!.ToString());

        // Even the right token waits for the minute to end: the address is refused before any token is looked at.
        http.DefaultRequestHeaders.Authorization = new("Bearer", coordinator.AdminToken);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await http.GetAsync("/v1/admin/studies")).StatusCode);
    }

    [Fact]
    public async Task A_node_over_its_requests_per_minute_gets_a_signed_429_that_names_the_rule()
    {
        await using var coordinator = await InProcessCoordinator.Start("per-key", configure: o => o.NodeRequestsPerMinutePerKey = 3);
        var enrollment = coordinator.Node.Store.GetEnrollment()!;
        using var http = new HttpClient { BaseAddress = coordinator.Url };
        var client = new CoordinatorClient(http, coordinator.Node.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(60));
        for (var i = 0; i < 3; i++)
        {
            await client.Get<WorkResponse>("/v1/node/work", CancellationToken.None);
        }

        // Signed: the node can trust the refusal (an unsigned 429 would be an untrusted response) and act on it.
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        Assert.Equal(429, e.Status);
        Assert.NotEqual(CoordinatorClient.UntrustedResponse, e.Title);
        Assert.Equal(RefusalRules.KeyRateLimit, Audit(coordinator).Single(x => x.Action == AuditActions.RequestRefused).Detail["rule"]!.ToString());
    }

    [Fact]
    public async Task An_address_over_its_node_requests_per_minute_gets_429_before_anything_is_verified()
    {
        await using var coordinator = await InProcessCoordinator.Start("per-address", configure: o => o.NodeRequestsPerMinutePerAddress = 5);
        using var http = new HttpClient { BaseAddress = coordinator.Url };
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            statuses.Add(await Unsigned(http));
        }

        // The enrollment at start made one request from this address: four more are verified (and fail), the rest are not.
        Assert.Equal([.. Enumerable.Repeat(HttpStatusCode.Unauthorized, 4), .. Enumerable.Repeat(HttpStatusCode.TooManyRequests, 4)], statuses);
        Assert.Equal(RefusalRules.AddressRateLimit, Audit(coordinator).Single(x => x.Action == AuditActions.RequestRefused).Detail["rule"]!.ToString());
    }
}
