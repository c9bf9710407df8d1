using System.Diagnostics;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// Reads a running study's current attempt from the coordinator's store (read-only, beside the service) and brings the round to a
/// chosen phase with a chosen node unable to finish it: it pauses the node(s) the phase waits for, and checks the store again with them
/// paused, so that what it returns is the phase the round is held in, not one it has already left.
/// </summary>
internal sealed class RoundWatch(LocalFederation federation, string study)
{
    /// <summary>The current attempt: its round, phase, and which nodes (by coordinator node id) gave each contribution kind.</summary>
    public sealed record Attempt(long Round, long AttemptNo, string Phase, bool HasAggregate, IReadOnlyDictionary<string, HashSet<string>> Contributions)
    {
        public bool Gave(string nodeId, string kind) => Contributions.TryGetValue(kind, out var nodes) && nodes.Contains(nodeId);

        public int Count(string kind) => Contributions.TryGetValue(kind, out var nodes) ? nodes.Count : 0;

        public override string ToString() => $"round {Round} attempt {AttemptNo} {Phase} [{string.Join(", ", Contributions.Select(c => $"{c.Key}:{c.Value.Count}"))}]";
    }

    private string DbPath => Path.Combine(federation.CoordinatorDir, "coordinator.db");

    /// <summary>The coordinator's node id of each site, in the federation's order.</summary>
    public IReadOnlyList<string> NodeIds()
    {
        using var c = TestStore.OpenReadOnly(DbPath);
        var byName = c.Query<(string NodeId, string Name)>("SELECT node_id, name FROM nodes").ToDictionary(n => n.Name, n => n.NodeId, StringComparer.Ordinal);
        return [.. federation.Nodes.Select(n => byName[n.Name])];
    }

    /// <summary>The study's state and its current attempt (null before the first round starts).</summary>
    public (string State, Attempt? Current) Read()
    {
        using var c = TestStore.OpenReadOnly(DbPath);
        var s = c.QuerySingleOrDefault<(string State, long Round, long AttemptNo)>("SELECT state, current_round, current_attempt FROM studies WHERE study_id=@study", new { study });
        if (s.State is null)
        {
            return ("missing", null);
        }

        var a = c.QuerySingleOrDefault<(string Phase, long HasAggregate)?>(
            "SELECT phase, aggregate IS NOT NULL FROM attempts WHERE study_id=@study AND round=@round AND attempt=@attempt", new { study, round = s.Round, attempt = s.AttemptNo });
        if (a is not { } attempt)
        {
            return (s.State, null);
        }

        var contributions = c.Query<(string Kind, string NodeId)>("SELECT kind, node_id FROM contributions WHERE study_id=@study AND round=@round AND attempt=@attempt", new { study, round = s.Round, attempt = s.AttemptNo })
            .GroupBy(x => x.Kind, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(x => x.NodeId).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        return (s.State, new Attempt(s.Round, s.AttemptNo, attempt.Phase, attempt.HasAggregate == 1, contributions));
    }

    /// <summary>
    /// Waits for a round (from <paramref name="fromRound"/> on) in <paramref name="phase"/> with node <paramref name="victim"/>'s part of it
    /// missing, and returns with the nodes the phase is held by paused (the victim; for <see cref="RoundPhase.Aggregate"/> every node, since
    /// all of them owe a decryption share) and the attempt as it stands. A round that moves past the phase before the pause lands is let go
    /// (the nodes resumed) and the next round is tried. The caller resumes the returned pids.
    /// </summary>
    public async Task<(Attempt Attempt, int[] Paused)> HoldAt(RoundPhase phase, int victim, long fromRound, TimeSpan timeout)
    {
        var ids = NodeIds();
        var victimId = ids[victim];
        var elapsed = Stopwatch.StartNew();
        var last = "nothing read";
        while (elapsed.Elapsed < timeout)
        {
            var (state, current) = Read();
            last = $"{state}: {current}";
            if (state is "completed" or "failed" or "cancelled")
            {
                break;
            }

            if (current is not null && current.Round >= fromRound && (Matches(phase, current, victimId, paused: false) || Arms(phase, current, victimId)))
            {
                int[] pids = phase == RoundPhase.Aggregate
                    ? [.. federation.Nodes.Select((_, i) => federation.NodeProcessId(i))]
                    : [federation.NodeProcessId(victim)];
                foreach (var pid in pids)
                {
                    Faults.Pause(pid);
                }

                // A request a paused node had already sent may still be committed: let the coordinator finish what it received, then read again.
                await Task.Delay(300);
                var (_, held) = Read();
                if (phase == RoundPhase.Decrypt && held is not null && held.Round == current.Round && held.AttemptNo == current.AttemptNo && held.Phase != "decrypt")
                {
                    // Armed before the decryption (the victim paused once its update was in): wait for the round to reach it.
                    var waiting = Stopwatch.StartNew();
                    while (waiting.Elapsed < TimeSpan.FromSeconds(30) && Read().Current is { } r && r.Round == current.Round && r.AttemptNo == current.AttemptNo && r.Phase != "decrypt")
                    {
                        await Task.Delay(20);
                    }

                    held = Read().Current;
                }

                if (held is not null && held.Round == current.Round && held.AttemptNo == current.AttemptNo && Matches(phase, held, victimId, paused: true))
                {
                    if (phase == RoundPhase.Decrypt)
                    {
                        // Wait (the victim paused) for another node's share: the round is then part-way through its decryption.
                        await Eventually.Until(() => Read().Current is { } d && d.Count(ContributionKind.DecryptionShare) >= 1, TimeSpan.FromSeconds(30), "another node's decryption share");
                        held = Read().Current!;
                    }

                    return (held, pids);
                }

                foreach (var pid in pids)
                {
                    Faults.Resume(pid);
                }

                fromRound = current.Round + 1; // this round got past the phase: try the next
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"No round of {study} from round {fromRound} on was caught in {phase} with node {victim}'s part missing; last seen {last}.");
    }

    /// <summary>
    /// Decrypt only: the victim has sent its update and the round is not yet decrypting. Pausing it then holds its decryption share
    /// for certain; waiting to see the decrypt phase itself missed it when the victim happened to send its share first in every
    /// remaining round (a CI run saw rounds 2 to 4 go by).
    /// </summary>
    private static bool Arms(RoundPhase phase, Attempt a, string victimId) =>
        phase == RoundPhase.Decrypt && a.Phase == "update_open" && a.Gave(victimId, ContributionKind.Update);

    private static bool Matches(RoundPhase phase, Attempt a, string victimId, bool paused) => phase switch
    {
        RoundPhase.Keygen => a.Phase == "key_commit" && !a.Gave(victimId, ContributionKind.KeyShareCommitment),
        RoundPhase.Commit => a.Phase == "update_commit" && !a.Gave(victimId, ContributionKind.UpdateCommitment),
        RoundPhase.Submit => a.Phase == "update_open" && !a.Gave(victimId, ContributionKind.Update),
        RoundPhase.Aggregate => a.Phase == "decrypt" && a.HasAggregate && a.Count(ContributionKind.DecryptionShare) == 0,
        // Unpaused, the victim's share must still be missing; the others may or may not have sent theirs yet.
        RoundPhase.Decrypt => a.Phase == "decrypt" && !a.Gave(victimId, ContributionKind.DecryptionShare) && (paused || a.Count(ContributionKind.DecryptionShare) < 2),
        _ => false,
    };
}
