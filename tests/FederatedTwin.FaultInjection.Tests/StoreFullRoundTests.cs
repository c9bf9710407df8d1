using System.Diagnostics;
using Xunit.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// A store at its size cap while rounds run (a full disk without root: `--max-store-mb`, PRAGMA max_page_count on every connection of
/// the service's store): the step that needs room fails, rolled back, with one clear line in the service's log; after the service is
/// started again with the cap raised, the round goes on and the study completes with the exact sum; every store checks and every audit
/// chain verifies.
/// </summary>
[Trait("Category", "FaultInjection")]
public sealed class StoreFullRoundTests(ITestOutputHelper output)
{
    private const int Deadline = 60;

    [Fact]
    public async Task A_node_and_then_the_coordinator_at_their_store_cap_fail_the_round_step_cleanly_and_the_study_completes_once_the_cap_is_raised()
    {
        Faults.Init();
        var clock = Stopwatch.StartNew();
        using var federation = await Faults.StartCensus("store-full");
        var truth = Faults.CensusTruth(federation);

        // The node: site-c restarted with a 1 MB cap; census studies run until one needs room site-c's store no longer has.
        federation.KillNode(2);
        federation.StartNode(2, 1, "--max-store-mb", "1");
        var nodeLog = Path.Combine(federation.Root, "logs", "site-c.log");
        var (stuck, studies) = await RunUntilFull(federation, nodeLog, "(node.db) is full: it reached its size cap of 1 MB", "node");
        Assert.False(federation.NodeExited(2), "the node stopped instead of failing the step: " + Faults.LogTail(federation, "site-c"));
        Faults.AssertIntact(Path.Combine(federation.Nodes[2].Dir, "node.db"));
        federation.KillNode(2);
        federation.StartNode(2, 1); // the cap raised (here: none), within the phase deadline
        var study = await Faults.Ended(federation, stuck);
        Faults.AssertCompleted(study);
        Assert.Equal(truth, Faults.Sums(study));
        output.WriteLine($"node store full during a round: study {studies} hit the cap; completed after the restart; {clock.Elapsed.TotalSeconds:F1} s");

        // The coordinator: restarted with a 1 MB cap; the same, on its side (node requests answered 507, the orchestrator's one line).
        var at = clock.Elapsed;
        await Faults.RestartCoordinator(federation, "--max-store-mb", "1");
        var coordinatorLog = Path.Combine(federation.Root, "logs", "coordinator.log");
        (stuck, studies) = await RunUntilFull(federation, coordinatorLog, "store is full (its size cap, --max-store-mb", "coordinator");
        Faults.AssertIntact(Path.Combine(federation.CoordinatorDir, "coordinator.db"));
        await Faults.RestartCoordinator(federation);
        study = await Faults.Ended(federation, stuck);
        Faults.AssertCompleted(study);
        Assert.Equal(truth, Faults.Sums(study));
        // The services' own errors are one line each: no stack trace (HttpClient's informational lines about a refused connection have theirs).
        var errors = (Faults.ReadShared(coordinatorLog) + Faults.ReadShared(nodeLog)).Split('\n').Where(l => l.Contains("\"LogLevel\":\"Error\"", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(errors);
        Assert.All(errors, l => Assert.DoesNotContain("   at ", l, StringComparison.Ordinal));

        foreach (var (_, dir, _) in federation.Nodes)
        {
            Faults.AssertIntact(Path.Combine(dir, "node.db"));
        }

        Faults.AssertAuditChainsVerify(federation);
        output.WriteLine($"coordinator store full during a round: study {studies} hit the cap; completed after the restart; {(clock.Elapsed - at).TotalSeconds:F1} s");
    }

    /// <summary>
    /// Runs census studies one after another until the log (JSON: an apostrophe is written \u0027, so the line is matched without one) says the store is full; returns the study that was running then (it waits
    /// for the full party: a round does not finish without it) and how many studies it took.
    /// </summary>
    private static async Task<(string Study, int Count)> RunUntilFull(Cli.Demo.LocalFederation federation, string log, string line, string who)
    {
        for (var n = 1; n <= 40; n++)
        {
            var id = $"{who}-census-{n}";
            await federation.CreateStudy(Faults.CensusYaml(id, Deadline), CancellationToken.None);
            var full = false;
            var study = await federation.WaitForStudy(id, TimeSpan.FromSeconds(Deadline), _ => full = File.Exists(log) && Faults.ReadShared(log).Contains(line, StringComparison.Ordinal), CancellationToken.None);
            if (full)
            {
                Assert.NotEqual("completed", study["state"]?.ToString());
                return (id, n);
            }

            Faults.AssertCompleted(study);
        }

        throw new InvalidOperationException($"The {who}'s store never filled up in 40 studies.");
    }
}
