namespace FederatedTwin.Analytics.Evaluation;

/// <summary>One calibration group: rows, observed positives, mean predicted probability (bin midpoints).</summary>
public sealed record CalibrationGroup(long Count, long Positives, double MeanPredicted)
{
    public double ObservedRate => Count == 0 ? 0 : (double)Positives / Count;
}

/// <summary>
/// Calibration by decile from the aggregated histogram: decile boundaries are located on the cumulative
/// bin counts (whole bins only, since rows inside one bin are indistinguishable), and a bin midpoint stands
/// for its predicted probability, an error of at most half a bin width.
/// </summary>
public static class DecileCalibration
{
    public static IReadOnlyList<CalibrationGroup> Compute(ScoreHistogram histogram, int groups = 10)
    {
        ArgumentNullException.ThrowIfNull(histogram);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        long total = 0;
        for (int i = 0; i < histogram.Bins; i++)
        {
            total += histogram.Positives[i] + histogram.Negatives[i];
        }

        var result = new List<CalibrationGroup>();
        long cum = 0, count = 0, pos = 0;
        double sumP = 0;
        int next = 1;
        for (int i = 0; i < histogram.Bins; i++)
        {
            long c = histogram.Positives[i] + histogram.Negatives[i];
            count += c;
            pos += histogram.Positives[i];
            sumP += c * ((i + 0.5) / histogram.Bins);
            cum += c;
            if (count > 0 && (cum * groups >= next * total || i == histogram.Bins - 1))
            {
                result.Add(new CalibrationGroup(count, pos, sumP / count));
                count = 0;
                pos = 0;
                sumP = 0;
                while (next <= groups && cum * groups >= next * total)
                {
                    next++;
                }
            }
        }

        return result;
    }
}
