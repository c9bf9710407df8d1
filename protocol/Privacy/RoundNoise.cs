using FederatedTwin.Protocol.Crypto.Codec;

namespace FederatedTwin.Protocol.Privacy;

/// <summary>How one block of a round's vector is noised: its share f of the round's ρ, its per-patient L2 clip C (real
/// domain) and whether it holds exact integers at scale 1 (no rounding term). f = 0: not noised (e.g. a node count).</summary>
public readonly record struct BlockNoise(double Fraction, double Clip, bool Integer);

/// <summary>
/// The noise arithmetic every DP algorithm's round shares (the DP GLM, DP-FedAvg): a round spending ρ_r gives block b the
/// share f_b·ρ_r, hence the target σ_b = Δ_b/√(2·f_b·ρ_r) with the integer-domain sensitivity Δ_b = C_b·s_b + √d_b
/// (<see cref="Clipping.EncodedL2Sensitivity"/>; Bun &amp; Steinke 2016 Prop. 1.6, and for the discrete Gaussian Canonne,
/// Kamath &amp; Steinke 2020 Thm. 4), so Σ_b Δ_b²/(2σ_b²) = ρ_r when Σ f_b = 1. Each node adds a discrete Gaussian share
/// of σ_b²/m (<see cref="NoiseShare"/>; Kairouz, Liu &amp; Steinke 2021) with the cryptographic source it is given.
/// </summary>
public static class RoundNoise
{
    /// <summary>Real-domain σ the m honest nodes' shares must reach together in block <paramref name="block"/>: (C + √d/s)/√(2 f ρ_r).</summary>
    public static double TargetSigma(FixedPointBlock block, BlockNoise noise, double roundRho)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (noise.Fraction == 0)
        {
            return 0;
        }

        var rounding = block.Scale == 1 && noise.Integer ? 0 : Math.Sqrt(block.Length) / block.Scale;
        return (noise.Clip + rounding) / Math.Sqrt(2 * noise.Fraction * roundRho);
    }

    /// <summary>Each node's share of the variance per block: σ_b²/m (0 for an unnoised block).</summary>
    public static double[] NodeVariances(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho, int minHonestNodes)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(noise);
        return [.. layout.Select(b => noise(b) is { Fraction: > 0 } n ? NoiseShare.PerNodeVariance(Math.Pow(TargetSigma(b, n, roundRho), 2), minHonestNodes) : 0)];
    }

    /// <summary>zCDP ρ one release of <paramref name="layout"/> spends with these clips and the σ of <see cref="TargetSigma"/>: Σ Δ_int²/(2σ_int²).</summary>
    public static double SpentBy(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(noise);
        double rho = 0;
        foreach (var b in layout)
        {
            var n = noise(b);
            if (n.Fraction > 0)
            {
                var sensitivity = Clipping.EncodedL2Sensitivity(n.Clip, b.Scale, b.Scale == 1 && n.Integer ? 0 : b.Length);
                rho += ZcdpAccountant.GaussianRho(sensitivity, TargetSigma(b, n, roundRho) * b.Scale).Value;
            }
        }

        return rho;
    }

    /// <summary>Adds this node's discrete Gaussian share to an encoded vector, block by block (blocks of variance 0 skipped).</summary>
    public static void AddNoise(long[] encoded, IReadOnlyList<FixedPointBlock> layout, IReadOnlyList<double> nodeVariances, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(nodeVariances);
        int at = 0;
        for (int b = 0; b < layout.Count; b++)
        {
            if (nodeVariances[b] > 0)
            {
                var part = encoded.AsSpan(at, layout[b].Length).ToArray();
                DiscreteGaussian.AddNoise(part, [layout[b]], [nodeVariances[b]], random);
                part.CopyTo(encoded.AsSpan(at));
            }

            at += layout[b].Length;
        }
    }
}
