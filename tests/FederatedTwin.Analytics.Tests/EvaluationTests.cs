using FederatedTwin.Analytics.Evaluation;

namespace FederatedTwin.Analytics.Tests;

public class EvaluationTests
{
    [Fact]
    public void FederatedAucEqualsPooledMannWhitneyWithinBinningError()
    {
        var rng = new Random(7);
        var scores = new List<(double P, bool Y)>();
        var federated = new ScoreHistogram(1000);
        for (int site = 0; site < 3; site++)
        {
            var local = new ScoreHistogram(1000);
            for (int i = 0; i < 3000; i++)
            {
                double x = rng.NextDouble() * 6 - 3 + site;
                double p = 1 / (1 + Math.Exp(-x));
                bool y = rng.NextDouble() < 1 / (1 + Math.Exp(-(0.7 * x)));
                local.Add(p, y);
                scores.Add((p, y));
            }

            federated.Merge(local);
        }

        // Independent pooled Mann-Whitney AUC on raw scores.
        var pos = scores.Where(s => s.Y).Select(s => s.P).ToArray();
        var neg = scores.Where(s => !s.Y).Select(s => s.P).OrderBy(v => v).ToArray();
        double u = 0;
        foreach (var p in pos)
        {
            int lo = LowerBound(neg, p), hi = UpperBound(neg, p);
            u += lo + (0.5 * (hi - lo));
        }

        double pooled = u / ((double)pos.Length * neg.Length);
        // Binning error bound: fraction of pos-neg pairs sharing a bin, times ½.
        double shared = 0;
        for (int i = 0; i < federated.Bins; i++)
        {
            shared += (double)federated.Positives[i] * federated.Negatives[i];
        }

        double bound = 0.5 * shared / ((double)pos.Length * neg.Length);
        Assert.InRange(Math.Abs(federated.Auc() - pooled), 0, bound + 1e-12);
        Assert.InRange(pooled, 0.6, 0.95);
    }

    [Fact]
    public void PerfectSeparationGivesAucOne()
    {
        var h = new ScoreHistogram(10);
        h.Add(0.05, false);
        h.Add(0.95, true);
        Assert.Equal(1.0, h.Auc(), 12);

        // Pairs: (0.1 vs 0.05) win, (0.1 vs 0.9) loss, (0.95 vs 0.05) win, (0.95 vs 0.9) same bin → ½.
        var g = new ScoreHistogram(10);
        g.Add(0.1, true);
        g.Add(0.9, false);
        g.Add(0.95, true);
        g.Add(0.05, false);
        Assert.Equal(2.5 / 4, g.Auc(), 12);
    }

    [Fact]
    public void BrierIsMeanSquaredError() => Assert.Equal(0.125, BrierScore.FromAggregate(0.5, 4), 12);

    private static int LowerBound(double[] a, double v)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int m = (lo + hi) / 2;
            if (a[m] < v) { lo = m + 1; } else { hi = m; }
        }

        return lo;
    }

    private static int UpperBound(double[] a, double v)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int m = (lo + hi) / 2;
            if (a[m] <= v) { lo = m + 1; } else { hi = m; }
        }

        return lo;
    }
}
