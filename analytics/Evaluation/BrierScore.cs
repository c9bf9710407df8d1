namespace FederatedTwin.Analytics.Evaluation;

/// <summary>Brier score from the aggregated (Σ(p−y)², n): both sums add across nodes.</summary>
public static class BrierScore
{
    public static double FromAggregate(double sumSquaredError, long n)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(n);
        return sumSquaredError / n;
    }
}
