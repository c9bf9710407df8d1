using FederatedTwin.Analytics.Studies;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// What the deployment walkthrough (docs/operations.md, "Deploy a federation, step by step") showed missing or unfriendly in
/// the commands it runs, each as its own `ftwin` process: the coordinator's key made before the service first starts, waiting
/// for a study from a script, and a roster's digest that an officer compares.
/// </summary>
public sealed class DeploymentCommandTests
{
    [Fact]
    public void The_coordinator_key_made_before_the_service_first_starts_is_recorded_in_its_audit_trail_once()
    {
        var dir = Path.Combine(TestFederation.TempDir("coordinator-key"), "coordinator");

        var first = TestFederation.Ftwin("coordinator", "key", "--data-dir", dir);
        var again = TestFederation.Ftwin("coordinator", "key", "--data-dir", dir);

        Assert.True(first.ExitCode == 0, first.Stderr);
        Assert.Equal(first.Stdout, again.Stdout);
        var created = Assert.Single(AuditSource.Open(AuditService.Coordinator, dir).Entries, e => e.Action == AuditActions.IdentityKeyCreated);
        Assert.Contains(first.Stdout.Trim(), created.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Study_wait_exits_1_with_the_reason_when_the_study_fails()
    {
        var clock = TestClock.Start();
        await using var coordinator = await InProcessCoordinator.Start("wait-failed", clock);
        var create = await Task.Run(() => TestFederation.Ftwin("study", "create", StudyFile(coordinator.DataDir, TestFederation.StudyYaml("no-quorum", deadline: 30)), "--coordinator", coordinator.AdminUrl.ToString(), "--admin-token-file", TokenFile(coordinator)));
        Assert.True(create.ExitCode == 0, create.Stderr);

        // Its one enrolled node is not running: nobody accepts, and the offer runs out when the coordinator's clock passes its
        // deadline (the orchestrator's next tick fails the study while `study wait` polls).
        clock.Advance(TimeSpan.FromSeconds(31));
        var wait = await Task.Run(() => TestFederation.Ftwin("study", "wait", "no-quorum", "--coordinator", coordinator.AdminUrl.ToString(), "--admin-token-file", TokenFile(coordinator), "--timeout", "60"));

        Assert.True(wait.ExitCode == 1, $"exit code {wait.ExitCode}: {wait.Stdout}{wait.Stderr}");
        Assert.Contains("no-quorum  failed", wait.Stdout, StringComparison.Ordinal);
        Assert.Contains("accepted", wait.Stdout, StringComparison.Ordinal); // the failure reason names how many nodes accepted
    }

    [Fact]
    public async Task Study_wait_exits_1_at_its_timeout_while_the_study_has_not_ended()
    {
        await using var coordinator = await InProcessCoordinator.Start("wait-timeout");
        var create = await Task.Run(() => TestFederation.Ftwin("study", "create", StudyFile(coordinator.DataDir, TestFederation.StudyYaml("slow", deadline: 3600)), "--coordinator", coordinator.AdminUrl.ToString(), "--admin-token-file", TokenFile(coordinator)));
        Assert.True(create.ExitCode == 0, create.Stderr);

        var wait = await Task.Run(() => TestFederation.Ftwin("study", "wait", "slow", "--coordinator", coordinator.AdminUrl.ToString(), "--admin-token-file", TokenFile(coordinator), "--timeout", "2", "--json"));

        Assert.True(wait.ExitCode == 1, $"exit code {wait.ExitCode}: {wait.Stdout}{wait.Stderr}");
        Assert.Equal("offered", System.Text.Json.Nodes.JsonNode.Parse(wait.Stdout)!["state"]!.ToString()); // standard output is the study alone
        Assert.Contains("slow: offered", wait.Stderr, StringComparison.Ordinal);
        Assert.Contains("had not ended after 2 s", wait.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Roster_show_prints_the_whole_digest_on_one_line_when_its_output_is_not_a_terminal()
    {
        var root = TestFederation.TempDir("roster-show");
        var roster = Path.Combine(root, "roster.json");
        var keys = Enumerable.Range(0, 2).Select(_ =>
        {
            using var identity = Protocol.Federation.Ed25519Identity.Generate();
            return identity.PublicKey;
        }).ToList();
        var create = TestFederation.Ftwin("roster", "create", "--federation", "a-federation-id-long-enough-to-wrap-at-eighty-columns", "--version", "1", "--member", $"hospital-a={keys[0]}", "--member", $"hospital-b={keys[1]}", "--out", roster);
        Assert.True(create.ExitCode == 0, create.Stderr);
        var sha = create.Stdout.Split("SHA-256 ")[1].Split(';')[0];

        var show = TestFederation.Ftwin("roster", "show", roster);

        Assert.True(show.ExitCode == 0, show.Stderr);
        Assert.Contains($"a-federation-id-long-enough-to-wrap-at-eighty-columns version 1, SHA-256 {sha}\n", show.Stdout, StringComparison.Ordinal);
    }

    /// <summary>The coordinator's admin token in a file of the analyst's (`--admin-token-file`), owner-only as the option asks.</summary>
    private static string TokenFile(InProcessCoordinator coordinator)
    {
        var path = Path.Combine(Path.GetDirectoryName(coordinator.DataDir)!, "admin-token.txt");
        if (!File.Exists(path))
        {
            FederatedTwin.Hosting.Files.DurableFile.CreateOwnerOnly(path, System.Text.Encoding.ASCII.GetBytes(coordinator.AdminToken + "\n"));
        }

        return path;
    }

    private static string StudyFile(string dir, string yaml)
    {
        var path = Path.Combine(Path.GetDirectoryName(dir)!, "study.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }
}
