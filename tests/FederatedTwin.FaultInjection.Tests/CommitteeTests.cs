using System.Diagnostics;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Xunit.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>Five real node processes with seeded census vectors and a coordinator, for the t-of-n committee tests.</summary>
public sealed class CommitteeFederationFixture : IAsyncLifetime
{
    public static readonly string[] Sites = ["site-a", "site-b", "site-c", "site-d", "site-e"];

    private LocalFederation? _federation;

    internal LocalFederation Federation => _federation ?? throw new InvalidOperationException("The federation has not started.");

    public async Task InitializeAsync()
    {
        Faults.Init();
        // site-e accepts no t below 3, the others none below 2 (min_committee_threshold, in the policy each node starts with).
        _federation = await LocalFederation.Start(Faults.TempDir("committee"), Sites, "HOPERAT", pollWaitSeconds: 1, CancellationToken.None,
            policyExtra: i => $"min_committee_threshold: {(i == 4 ? 3 : 2)}");
    }

    public Task DisposeAsync()
    {
        _federation?.Stop(TimeSpan.FromSeconds(10));
        _federation?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>
/// t-of-n committee decryption with real processes (docs/protocol.md, "t-of-n committees"): n − t nodes killed (kill -9) once their
/// update is in, and the round completes in the same attempt with the exact sum; a site whose policy asks a larger t refuses the offer.
/// The kills land deterministically: one surviving node is paused before it sends its update, so the attempt cannot leave update_open
/// (and no victim can say it is ready to decrypt) until the victims' updates are in and they are killed; then it is resumed.
/// </summary>
[Trait("Category", "Committee")]
public sealed class CommitteeTests(CommitteeFederationFixture fixture, ITestOutputHelper output) : IClassFixture<CommitteeFederationFixture>
{
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A census round. Each study names its own year: the same exact statistic released over two sets of hospitals would be refused by the
    /// nodes' release ledger (release_differencing), and these studies run over five and over four.
    /// </summary>
    private static string SumStudy(string id, int? threshold, int year, int rounds = 1, int minNodes = 3) => $"""
        id: {id}
        algorithm: federated-sum
        purpose_of_use: HOPERAT
        min_nodes: {minNodes}
        max_nodes: 5
        rounds: {rounds}
        phase_deadline_seconds: 20
        {(threshold is { } t ? $"committee_threshold: {t}" : string.Empty)}
        parameters:
          vector: patients_by_age_band_and_sex
          year: "{year}"
        """;

    [Fact]
    public async Task Five_nodes_t3_two_killed_after_their_update_complete_in_the_same_attempt_with_the_exact_sum()
    {
        var federation = fixture.Federation;
        await Faults.Heal(federation);
        var truth = Faults.CensusTruth(federation);

        // Undisturbed first: the committee round and the same round n-of-n, timed from the attempts' own start and end.
        var committee = await Run(federation, "committee-reference", threshold: 3, year: 2020);
        var nOfN = await Run(federation, "n-of-n-reference", threshold: null, year: 2021);
        Assert.Equal(truth, Faults.Sums(committee.Study));
        Assert.Equal(truth, Faults.Sums(nOfN.Study));
        var dealt = DealtBytes(federation, "committee-reference");
        output.WriteLine($"5 nodes, one round of federated-sum: t=3 {committee.RoundSeconds:F2} s, n-of-n {nOfN.RoundSeconds:F2} s; bytes dealt per node per attempt {string.Join(", ", dealt)} (4 shares each)");
        Assert.Equal(5, dealt.Count);

        // Then with site-d and site-e killed once their updates are in.
        const string id = "committee-kill";
        await federation.CreateStudy(SumStudy(id, threshold: 3, year: 2022), CancellationToken.None);
        var watch = new RoundWatch(federation, id);
        var ids = watch.NodeIds();
        var (held, paused) = await HoldBeforeUpdate(federation, watch, survivors: [0, 1, 2], round: 1);
        try
        {
            await Eventually.Until(() => watch.Read().Current is { } a && a.Gave(ids[3], ContributionKind.Update) && a.Gave(ids[4], ContributionKind.Update), HoldTimeout, "site-d's and site-e's updates");
            federation.KillNode(3);
            federation.KillNode(4);
        }
        finally
        {
            foreach (var pid in paused)
            {
                Faults.Resume(pid);
            }
        }

        output.WriteLine($"held {held}; killed site-d and site-e after their updates");
        var study = await Faults.Ended(federation, id, seconds: 90);
        Faults.AssertCompleted(study);
        Assert.Equal(truth, Faults.Sums(study)); // all five updates, decrypted by the three that are left

        using (var c = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db")))
        {
            Assert.Equal(1, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE study_id=@id", new { id })); // no re-run
            Assert.Equal(5, c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND kind=@k", new { id, k = ContributionKind.Update }));
            Assert.Equal(3, c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND kind=@k", new { id, k = ContributionKind.DecryptionShare }));
            var chosen = JsonNode.Parse(c.QuerySingle<string>("SELECT detail FROM audit_log WHERE action=@a AND study_id=@id", new { a = AuditActions.DecryptSetChosen, id }))!;
            Assert.Equal(3, chosen["decrypt_set"]!.AsArray().Count);
            Assert.DoesNotContain(ids[3], chosen["decrypt_set"]!.AsArray().Select(n => n!.ToString()));
        }

        // Each survivor decrypted once and deleted its committee secret in the same step, audited.
        foreach (var (name, dir, _) in federation.Nodes.Take(3))
        {
            using var c = TestStore.OpenReadOnly(Path.Combine(dir, "node.db"));
            Assert.Equal(0, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempt_keys WHERE study_id=@id AND length(sealed_secret) > 0", new { id }));
            Assert.Equal(1, c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE study_id=@id AND action=@a", new { id, a = AuditActions.CommitteeSecretFormed }));
            var deleted = c.Query<string>("SELECT detail FROM audit_log WHERE study_id=@id AND action=@a", new { id, a = AuditActions.CommitteeSecretDeleted }).ToList();
            Assert.True(deleted.Count == 1 && JsonNode.Parse(deleted[0])!["reason"]!.ToString() == "share_issued", $"{name}: {string.Join("; ", deleted)}");
        }

        await Faults.Heal(federation);
        Faults.AssertAuditChainsVerify(federation);
    }

    [Fact]
    public async Task A_site_asking_a_larger_t_refuses_the_offer_and_four_nodes_t2_finish_two_rounds_with_two_killed_in_the_last()
    {
        var federation = fixture.Federation;
        await Faults.Heal(federation);
        const string id = "committee-t2";
        await federation.CreateStudy(SumStudy(id, threshold: 2, year: 2023, rounds: 2), CancellationToken.None);
        var watch = new RoundWatch(federation, id);
        var ids = watch.NodeIds();

        // Round 2 (fresh keys, fresh shares): a survivor paused before its update, site-c and site-d killed once theirs are in.
        var (held, paused) = await HoldBeforeUpdate(federation, watch, survivors: [0, 1], round: 2);
        try
        {
            await Eventually.Until(() => watch.Read().Current is { } a && a.Gave(ids[2], ContributionKind.Update) && a.Gave(ids[3], ContributionKind.Update), HoldTimeout, "site-c's and site-d's updates");
            federation.KillNode(2);
            federation.KillNode(3);
        }
        finally
        {
            foreach (var pid in paused)
            {
                Faults.Resume(pid);
            }
        }

        output.WriteLine($"held {held}; killed site-c and site-d after their round-2 updates");
        var study = await Faults.Ended(federation, id, seconds: 90);
        Faults.AssertCompleted(study);
        var truth = federation.Nodes.Take(4).Select(n => Faults.SiteVector(n.Dir)).Aggregate((a, b) => [.. a.Zip(b, (x, y) => x + y)]);
        Assert.Equal(truth, Faults.Sums(study));

        using (var c = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db")))
        {
            var decision = c.QuerySingle<(long Accept, string Rule)>("SELECT accept, rule FROM decisions WHERE study_id=@id AND node_id=@n", new { id, n = ids[4] });
            Assert.Equal((0L, "committee_threshold"), decision);
            Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempts WHERE study_id=@id", new { id })); // one per round, no re-run
            Assert.Equal(2, c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND round=2 AND kind=@k", new { id, k = ContributionKind.DecryptionShare }));
        }

        using (var e = TestStore.OpenReadOnly(Path.Combine(federation.Nodes[4].Dir, "node.db")))
        {
            var audited = e.Query<string>("SELECT detail FROM audit_log WHERE study_id=@id AND action=@a", new { id, a = AuditActions.StudyDecision }).Select(d => JsonNode.Parse(d)!).Single();
            Assert.Equal("committee_threshold", audited["rule"]!.ToString());
        }

        await Faults.Heal(federation);
    }

    /// <summary>
    /// Pauses one survivor that has committed to its update while another participant's update commitment is still missing: the
    /// attempt cannot reach update_open before the pause lands, so the paused node's update is not in, and the attempt stays in
    /// update_open (no decrypt-ready can be sent) until it is resumed. Checked again with it paused.
    /// </summary>
    private static async Task<(RoundWatch.Attempt Held, int[] Paused)> HoldBeforeUpdate(LocalFederation federation, RoundWatch watch, int[] survivors, long round)
    {
        var ids = watch.NodeIds();
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < HoldTimeout)
        {
            var (state, a) = watch.Read();
            Assert.True(state is "offered" or "running", $"the study {state} before a round {round} update could be held");
            if (a is not null && a.Round == round && a.Phase == "update_commit" && a.Count(ContributionKind.UpdateCommitment) < ids.Count(id => a.Gave(id, ContributionKind.ShareDeal))
                && survivors.FirstOrDefault(i => a.Gave(ids[i], ContributionKind.UpdateCommitment), -1) is var index and >= 0)
            {
                var pid = federation.NodeProcessId(index);
                Faults.Pause(pid);
                await Task.Delay(300);
                var held = watch.Read().Current!;
                Assert.True(held.Round == round && !held.Gave(ids[index], ContributionKind.Update), $"{federation.Nodes[index].Name} was paused too late: {held}");
                return (held, [pid]);
            }

            await Task.Delay(5);
        }

        throw new TimeoutException($"round {round} was not seen in update_commit with a survivor committed and another participant not");
    }

    private sealed record Timed(JsonNode Study, double RoundSeconds);

    private static async Task<Timed> Run(LocalFederation federation, string id, int? threshold, int year)
    {
        await federation.CreateStudy(SumStudy(id, threshold, year), CancellationToken.None);
        var study = await Faults.Ended(federation, id, seconds: 90);
        Faults.AssertCompleted(study);
        using var c = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db"));
        var (started, finished) = c.QuerySingle<(string, string)>("SELECT started_at, finished_at FROM attempts WHERE study_id=@id AND phase='done'", new { id });
        return new Timed(study, (DateTimeOffset.Parse(finished, System.Globalization.CultureInfo.InvariantCulture) - DateTimeOffset.Parse(started, System.Globalization.CultureInfo.InvariantCulture)).TotalSeconds);
    }

    /// <summary>The bytes of each node's share bundle (its n − 1 sealed shares) in the study's attempt, as the coordinator received them.</summary>
    private static List<long> DealtBytes(LocalFederation federation, string id)
    {
        using var c = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db"));
        return [.. c.Query<long>("SELECT length(payload) FROM contributions WHERE study_id=@id AND kind=@k", new { id, k = ContributionKind.ShareDeal })];
    }
}
