using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The study templates' refresh rules (docs/models.md, "Refresh") on a real coordinator (Kestrel on loopback, its own orchestrator
/// loop) whose clock the test moves. The schedule fires when <c>every</c> has elapsed and not a minute before; the min-change rule
/// fires when K of the last run's participants report a data version other than the one they had when they accepted it, and not with
/// K − 1; a template never has two runs live. The extra nodes here are enrolled node directories talking through the node's own
/// signed client (<see cref="CoordinatorClient"/>): their work polls carry a data version and they post their decisions themselves,
/// without a site policy (a node's policy and ledger deciding a run is <see cref="RefreshEndToEndTests"/>'s subject).
/// </summary>
public abstract class RefreshRuleCases
{
    /// <summary>The coordinator's store (null: coordinator.db in its data directory).</summary>
    protected virtual Action<FederatedTwin.Coordinator.CoordinatorOptions>? Store => null;

    private static string Template(string id, int deadline, params string[] refresh) =>
        $"id: {id}\nalgorithm: federated-sum\npurpose_of_use: HOPERAT\nmin_nodes: 2\nmax_nodes: 3\nrounds: 1\nphase_deadline_seconds: {deadline}\n"
        + "parameters:\n  vector: patients_by_age_band_and_sex\nrefresh:\n" + string.Concat(refresh.Select(r => "  " + r + "\n"));

    private static async Task<JsonNode> Templates(InProcessCoordinator coordinator)
    {
        using var admin = coordinator.Admin();
        return (await admin.Send(HttpMethod.Get, "/v1/admin/templates"))!;
    }

    private static async Task<IReadOnlyList<(string Study, string State)>> Runs(InProcessCoordinator coordinator, string template) =>
        [.. ((await Templates(coordinator)).AsArray().Single(t => t!["id"]!.ToString() == template)!["runs"]!.AsArray())
            .Select(r => (r!["study_id"]!.ToString(), r["state"]!.ToString())).Reverse()];

    private static async Task Post(InProcessCoordinator coordinator, string yaml)
    {
        using var admin = coordinator.Admin();
        await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
    }

    /// <summary>Gives the orchestrator loop (a pass every 200 ms of real time) several passes at the clock as it stands.</summary>
    private static Task SeveralPasses() => Task.Delay(1500);

    private static List<(string Detail, string Study)> RefreshAudit(InProcessCoordinator coordinator)
    {
        using var db = coordinator.Store.Open();
        return [.. db.Query<(string, string)>("SELECT detail, study_id FROM audit_log WHERE action='study_refresh_triggered' ORDER BY seq")];
    }

    [Fact]
    public async Task Refresh_fires_on_its_schedule_and_not_a_minute_before()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("refresh-schedule", clock, Store);
        await Post(coordinator, Template("sched", 60, "every: P30D"));
        Assert.Equal(new[] { ("sched-r1", "offered") }, await Runs(coordinator, "sched"));

        clock.Advance(TimeSpan.FromSeconds(61)); // the offer closes with nobody accepting: run 1 fails like any study
        await Eventually.Until(async () => (await Runs(coordinator, "sched"))[0].State == "failed", TimeSpan.FromSeconds(20), "run 1 to fail");

        clock.Advance(TimeSpan.FromDays(30) - TimeSpan.FromSeconds(61) - TimeSpan.FromMinutes(1));
        await SeveralPasses();
        Assert.Single(await Runs(coordinator, "sched"));

        clock.Advance(TimeSpan.FromMinutes(1));
        await Eventually.Until(async () => (await Runs(coordinator, "sched")).Count == 2, TimeSpan.FromSeconds(20), "run 2 to be created");
        Assert.Equal(("sched-r2", "offered"), (await Runs(coordinator, "sched"))[1]);
        var audit = RefreshAudit(coordinator);
        Assert.Equal(new[] { "sched-r1", "sched-r2" }, audit.Select(a => a.Study));
        var fired = JsonNode.Parse(audit[1].Detail)!;
        Assert.Equal("sched", fired["template"]!.ToString());
        Assert.Equal(2, fired["run"]!.GetValue<int>());
        Assert.StartsWith("every P30D: 30 days since run 1", fired["rule"]!.ToString(), StringComparison.Ordinal);

        // The run is a normal study: offered to nodes with the template's parameters, its id derived from the template's.
        using var admin = coordinator.Admin();
        var study = (await admin.Send(HttpMethod.Get, "/v1/admin/studies/sched-r2"))!;
        Assert.Equal("offered", study["state"]!.ToString());
    }

    [Fact]
    public async Task A_template_never_has_two_runs_at_once()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("refresh-overlap", clock, Store);
        await Post(coordinator, Template("overlap", 86_400, "every: PT1H"));

        clock.Advance(TimeSpan.FromHours(3)); // due three times over, but run 1's offer is open for a day: it is live
        await SeveralPasses();
        Assert.Equal(new[] { ("overlap-r1", "offered") }, await Runs(coordinator, "overlap"));

        using (var admin = coordinator.Admin())
        {
            await admin.Send(HttpMethod.Post, "/v1/admin/studies/overlap-r1/cancel");
        }

        await Eventually.Until(async () => (await Runs(coordinator, "overlap")).Count == 2, TimeSpan.FromSeconds(20), "run 2 once run 1 ended");
        await SeveralPasses();
        Assert.Equal(new[] { ("overlap-r1", "cancelled"), ("overlap-r2", "offered") }, await Runs(coordinator, "overlap"));
    }

    [Fact]
    public async Task Refresh_fires_when_k_participants_have_new_data_and_not_with_k_minus_one()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("refresh-k", clock, Store);
        var nodes = new List<(NodeDirectory Dir, CoordinatorClient Client)>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                nodes.Add(await Enroll(coordinator, clock, $"k-{i}"));
            }

            async Task Poll(int node, long? dataVersion) =>
                await nodes[node].Client.Get<WorkResponse>("/v1/node/work" + (dataVersion is { } v ? $"?data_version={v}" : string.Empty), CancellationToken.None);

            // Nodes 0 and 1 report version 1, node 2 (an older build) none; all three accept run 1.
            await Poll(0, 1);
            await Poll(1, 1);
            await Poll(2, null);
            await Post(coordinator, Template("kfresh", 60, "min_nodes_with_new_data: 2"));
            foreach (var (_, client) in nodes)
            {
                await client.Post("/v1/node/studies/kfresh-r1/decision", new StudyDecision(new StudyId("kfresh-r1"), true, "test", "accepted"), CancellationToken.None);
            }

            await Eventually.Until(async () => (await Runs(coordinator, "kfresh"))[0].State == "running", TimeSpan.FromSeconds(20), "run 1 to start");
            using (var admin = coordinator.Admin())
            {
                await admin.Send(HttpMethod.Post, "/v1/admin/studies/kfresh-r1/cancel");
            }

            // K − 1: node 0 publishes new data; node 2 starts reporting a version, but it had none when it accepted (unknown, not new).
            await Poll(0, 2);
            await Poll(2, 7);
            await SeveralPasses();
            Assert.Single(await Runs(coordinator, "kfresh"));
            var check = (await Templates(coordinator)).AsArray().Single()!["check"]!;
            Assert.False(check["due"]!.GetValue<bool>());
            Assert.Equal(1, check["with_new_data"]!.GetValue<int>());
            Assert.Equal(1, check["unknown"]!.GetValue<int>());

            // The same version polled again changes nothing; a second node's new version is K.
            await Poll(0, 2);
            await Poll(1, 1);
            await SeveralPasses();
            Assert.Single(await Runs(coordinator, "kfresh"));
            await Poll(1, 2);
            await Eventually.Until(async () => (await Runs(coordinator, "kfresh")).Count == 2, TimeSpan.FromSeconds(20), "run 2 once two participants have new data");
            var fired = JsonNode.Parse(RefreshAudit(coordinator)[^1].Detail)!;
            Assert.Equal(3, fired["participants_of_last_run"]!.GetValue<int>());
            Assert.Equal(2, fired["with_new_data"]!.GetValue<int>());
            Assert.Equal(1, fired["unknown"]!.GetValue<int>());
            Assert.DoesNotContain(nodes[0].Dir.Store.GetEnrollment()!.NodeId, RefreshAudit(coordinator)[^1].Detail, StringComparison.Ordinal);

            // The coordinator keeps each node's latest version and when it changed.
            using var db = coordinator.Store.Open();
            var stored = db.QuerySingle<(long? Version, string? ChangedAt)>("SELECT data_version, data_changed_at FROM nodes WHERE node_id=@id", new { id = nodes[1].Dir.Store.GetEnrollment()!.NodeId });
            Assert.Equal(2, stored.Version);
            Assert.NotNull(stored.ChangedAt);
        }
        finally
        {
            nodes.ForEach(n => n.Dir.Dispose());
        }
    }

    [Fact]
    public async Task Refresh_fires_when_the_fraction_of_participants_with_new_data_is_reached_and_not_below()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("refresh-fraction", clock, Store);
        var nodes = new List<(NodeDirectory Dir, CoordinatorClient Client)>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                nodes.Add(await Enroll(coordinator, clock, $"f-{i}"));
            }

            async Task Poll(int node, long dataVersion) =>
                await nodes[node].Client.Get<WorkResponse>($"/v1/node/work?data_version={dataVersion}", CancellationToken.None);

            for (var i = 0; i < 3; i++)
            {
                await Poll(i, 1);
            }

            await Post(coordinator, Template("ffresh", 60, "min_new_data_fraction: 0.6"));
            foreach (var (_, client) in nodes)
            {
                await client.Post("/v1/node/studies/ffresh-r1/decision", new StudyDecision(new StudyId("ffresh-r1"), true, "test", "accepted"), CancellationToken.None);
            }

            await Eventually.Until(async () => (await Runs(coordinator, "ffresh"))[0].State == "running", TimeSpan.FromSeconds(20), "run 1 to start");
            using (var admin = coordinator.Admin())
            {
                await admin.Send(HttpMethod.Post, "/v1/admin/studies/ffresh-r1/cancel");
            }

            // One of three participants (0.33 < 0.6): no run.
            await Poll(0, 2);
            await SeveralPasses();
            Assert.Single(await Runs(coordinator, "ffresh"));
            Assert.False((await Templates(coordinator)).AsArray().Single()!["check"]!["due"]!.GetValue<bool>());

            // Two of three (0.67 >= 0.6): run 2.
            await Poll(1, 2);
            await Eventually.Until(async () => (await Runs(coordinator, "ffresh")).Count == 2, TimeSpan.FromSeconds(20), "run 2 once two of three participants have new data");
            Assert.Contains("min_new_data_fraction 0.6: 2 of 3", RefreshAudit(coordinator)[^1].Detail, StringComparison.Ordinal);
        }
        finally
        {
            nodes.ForEach(n => n.Dir.Dispose());
        }
    }

    [Fact]
    public async Task A_malformed_data_version_is_refused_with_problem_details_and_changes_nothing()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("refresh-bad-version", clock, Store);
        var (dir, client) = await Enroll(coordinator, clock, "bad");
        using (dir)
        {
            var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Get<WorkResponse>("/v1/node/work?data_version=-3", CancellationToken.None));
            Assert.Equal(400, e.Status);
            Assert.Equal("Invalid data version", e.Problem?["title"]?.ToString()); // RFC 9457 problem details
            using var db = coordinator.Store.Open();
            Assert.Null(db.ExecuteScalar<long?>("SELECT data_version FROM nodes WHERE node_id=@id", new { id = dir.Store.GetEnrollment()!.NodeId }));
        }
    }

    [Theory]
    [InlineData("every: P1M", "refresh.every")]
    [InlineData("every: thirty days", "refresh.every")]
    [InlineData("min_nodes_with_new_data: 0", "refresh.min_nodes_with_new_data")]
    [InlineData("min_new_data_fraction: 1.5", "refresh.min_new_data_fraction")]
    public void A_bad_refresh_block_is_refused_with_its_field(string line, string field)
    {
        var e = Assert.Throws<FederatedTwin.Analytics.Studies.StudyFileException>(() => FederatedTwin.Analytics.Studies.StudyFile.ParseTemplate(Template("bad", 60, line)));
        Assert.Equal(field, e.Field);
    }

    private static async Task<(NodeDirectory, CoordinatorClient)> Enroll(InProcessCoordinator coordinator, FakeTimeProvider clock, string name)
    {
        var dir = NodeDirectory.OpenOrInitialize(TestFederation.TempDir(name), time: clock);
        File.Copy(coordinator.Node.PolicyPath, dir.PolicyPath, overwrite: true); // the demo policy pinning this coordinator's key
        using var admin = coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(dir, coordinator.Url, token, name, clock, CancellationToken.None);
        var enrollment = dir.Store.GetEnrollment()!;
        return (dir, new CoordinatorClient(new HttpClient { BaseAddress = coordinator.Url }, dir.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(60), time: clock));
    }
}

/// <summary><see cref="RefreshRuleCases"/> with the coordinator on coordinator.db.</summary>
public sealed class RefreshRuleTests : RefreshRuleCases;

/// <summary><see cref="RefreshRuleCases"/> with the coordinator on PostgreSQL (a new database of the class's cluster per test).</summary>
[Trait("Category", "Postgres")]
public sealed class RefreshRuleOnPostgresTests(FederatedTwin.Federation.Tests.Postgres.PostgresFixture postgres)
    : RefreshRuleCases, IClassFixture<FederatedTwin.Federation.Tests.Postgres.PostgresFixture>
{
    private readonly Action<FederatedTwin.Coordinator.CoordinatorOptions> _store = postgres.NewCoordinatorStore();

    protected override Action<FederatedTwin.Coordinator.CoordinatorOptions>? Store => _store;
}
