using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// Shares sized for h honest nodes (parameters.dp_min_honest_nodes): colluders know their own shares and subtract them, so
/// what protects a hospital is the honest shares alone.
/// </summary>
public class NoiseShareTests
{
    [Fact]
    public void Shares_of_h_honest_nodes_give_the_promised_variance_with_m_minus_h_nodes_noise_removed()
    {
        // min_nodes m = 3, h = 2, a target of σ² = 50 (integer units). Each node draws N_Z(0, σ²/h) with the real exact sampler;
        // the coordinator and m − h = 1 colluding hospital remove the colluder's share from the sum. By variance arithmetic what
        // is left is h·σ²/h = σ²; drawn, its sample variance over 20,000 sums is within 4% (4 standard errors) of it.
        const int m = 3, h = 2;
        const double target = 50;
        var share = NoiseShare.PerNodeVariance(target, h);
        Assert.Equal(target, share * (m - (m - h)), 12);
        Assert.InRange(HonestSumVariance(share, honest: h, seed: 7) / target, 0.96, 1.04);

        // The former sizing, σ²/min_nodes: one colluder thins the honest noise to (m − 1)/m of the promise.
        var thin = HonestSumVariance(NoiseShare.PerNodeVariance(target, m), honest: m - 1, seed: 8) / target;
        Assert.InRange(thin, 0.62, 0.71);
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(10, 9)]
    public void A_study_that_omits_h_relies_on_min_nodes_minus_1_honest_nodes(int minNodes, int h)
    {
        Assert.Equal(h, StudyPrivacy.MinHonestNodes(new Dictionary<string, string>(), minNodes));
        Assert.Equal(1, StudyPrivacy.MinHonestNodes(new Dictionary<string, string> { [StudyPrivacy.MinHonestNodesParameter] = "1" }, minNodes));
        Assert.Equal(minNodes, StudyPrivacy.MinHonestNodes(new Dictionary<string, string> { [StudyPrivacy.MinHonestNodesParameter] = $"{minNodes}" }, minNodes));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("4")]
    [InlineData("two")]
    [InlineData("-1")]
    public void A_study_file_with_h_outside_1_to_min_nodes_is_refused_naming_the_field(string h)
    {
        var e = Assert.Throws<StudyFileException>(() => StudyFile.Parse($"id: s\nalgorithm: federated-glm\npurpose_of_use: HOPERAT\nmin_nodes: 3\nparameters:\n  dp_rho: \"1\"\n  dp_min_honest_nodes: \"{h}\"\n"));
        Assert.Equal("parameters.dp_min_honest_nodes", e.Field);
        Assert.Equal("3", StudyFile.Parse("id: s\nalgorithm: federated-glm\npurpose_of_use: HOPERAT\nmin_nodes: 3\nparameters:\n  dp_min_honest_nodes: \"3\"\n").Parameters![StudyPrivacy.MinHonestNodesParameter]);
    }

    [Fact]
    public void Every_dp_round_carries_h_and_a_round_without_it_sizes_no_noise()
    {
        var dp = new StudySpec(new StudyId("s"), "federated-glm", new PurposeOfUse("HOPERAT"), 4, 5, 1, 30) { Parameters = new Dictionary<string, string> { ["dp_rho"] = "1" } };
        var basis = GlmStudy.Basis(dp).Parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        Assert.Equal("3", basis[StudyPrivacy.MinHonestNodesParameter]);
        Assert.DoesNotContain(GlmStudy.Basis(dp with { Parameters = new Dictionary<string, string>() }).Parameters, p => p.Key == StudyPrivacy.MinHonestNodesParameter);
        Assert.Equal(3, StudyPrivacy.RoundMinHonestNodes(basis));
        Assert.Equal("parameters.dp_min_honest_nodes", Assert.Throws<StudyFileException>(() => StudyPrivacy.RoundMinHonestNodes(new Dictionary<string, string>())).Field);
    }

    /// <summary>The sample variance of the sum of <paramref name="honest"/> shares N_Z(0, <paramref name="share"/>), over 20,000 sums.</summary>
    private static double HonestSumVariance(double share, int honest, ulong seed)
    {
        var sampler = DiscreteGaussian.FromVariance(share, new SeededTestRandomBits(seed));
        const int draws = 20_000;
        double sum = 0, sumOfSquares = 0;
        for (int i = 0; i < draws; i++)
        {
            long total = 0;
            for (int node = 0; node < honest; node++)
            {
                total += sampler.Sample();
            }

            sum += total;
            sumOfSquares += (double)total * total;
        }

        double mean = sum / draws;
        return (sumOfSquares - (draws * mean * mean)) / (draws - 1);
    }
}
