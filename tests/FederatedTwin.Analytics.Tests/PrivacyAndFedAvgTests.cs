using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

public class PrivacyAndFedAvgTests
{
    [Fact]
    public void GaussianRhoIsHalfSensitivitySquaredOverSigmaSquared()
    {
        Assert.Equal(0.5, ZcdpAccountant.GaussianRho(1, 1).Value, 12);
        Assert.Equal(2.0 / 25, ZcdpAccountant.GaussianRho(2, 5).Value, 12);
    }

    [Fact]
    public void CompositionAddsRho()
    {
        var total = ZcdpAccountant.Compose([new ZcdpRho(0.1), new ZcdpRho(0.25)]);
        Assert.Equal(0.35, total.Value, 12);
    }

    [Fact]
    public void BunSteinkeConversionMatchesFormula()
    {
        // rho = 0.5, delta = 1e-5: eps = 0.5 + 2 sqrt(0.5 ln 1e5) = 5.298...
        double eps = ZcdpAccountant.EpsilonBunSteinke(new ZcdpRho(0.5), 1e-5);
        Assert.Equal(0.5 + (2 * Math.Sqrt(0.5 * Math.Log(1e5))), eps, 12);
        Assert.InRange(eps, 5.29, 5.30);
    }

    [Fact]
    public void CanonneKamathSteinkeConversionIsTighterButPositive()
    {
        var rho = new ZcdpRho(0.5);
        double bs = ZcdpAccountant.EpsilonBunSteinke(rho, 1e-5);
        double cks = ZcdpAccountant.EpsilonCanonneKamathSteinke(rho, 1e-5);
        Assert.True(cks < bs, $"{cks} should be < {bs}");
        // Any valid conversion must be at least the ρ-only lower bound ε ≥ ρ for small δ here.
        Assert.True(cks > rho.Value);
    }

    [Fact]
    public void NoiseSharePerNodeSumsToTargetOverMinimumHonestNodes()
    {
        double share = NoiseShare.PerNodeVariance(90, 3);
        Assert.Equal(30, share, 12);
        Assert.Equal(90, share * 3, 12);
    }

    [Fact]
    public void FedAvgIsSampleWeightedMean()
    {
        var a = FedAvgAggregate.NodeVector([1.0, 2.0], 10);
        var b = FedAvgAggregate.NodeVector([4.0, -1.0], 30);
        var agg = a.Zip(b, (x, y) => x + y).ToArray();
        var w = FedAvgAggregate.Average(agg);
        Assert.Equal(((1 * 10) + (4 * 30)) / 40.0, w[0], 12);
        Assert.Equal(((2 * 10) + (-1 * 30)) / 40.0, w[1], 12);
        Assert.Throws<ArgumentException>(() => FedAvgAggregate.Average([1.0, 0.0]));
    }
}
