using FederatedTwin.Cli.Audit;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// What the deployment walkthrough (docs/operations.md, "Deploy a federation, step by step") showed missing or unfriendly in
/// the commands it runs, each as its own `ftwin` process: the coordinator's key made before the service first starts.
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
}
