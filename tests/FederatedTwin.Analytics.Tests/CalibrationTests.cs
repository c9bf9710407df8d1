using FederatedTwin.Analytics.Evaluation;

namespace FederatedTwin.Analytics.Tests;

public class CalibrationTests
{
    [Fact]
    public void WellCalibratedScoresGiveTenGroupsWithObservedNearPredicted()
    {
        var rng = new Random(3);
        var h = new ScoreHistogram(1000);
        for (int i = 0; i < 100_000; i++)
        {
            double p = rng.NextDouble();
            h.Add(p, rng.NextDouble() < p);
        }

        var groups = DecileCalibration.Compute(h);
        Assert.Equal(10, groups.Count);
        Assert.Equal(100_000, groups.Sum(g => g.Count));
        foreach (var g in groups)
        {
            Assert.InRange(g.Count, 9_000, 11_000);
            Assert.InRange(Math.Abs(g.ObservedRate - g.MeanPredicted), 0, 0.02);
        }
    }
}
