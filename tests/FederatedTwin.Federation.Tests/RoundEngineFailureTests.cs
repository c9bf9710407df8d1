namespace FederatedTwin.Federation.Tests;

/// <summary>The round engine ends a study whose algorithm throws an unexpected exception, instead of retrying it forever.</summary>
public sealed class RoundEngineFailureTests
{
    [Fact]
    public async Task An_unexpected_exception_while_aggregating_fails_the_study_with_its_reason()
    {
        // Nodes with no data: FedAvg's sum has 0 rows, and FedAvgAggregate.Average throws an ArgumentException (not a
        // StudyAlgorithmException) after decryption. Before the fix the transition rolled back on every tick and the
        // study stayed "running" until this wait timed out.
        using var federation = await FederatedTwin.Cli.Demo.LocalFederation.Start(TestFederation.TempDir("engine-failure"), ["site-a", "site-b", "site-c"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None);
        await federation.CreateStudy($"""
            {TestFederation.StudyHeader("fedavg-empty", "federated-fedavg")}
              outcome: admission_next_year
              features: age,sex_male
              max_rows_per_node: "1000"
            """, CancellationToken.None);
        var study = await federation.WaitForStudy("fedavg-empty", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.Equal("failed", study["state"]?.ToString());
        Assert.Contains("total sample count must be positive", study["failure_reason"]?.ToString(), StringComparison.Ordinal);
        Assert.Contains("ArgumentException", study["failure_reason"]?.ToString(), StringComparison.Ordinal);
    }
}
