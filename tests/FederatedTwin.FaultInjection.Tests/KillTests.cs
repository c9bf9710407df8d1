using System.Diagnostics;
using Dapper;
using Xunit.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// kill -9 of a node, and of the coordinator, at each phase of a multi-round exact GLM (keygen, commit, submit, aggregate, decrypt): the
/// killed process is started again within the phase deadline, the study completes, and its coefficients, standard errors and deviance
/// are bit for bit those of the undisturbed run; in DP mode no node's ledger is charged twice. Each test kills a node in one round and
/// the coordinator in a later one, at the same phase; every audit chain verifies afterwards. Two classes, two federations: they run in
/// parallel (the time goes to process starts and phase hand-offs, not to the cores).
/// </summary>
[Trait("Category", "FaultInjection")]
public sealed class KillTests(GlmFederationFixture fixture, ITestOutputHelper output) : IClassFixture<GlmFederationFixture>
{
    [Theory]
    [InlineData(RoundPhase.Keygen, 0)]
    [InlineData(RoundPhase.Commit, 1)]
    [InlineData(RoundPhase.Submit, 2)]
    public Task A_node_and_then_the_coordinator_killed_at_a_phase_and_restarted_leave_the_exact_glm_bit_for_bit_unchanged(RoundPhase phase, int victim) =>
        KillScenario.NodeThenCoordinator(fixture, output, phase, victim);
}

/// <summary>The later phases of <see cref="KillTests"/>, and the DP ledger, on a federation of their own.</summary>
[Trait("Category", "FaultInjection")]
public sealed class LateKillTests(GlmFederationFixture fixture, ITestOutputHelper output) : IClassFixture<GlmFederationFixture>
{
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData(RoundPhase.Aggregate, 0)]
    [InlineData(RoundPhase.Decrypt, 1)]
    public Task A_node_and_then_the_coordinator_killed_at_a_phase_and_restarted_leave_the_exact_glm_bit_for_bit_unchanged(RoundPhase phase, int victim) =>
        KillScenario.NodeThenCoordinator(fixture, output, phase, victim);

    [Fact]
    public async Task A_node_killed_mid_round_of_a_dp_glm_is_never_charged_twice()
    {
        var federation = fixture.Federation;
        await Faults.Heal(federation);
        var clock = Stopwatch.StartNew();
        const string id = "kill-dp";
        await federation.CreateStudy(GlmFederationFixture.DpGlm(id), CancellationToken.None);
        var watch = new RoundWatch(federation, id);

        // Killed once its round's noisy update is drawn and committed (update_commit done) but before it is sent: the restarted node must
        // send the same draw, not a fresh one charged again. Then, in a later round, killed while the others decrypt.
        var (first, _) = await watch.HoldAt(RoundPhase.Submit, 2, fromRound: 1, HoldTimeout);
        federation.KillNode(2);
        federation.StartNode(2, 1);
        var (second, _) = await watch.HoldAt(RoundPhase.Decrypt, 2, fromRound: first.Round + 1, HoldTimeout);
        federation.KillNode(2);
        federation.StartNode(2, 1);
        output.WriteLine($"kill -9 node site-c at submit: {first}; at decrypt: {second}");

        var study = await Faults.Ended(federation, id);
        Faults.AssertCompleted(study);
        var privacy = study["result"]!["model"]!["privacy"]!;
        Assert.Equal(4, privacy["rounds_run"]!.GetValue<int>());
        foreach (var (name, dir, _) in federation.Nodes)
        {
            using var c = TestStore.OpenReadOnly(Path.Combine(dir, "node.db"));
            Assert.Equal(0.6, c.ExecuteScalar<double>("SELECT SUM(rho) FROM privacy_ledger WHERE study_id=@id", new { id }), 12);
            var rounds = c.Query<(long Round, long Draw, double Rho)>("SELECT round, draw, rho FROM privacy_rounds WHERE study_id=@id ORDER BY round, draw", new { id }).ToList();
            Assert.True(rounds.Select(r => r.Round).SequenceEqual([1, 2, 3, 4]), $"{name}: rounds charged {string.Join(",", rounds)}");
            Assert.All(rounds, r => Assert.Equal((1, 0.15), (r.Draw, Math.Round(r.Rho, 12))));
            Assert.Equal(0.6, rounds.Sum(r => r.Rho), 12);
        }

        Faults.AssertAuditChainsVerify(federation);
        output.WriteLine($"completed, each ledger 0.6 over 4 rounds, {clock.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>A node killed at a phase in one round, the coordinator at the same phase in a later one; the exact fit compared bit for bit.</summary>
internal static class KillScenario
{
    private static readonly TimeSpan HoldTimeout = TimeSpan.FromSeconds(120);

    public static async Task NodeThenCoordinator(GlmFederationFixture fixture, ITestOutputHelper output, RoundPhase phase, int victim)
    {
        var federation = fixture.Federation;
        await Faults.Heal(federation);
        var clock = Stopwatch.StartNew();
        var id = "kill-" + phase.ToString().ToLowerInvariant();
        await federation.CreateStudy(GlmFederationFixture.ExactGlm(id), CancellationToken.None);
        var watch = new RoundWatch(federation, id);

        // The node: held in the phase, killed (kill -9 of a paused process), started again; the round waits for it.
        var (atNodeKill, paused) = await watch.HoldAt(phase, victim, fromRound: 1, HoldTimeout);
        federation.KillNode(victim);
        Array.ForEach(paused, Faults.Resume);
        var afterKill = watch.Read().Current!;
        Assert.Equal((atNodeKill.Round, atNodeKill.AttemptNo, atNodeKill.Phase), (afterKill.Round, afterKill.AttemptNo, afterKill.Phase));
        federation.StartNode(victim, 1);
        output.WriteLine($"kill -9 node {federation.Nodes[victim].Name} at {phase}: {atNodeKill} ({clock.Elapsed.TotalSeconds:F1} s)");

        // The coordinator: in a later round, held in the same phase by a paused node, killed and started again on its store.
        var (atCoordinatorKill, held) = await watch.HoldAt(phase, (victim + 1) % 3, fromRound: atNodeKill.Round + 1, HoldTimeout);
        await Faults.RestartCoordinator(federation);
        Array.ForEach(held, Faults.Resume);
        output.WriteLine($"kill -9 coordinator at {phase}: {atCoordinatorKill} ({clock.Elapsed.TotalSeconds:F1} s)");

        var study = await Faults.Ended(federation, id);
        Faults.AssertCompleted(study);
        var model = study["result"]!["model"]!;
        Assert.Equal(GlmFederationFixture.Bits(fixture.Reference), GlmFederationFixture.Bits(model));
        Assert.Equal(fixture.Reference["rows"]!.GetValue<long>(), model["rows"]!.GetValue<long>());
        // Restarted within the phase deadline: no attempt was given up, each round finished in the attempt it began with.
        Assert.All(study["attempts"]!.AsArray(), a => Assert.Equal("done", a!["phase"]!.ToString()));
        Faults.AssertAuditChainsVerify(federation);
        output.WriteLine($"completed bit for bit in {model["rounds"]} rounds, {clock.Elapsed.TotalSeconds:F1} s (federation start {fixture.StartTime.TotalSeconds:F1} s, reference {fixture.ReferenceTime.TotalSeconds:F1} s)");
    }
}
