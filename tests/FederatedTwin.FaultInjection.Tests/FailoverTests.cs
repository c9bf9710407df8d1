using System.Diagnostics;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using Xunit.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// Two coordinator replicas on one PostgreSQL, three nodes behind a load balancer (<see cref="ReplicaFederation"/>), and the exact GLM of
/// the kill tests run once undisturbed as the reference.
/// </summary>
public sealed class ReplicaFederationFixture : IAsyncLifetime
{
    private ReplicaFederation? _federation;

    internal ReplicaFederation Federation => _federation ?? throw new InvalidOperationException("The federation has not started.");

    public JsonNode Reference { get; private set; } = null!;

    /// <summary>The reference run's registry document, with what differs by run alone (instants, ids) taken out.</summary>
    public JsonNode ReferenceDocument { get; private set; } = null!;

    public TimeSpan StartTime { get; private set; }

    public TimeSpan ReferenceTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _federation = await ReplicaFederation.Start("replicas", patients: 150, firstSeed: 11);
        StartTime = clock.Elapsed;
        clock.Restart();
        await Federation.CreateStudy(0, GlmFederationFixture.ExactGlm("reference"));
        var study = await Federation.Ended("reference", TimeSpan.FromSeconds(180));
        Faults.AssertCompleted(study);
        Reference = study["result"]!["model"]!;
        ReferenceDocument = await FailoverTests.Document(Federation, study, "reference");
        ReferenceTime = clock.Elapsed;
    }

    public Task DisposeAsync()
    {
        _federation?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// kill -9 of the leading coordinator replica mid-study, and a leader paused past its lease (SIGSTOP) that wakes up after the other took
/// over: the other replica takes the lease under a larger fencing token, the study completes, and its fit and registered model equal
/// the undisturbed run's (docs/operations.md, "Running replicas").
/// </summary>
[Trait("Category", "Failover")]
public sealed class FailoverTests(ReplicaFederationFixture fixture, ITestOutputHelper output) : IClassFixture<ReplicaFederationFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task Leader_killed_mid_study_the_other_replica_takes_the_lease_and_the_study_completes_as_undisturbed()
    {
        var federation = fixture.Federation;
        await Heal(federation);
        const string id = "failover-kill";
        await federation.CreateStudy(1, GlmFederationFixture.ExactGlm(id));
        var atKill = await RoundInProgress(federation, id, 2);

        var leader = await federation.Leader(TimeSpan.FromSeconds(30));
        var before = (await federation.ReplicaStatus(leader))!;
        var oldToken = before["token"]!.GetValue<long>();
        var other = 1 - leader;
        var otherReplica = (await federation.ReplicaStatus(other))!["replica"]!.ToString();
        var clock = Stopwatch.StartNew();
        federation.KillReplica(leader);
        await Eventually.Until(async () => (await federation.ReplicaStatus(other))?["leader"]?.GetValue<bool>() == true, TimeSpan.FromSeconds(60), "the surviving replica to take the lease");
        var taken = clock.Elapsed;
        var study = await federation.Ended(id, Timeout);
        var completed = clock.Elapsed;
        output.WriteLine($"kill -9 of replica {leader} (token {oldToken}) at {atKill}; lease taken by replica {other} after {taken.TotalSeconds:F2} s; study completed {completed.TotalSeconds:F2} s after the kill");
        output.WriteLine($"load balancer: {federation.Balancer.Connections} connections, per replica {federation.Balancer.PerBackend[0]}/{federation.Balancer.PerBackend[1]}; federation start {fixture.StartTime.TotalSeconds:F1} s, reference {fixture.ReferenceTime.TotalSeconds:F1} s");

        Faults.AssertCompleted(study);
        var acquired = Audit(federation, "leader_acquired").Last();
        Assert.Equal(otherReplica, acquired["replica"]!.ToString());
        Assert.True(acquired["token"]!.GetValue<long>() > oldToken, $"the new token {acquired["token"]} is not above {oldToken}");
        AssertSameResult(study, await FailoverTests.Document(federation, study, id));
        AssertAuditChainVerifies(federation);
        // Within the phase deadline: no attempt was given up, each round finished in the attempt it began with.
        Assert.All(study["attempts"]!.AsArray(), a => Assert.Equal("done", a!["phase"]!.ToString()));
    }

    [Fact]
    public async Task Leader_paused_past_its_lease_is_fenced_when_it_wakes_and_the_study_completes_as_undisturbed()
    {
        var federation = fixture.Federation;
        await Heal(federation);
        const string id = "failover-fence";
        await federation.CreateStudy(0, GlmFederationFixture.ExactGlm(id));
        var atPause = await RoundInProgress(federation, id, 2);

        var leader = await federation.Leader(TimeSpan.FromSeconds(30));
        var before = (await federation.ReplicaStatus(leader))!;
        var oldToken = before["token"]!.GetValue<long>();
        var pausedReplica = before["replica"]!.ToString();
        var other = 1 - leader;
        var pid = federation.ReplicaProcessId(leader);
        var clock = Stopwatch.StartNew();
        Faults.Pause(pid);
        federation.Balancer.MarkDown(leader); // its health check fails: the nodes' connections to it are closed, new ones go to the other
        long newToken = 0;
        try
        {
            await Eventually.Until(async () => (await federation.ReplicaStatus(other)) is { } s && s["leader"]!.GetValue<bool>() && (newToken = s["token"]!.GetValue<long>()) > oldToken,
                TimeSpan.FromSeconds(60), "the other replica to take the lease");
            var taken = clock.Elapsed;
            // Let the new leader commit transitions of its own while the old one still believes it leads.
            var round = (await federation.Study(id))!;
            await Eventually.Until(async () => Progress(await federation.Study(id)) != Progress(round), TimeSpan.FromSeconds(60), "the new leader to advance the study");
            output.WriteLine($"SIGSTOP of replica {leader} (token {oldToken}) at {atPause}; lease taken by replica {other} (token {newToken}) after {taken.TotalSeconds:F2} s");
        }
        finally
        {
            Faults.Resume(pid);
            federation.Balancer.MarkUp(leader);
        }

        var resumed = clock.Elapsed;
        // Woken, the old leader's belief is stale: a transition it tries is refused by the fence, or its renewal is refused first.
        var lost = await Eventually.Value(() => Task.FromResult(Audit(federation, "leader_lost").LastOrDefault(e => e["replica"]!.ToString() == pausedReplica)), e => e is not null, TimeSpan.FromSeconds(30), "the woken replica's leader_lost");
        var reason = lost!["reason"]!.ToString();
        Assert.Equal(oldToken, lost["token"]!.GetValue<long>());
        Assert.True(reason.StartsWith("fenced:", StringComparison.Ordinal) || reason.StartsWith("renewal refused:", StringComparison.Ordinal), reason);
        Assert.Contains($"token {newToken}", reason, StringComparison.Ordinal);
        var log = Faults.ReadShared(federation.LogPath(leader));
        output.WriteLine($"woken after {resumed.TotalSeconds:F2} s; leader_lost: {reason}; fenced transitions logged: {CountOf(log, "\"Message\":\"A transition was refused by the lease")}");
        Assert.False((await federation.ReplicaStatus(leader))?["leader"]?.GetValue<bool>() ?? true, "the woken replica still says it leads");

        var study = await federation.Ended(id, Timeout);
        Faults.AssertCompleted(study);
        AssertSameResult(study, await FailoverTests.Document(federation, study, id));
        AssertAuditChainVerifies(federation);
        output.WriteLine($"completed {clock.Elapsed.TotalSeconds:F2} s after the pause; every leader_lost of the woken replica: {string.Join(" | ", Audit(federation, "leader_lost").Where(e => e["replica"]!.ToString() == pausedReplica).Select(e => e["reason"]!.ToString()))}");
    }

    /// <summary>A model's registry document with the instants and the run's own ids taken out (what an undisturbed run also writes differently).</summary>
    internal static async Task<JsonNode> Document(ReplicaFederation federation, JsonNode study, string id)
    {
        var model = study["result"]!["model"]!;
        var modelId = model["id"]!.ToString();
        var document = await federation.Model(modelId);
        return Normalize(document, [modelId, id])!;
    }

    private static JsonNode? Normalize(JsonNode? node, string[] ids) => node switch
    {
        JsonObject o => new JsonObject(o.Where(p => !IsInstant(p.Value)).Select(p => KeyValuePair.Create(p.Key, Normalize(p.Value, ids)))),
        JsonArray a => new JsonArray([.. a.Select(x => Normalize(x, ids))]),
        JsonValue v when v.TryGetValue<string>(out var s) => JsonValue.Create(ids.Aggregate(s, (text, x) => text.Replace(x, "<run>", StringComparison.Ordinal))),
        _ => node?.DeepClone(),
    };

    private static bool IsInstant(JsonNode? node) =>
        node is JsonValue v && v.TryGetValue<string>(out var s) && s.Length >= 20 && s[4] == '-' && s[10] == 'T'
        && DateTimeOffset.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out _);

    private void AssertSameResult(JsonNode study, JsonNode document)
    {
        var model = study["result"]!["model"]!;
        Assert.Equal(GlmFederationFixture.Bits(fixture.Reference), GlmFederationFixture.Bits(model));
        Assert.Equal(fixture.Reference["rows"]!.GetValue<long>(), model["rows"]!.GetValue<long>());
        Assert.Equal(fixture.ReferenceDocument.ToJsonString(), document.ToJsonString());
    }

    /// <summary>Waits for round <paramref name="round"/> (or later) of a running study.</summary>
    private static async Task<string> RoundInProgress(ReplicaFederation federation, string id, int round)
    {
        JsonNode? study = null;
        await Eventually.Until(async () =>
        {
            study = await federation.Study(id);
            return study?["state"]?.ToString() == "running" && study["attempts"]!.AsArray().Any(a => a!["round"]!.GetValue<long>() >= round);
        }, TimeSpan.FromSeconds(120), $"round {round} of {id} to start", () => study?.ToJsonString() ?? "nothing", TimeSpan.FromMilliseconds(20));
        return Progress(study);
    }

    private static string Progress(JsonNode? study) =>
        study?["attempts"]?.AsArray().LastOrDefault() is { } a ? $"round {a["round"]} attempt {a["attempt"]} {a["phase"]}" : study?["state"]?.ToString() ?? "unknown";

    /// <summary>The coordinator's audit trail, appended to by both replicas, verifies as one chain under the coordinator's key.</summary>
    private static void AssertAuditChainVerifies(ReplicaFederation federation)
    {
        using var c = new NpgsqlConnection(federation.ConnectionString);
        c.Open();
        var (entries, checkpoints) = FederatedTwin.Protocol.Audit.AuditLog.ReadAll(c);
        var key = FederatedTwin.Coordinator.Security.CoordinatorKeys.ReadPublicKey(federation.ReplicaDir(0));
        var result = FederatedTwin.Protocol.Audit.AuditVerifier.Verify(entries, checkpoints, key);
        Assert.True(result.Ok, string.Join("; ", result.Problems.Select(p => p.ToString())));
    }

    /// <summary>The coordinator's audit entries of an action, their details, read from the shared database.</summary>
    private static List<JsonNode> Audit(ReplicaFederation federation, string action)
    {
        using var c = new NpgsqlConnection(federation.ConnectionString);
        c.Open();
        return [.. c.Query<string>("SELECT detail FROM audit_log WHERE action=@action ORDER BY seq", new { action }).Select(d => JsonNode.Parse(d)!)];
    }

    private static int CountOf(string text, string what)
    {
        var n = 0;
        for (var i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }

    /// <summary>Both replicas running (a test that failed half-way leaves the next one a whole federation).</summary>
    private static async Task Heal(ReplicaFederation federation)
    {
        for (var i = 0; i < 2; i++)
        {
            if (!federation.ReplicaRunning(i))
            {
                await Eventually.Until(() => Faults.NothingListensOn(new Uri($"http://127.0.0.1:{federation.Ports[i]}")), TimeSpan.FromSeconds(30), "the killed replica's port to be free");
                await federation.StartReplica(i);
            }
            else
            {
                Faults.Resume(federation.ReplicaProcessId(i));
            }
        }
    }
}
