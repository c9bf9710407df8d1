namespace FederatedTwin.Analytics.Evaluation;

/// <summary>
/// Fixed fine bins of predicted probability with positive and negative counts per bin; the
/// counts add across nodes, so the coordinator sees only the aggregated histogram.
/// </summary>
public sealed class ScoreHistogram
{
    public ScoreHistogram(int bins)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 2);
        Positives = new long[bins];
        Negatives = new long[bins];
    }

    public long[] Positives { get; }

    public long[] Negatives { get; }

    public int Bins => Positives.Length;

    /// <summary>Bin of a probability p in [0, 1]; p = 1 falls in the last bin.</summary>
    public int BinOf(double p)
    {
        if (!(p >= 0 && p <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(p), "probability must be in [0, 1]");
        }

        return Math.Min((int)(p * Bins), Bins - 1);
    }

    public void Add(double p, bool positive)
    {
        int b = BinOf(p);
        if (positive)
        {
            Positives[b]++;
        }
        else
        {
            Negatives[b]++;
        }
    }

    /// <summary>Adds another node's histogram (what the encrypted aggregation computes).</summary>
    public void Merge(ScoreHistogram other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Bins != Bins)
        {
            throw new ArgumentException("bin counts differ", nameof(other));
        }

        for (int i = 0; i < Bins; i++)
        {
            Positives[i] += other.Positives[i];
            Negatives[i] += other.Negatives[i];
        }
    }

    /// <summary>
    /// AUC = P(score_pos &gt; score_neg) + ½ P(tie), with every pair inside one bin counted as a tie
    /// (Mann–Whitney on binned scores). Differs from the raw-score AUC only by pairs sharing a bin.
    /// </summary>
    public double Auc()
    {
        double negBelow = 0, concordant = 0;
        long pos = 0, neg = 0;
        for (int i = 0; i < Bins; i++)
        {
            concordant += Positives[i] * (negBelow + (0.5 * Negatives[i]));
            negBelow += Negatives[i];
            pos += Positives[i];
            neg += Negatives[i];
        }

        if (pos == 0 || neg == 0)
        {
            throw new InvalidOperationException("AUC needs both positives and negatives");
        }

        return concordant / ((double)pos * neg);
    }
}
