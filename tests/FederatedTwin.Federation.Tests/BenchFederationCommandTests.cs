using System.Text.Json.Nodes;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// `ftwin bench federation --nodes 3 --rounds 2 --json` as its own process: a coordinator process and three node processes
/// through two GLM rounds. Checks the JSON's keys and that its figures are consistent with the run (not how fast it was):
/// the rounds asked for, positive times with p95 at least the median, CPU split into user and system, each node's traffic
/// at least its three uploaded key shares' worth and its downloads holding every other node's key share and ciphertext.
/// </summary>
public sealed class BenchFederationCommandTests
{
    private static readonly string[] Keys =
    [
        "nodes", "rounds", "seconds_per_round", "p95_seconds_per_round", "coordinator_cpu_s_per_round", "coordinator_system_cpu_s_per_round",
        "bytes_per_node_per_round", "store", "node_processes", "median_seconds_per_round", "phase_seconds_per_round", "node_cpu_s_per_round",
    ];

    [Fact]
    public void Three_nodes_two_rounds_print_one_JSON_object_with_consistent_figures()
    {
        var run = TestFederation.Ftwin(TimeSpan.FromMinutes(10), ["bench", "federation", "--nodes", "3", "--rounds", "2", "--patients", "50", "--json"]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = JsonNode.Parse(run.Stdout)!.AsObject();
        Assert.All(Keys, k => Assert.True(json.ContainsKey(k), $"no {k} in {run.Stdout}"));

        Assert.Equal(3, json["nodes"]!.GetValue<int>());
        Assert.Equal(2, json["rounds"]!.GetValue<int>());
        Assert.Equal(2, json["round_seconds"]!.AsArray().Count);
        Assert.Equal(2, json["attempts"]!.GetValue<int>()); // no attempt superseded
        Assert.Equal("sqlite", json["store"]!.GetValue<string>());
        Assert.Equal(3, json["node_processes"]!.GetValue<int>());

        double mean = json["seconds_per_round"]!.GetValue<double>(), p95 = json["p95_seconds_per_round"]!.GetValue<double>(), median = json["median_seconds_per_round"]!.GetValue<double>();
        Assert.True(mean > 0 && median > 0 && p95 >= median, run.Stdout);
        var rounds = json["round_seconds"]!.AsArray().Select(r => r!.GetValue<double>()).ToList();
        Assert.InRange(p95, rounds.Min(), rounds.Max());

        double cpu = json["coordinator_cpu_s_per_round"]!.GetValue<double>(), user = json["coordinator_user_cpu_s_per_round"]!.GetValue<double>(), system = json["coordinator_system_cpu_s_per_round"]!.GetValue<double>();
        Assert.True(cpu > 0, "the coordinator aggregated two rounds and spent no CPU on them");
        Assert.Equal(cpu, user + system, 3);
        Assert.True(json["node_cpu_s_per_round"]!.GetValue<double>() > 0);

        // A round's uploads hold the node's own key share and ciphertext (hundreds of KB each at N = 8192); its downloads every
        // participant's (the node checks the collective key and the aggregate): more than twice its uploads with 3 nodes.
        double sent = json["bytes_sent_per_node_per_round"]!.GetValue<double>(), received = json["bytes_received_per_node_per_round"]!.GetValue<double>();
        Assert.True(sent > 500_000, run.Stdout);
        Assert.True(received > 2 * sent, run.Stdout);
        // Each of the three is rounded to the byte on its own, so the total may differ from the sum of the rounded parts by one.
        Assert.InRange(json["bytes_per_node_per_round"]!.GetValue<double>() - (sent + received), -1, 1);

        var phases = json["phase_seconds_per_round"]!.AsObject();
        Assert.Equal(["key_commit", "key_open", "update_commit", "update_open", "decrypt"], phases.Select(p => p.Key));
        Assert.All(phases, p => Assert.True(p.Value!.GetValue<double>() >= 0));
        Assert.True(phases.Sum(p => p.Value!.GetValue<double>()) <= mean * 1.01 + 0.01, "the phases add up to more than the round");
    }

    [Fact]
    public void Too_few_nodes_is_a_clear_error()
    {
        var run = TestFederation.Ftwin(["bench", "federation", "--nodes", "2", "--json"]);
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("--nodes must be between 3", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, run.Stdout);
    }
}
