namespace FederatedTwin.Protocol.Privacy;

/// <summary>Distributed noise sizing (Kairouz, Liu and Steinke 2021).</summary>
public static class NoiseShare
{
    /// <summary>
    /// Per-node variance σ²_target / minHonestNodes, so the shares of the study's minimum number of
    /// honest nodes alone sum to the target variance; dropouts or colluders cannot thin the noise.
    /// </summary>
    public static double PerNodeVariance(double targetVariance, int minHonestNodes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(targetVariance);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minHonestNodes);
        return targetVariance / minHonestNodes;
    }
}
