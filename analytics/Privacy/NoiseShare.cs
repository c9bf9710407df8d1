namespace FederatedTwin.Analytics.Privacy;

/// <summary>Distributed noise sizing (Kairouz, Liu and Steinke 2021).</summary>
public static class NoiseShare
{
    /// <summary>
    /// Per-node variance σ²_target / h, h = the study's minimum of honest nodes (parameters.dp_min_honest_nodes). What holds:
    /// a sum with at least h honest participants carries at least σ²_target of noise nobody but those nodes knows, whatever
    /// the others do — so with m ≥ min_nodes participants of which at most min_nodes − h collude (each knows its own share
    /// and can subtract it), the honest m − (min_nodes − h) ≥ h shares still reach the target. It does not hold beyond that: with
    /// k colluders among m participants the noise left is (m − k)/h of the target, less than promised once m − k &lt; h. Dropped
    /// participants only lower m (a sum needs min_nodes). The ρ this spends is that of the sum of h or more discrete Gaussian
    /// shares, which <see cref="DistributedDiscreteGaussian"/> accounts for.
    /// </summary>
    public static double PerNodeVariance(double targetVariance, int minHonestNodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetVariance);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minHonestNodes);
        return targetVariance / minHonestNodes;
    }
}
