namespace FederatedTwin.Analytics.FedAvg;

/// <summary>
/// FedAvg arithmetic (McMahan et al. 2017): nodes upload [n_k·w_k..., n_k]; the aggregate
/// [Σ n_k·w_k..., Σ n_k] divided through gives the sample-weighted mean parameter vector.
/// </summary>
public static class FedAvgAggregate
{
    /// <summary>The node's upload vector: its weights scaled by its sample count, then the count.</summary>
    public static double[] NodeVector(ReadOnlySpan<double> weights, long sampleCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sampleCount);
        var v = new double[weights.Length + 1];
        for (int i = 0; i < weights.Length; i++)
        {
            v[i] = weights[i] * sampleCount;
        }

        v[^1] = sampleCount;
        return v;
    }

    /// <summary>Weighted mean from the aggregated vector; throws if no samples were contributed.</summary>
    public static double[] Average(ReadOnlySpan<double> aggregate)
    {
        if (aggregate.Length < 2)
        {
            throw new ArgumentException("aggregate needs at least one weight and the count", nameof(aggregate));
        }

        double n = aggregate[^1];
        if (!(n > 0))
        {
            throw new ArgumentException("total sample count must be positive", nameof(aggregate));
        }

        var w = new double[aggregate.Length - 1];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = aggregate[i] / n;
        }

        return w;
    }
}
