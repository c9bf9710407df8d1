using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.FedAvg;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>FedAvg with dp_rho runs as DP-FedSGD: charged per round to every node's ledger; a retried attempt re-sends the kept noisy vector.</summary>
public sealed class DpFedAvgTests
{
    private const string Features = "age,sex_male,heart_failure,diabetes,condition_count";

    private static string Parameters(string rho) => $"""
          outcome: admission_next_year
          features: {Features}
          max_rows_per_node: "100000"
          dp_max_rows_per_patient: "3"
          dp_rho: "{rho}"
        """;

    [Fact]
    public async Task A_dp_fedavg_study_completes_and_charges_each_round_to_every_nodes_ledger()
    {
        using var federation = await SyntheticSites.Start("dp-fedavg", _ => 250, firstSeed: 61);
        var yaml = $"""
            {TestFederation.StudyHeader("dp-fedavg", "federated-fedavg", rounds: 4)}
            {Parameters("0.4")}
            """;
        await federation.CreateStudy(yaml, CancellationToken.None);
        var study = await federation.WaitForStudy("dp-fedavg", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var model = study["result"]!["model"]!;
        var privacy = model["privacy"]!;
        Assert.True(privacy["dp"]!.GetValue<bool>());
        Assert.Equal("dp-fedsgd", privacy["mechanism"]!.ToString());
        Assert.Equal(0.1, privacy["rho_per_round"]!.GetValue<double>(), 12);
        Assert.Equal(4, privacy["rounds_run"]!.GetValue<int>());
        var terms = model["terms"]!.AsArray();
        Assert.Equal(6, terms.Count);
        Assert.All(terms, t => Assert.True(double.IsFinite(t!["coefficient"]!.GetValue<double>())));
        Assert.True(terms[0]!["coefficient"]!.GetValue<double>() < 0, "admissions are rare: the intercept's log-odds are negative after 4 steps");

        TestFederation.AssertRoundLedger(federation, "dp-fedavg", total: 0.4, perRound: 0.1, rounds: 4, FedAvgStudy.AlgorithmName);
    }

    [Fact]
    public void A_retried_attempt_re_sends_the_kept_noisy_vector_and_is_not_charged_again()
    {
        var scheme = RlweThresholdScheme.Default;
        using var node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("dp-fedavg-retry"));
        File.WriteAllText(node.PolicyPath, FederatedTwin.Cli.Demo.LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        var export = TestFederation.TempDir("dp-fedavg-retry-export");
        PopulationGenerator.Generate(120, SyntheticProfile.All[0], 7, export);
        new IngestPipeline(node).Run(export);

        var declared = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["outcome"] = "admission_next_year",
            ["features"] = Features,
            ["max_rows_per_node"] = "100000",
            ["dp_max_rows_per_patient"] = "3",
            ["dp_rho"] = "0.4",
        };
        var parameters = new Dictionary<string, string>(declared, StringComparer.Ordinal)
        {
            ["purpose_of_use"] = "HOPERAT",
            ["min_nodes"] = "3",
            [FederatedTwin.Analytics.Privacy.StudyPrivacy.MinHonestNodesParameter] = "2", // the study's default h: min_nodes − 1
            [FedAvgStudy.RoundsParameter] = "4",
            ["fedavg_dp_point"] = "[0,0,0,0,0,0]",
        };
        var fedAvg = FedAvgStudy.Parse(parameters, scheme.MaxParties);
        var length = fedAvg.Layout(scheme.MaxParties).Sum(b => b.Length);
        var study = new StudySpec(new StudyId("dp-fedavg-retry"), FedAvgStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 4, 30) { Parameters = declared };
        using var federation = SimulatedFederation.Around(node, peers: 2);
        Assert.True(new StudyDecisions(node).Decide(study).Accept); // accepted and charged first: rounds are checked against it
        var request = new RoundRequest(FedAvgStudy.AlgorithmName, length, parameters);
        var participant = new RoundParticipant(node, scheme, [new LocalFedAvg()], NullLogger<RoundParticipant>.Instance);

        long[] Attempt(int attempt)
        {
            // Through the node's update: its ciphertext decrypted alone with every party's secret is what the node actually sent.
            var a = new SimulatedAttempt(participant, federation, study, request, 1, attempt);
            a.CommitUpdates(a.OpenKeys(a.CommitKeys()));
            return a.DecryptOwn(node);
        }

        var first = Attempt(1);
        var second = Attempt(2);
        Assert.Equal(first, second); // the same noisy values under a fresh key
        var fresh = new LocalFedAvg().Compute(request, node, FederatedTwin.Node.Features.DataSnapshot.Current(node.Store), scheme.MaxParties).Values;
        Assert.NotEqual(first, fresh); // fresh noise would differ: the retry did not draw again
        var ledger = FederatedTwin.Node.Policy.PrivacyLedgerReport.Rounds(node.Store, "dp-fedavg-retry");
        Assert.Single(ledger);
        Assert.Equal(0.1, ledger[0].Rho, 12);
    }
}
