using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>How one block of a round's vector is noised: its share f of the round's ρ, its per-patient L2 clip C (real
/// domain) and whether it holds exact integers (counts: encoded at a power-of-two scale, so no rounding term). f = 0: not
/// noised (e.g. a node count).</summary>
public readonly record struct BlockNoise(double Fraction, double Clip, bool Integer);

/// <summary>
/// The noise arithmetic every DP algorithm's round shares (the DP GLM, DP-FedAvg): a round spending ρ_r gives block b the
/// share f_b·ρ_r, hence the target σ_b = Δ_b/√(2·f_b·ρ_r) with the integer-domain sensitivity Δ_b = C_b·s_b + √d_b/2
/// (per-patient rounding, <see cref="Clipping.EncodedL2Sensitivity"/>; Bun &amp; Steinke 2016 Prop. 1.6, and for one discrete
/// Gaussian Canonne, Kamath &amp; Steinke 2020 Thm. 4), so Σ_b Δ_b²/(2σ_b²) = ρ_r when Σ f_b = 1: the stated ρ. Each node adds a
/// discrete Gaussian share of σ_b²/h (<see cref="NoiseShare"/>, h = the study's minimum of honest nodes) with the cryptographic
/// source it is given. The sum of h or more such shares is not one discrete Gaussian: <see cref="TrueRho"/> is what a release
/// really spends (Kairouz, Liu &amp; Steinke 2021, Prop. 14), and integer blocks are scaled (<see cref="IntegerScale"/>) so that
/// it equals the stated ρ but for a negligible term.
/// </summary>
public static class RoundNoise
{
    /// <summary>Real-domain σ the h honest nodes' shares must reach together in block <paramref name="block"/>: (C + √d/(2s))/√(2 f ρ_r), without the rounding term for an integer block.</summary>
    public static double TargetSigma(FixedPointBlock block, BlockNoise noise, double roundRho)
    {
        ArgumentNullException.ThrowIfNull(block);
        if (noise.Fraction == 0)
        {
            return 0;
        }

        if (noise.Integer && !(block.Scale >= 1 && block.Scale == Math.Floor(block.Scale)))
        {
            // Counts are exact on the grid only at a whole scale: at 0.5 they would round, and no rounding term is accounted.
            throw new ArgumentException($"Integer block '{block.Name}' needs a whole scale of at least 1, not {block.Scale}.", nameof(block));
        }

        var rounding = noise.Integer ? 0 : Math.Sqrt(block.Length) / (2 * block.Scale);
        return (noise.Clip + rounding) / Math.Sqrt(2 * noise.Fraction * roundRho);
    }

    /// <summary>Each node's share of the variance per block: σ_b²/h (0 for an unnoised block).</summary>
    public static double[] NodeVariances(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho, int minHonestNodes)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(noise);
        return [.. layout.Select(b => noise(b) is { Fraction: > 0 } n ? NoiseShare.PerNodeVariance(Math.Pow(TargetSigma(b, n, roundRho), 2), minHonestNodes) : 0)];
    }

    /// <summary>zCDP ρ one release of <paramref name="layout"/> spends with these clips and the σ of <see cref="TargetSigma"/>: Σ Δ_int²/(2σ_int²).</summary>
    public static double SpentBy(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho) =>
        NoisedBlocks(layout, noise, roundRho).Sum(x => ZcdpAccountant.GaussianRho(x.L2, x.Sigma * x.Block.Scale).Value);

    /// <summary>The noised blocks of a layout with their integer-domain L2 sensitivity and target σ (real domain).</summary>
    private static IEnumerable<(FixedPointBlock Block, double L2, double Sigma)> NoisedBlocks(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(noise);
        foreach (var b in layout)
        {
            var n = noise(b);
            if (n.Fraction > 0)
            {
                yield return (b, Clipping.EncodedL2Sensitivity(n.Clip, b.Scale, n.Integer ? 0 : b.Length), TargetSigma(b, n, roundRho));
            }
        }
    }

    /// <summary>
    /// The ρ one release of <paramref name="layout"/> really spends: per noised block, the sum of h … N honest discrete Gaussian
    /// shares of integer variance σ_b²·s_b²/h (<see cref="DistributedDiscreteGaussian.WorstRho"/>, Kairouz, Liu &amp; Steinke 2021
    /// Prop. 14), with the block's integer-domain ‖Δ‖₂ of <see cref="SpentBy"/> and ‖Δ‖₁ ≤ √d·‖Δ‖₂ (Cauchy–Schwarz); the blocks'
    /// noises are independent and each patient's contribution is clipped block by block, so their ρ add (Bun &amp; Steinke 2016,
    /// Lemma 1.7).
    /// </summary>
    public static double TrueRho(IReadOnlyList<FixedPointBlock> layout, Func<FixedPointBlock, BlockNoise> noise, double roundRho, int minHonestNodes, int maxShares) =>
        NoisedBlocks(layout, noise, roundRho).Sum(x => DistributedDiscreteGaussian.WorstRho(
            minHonestNodes, maxShares, NoiseShare.PerNodeVariance(Math.Pow(x.Sigma, 2), minHonestNodes) * x.Block.Scale * x.Block.Scale, x.Block.Length, x.L2, Math.Sqrt(x.Block.Length) * x.L2));

    /// <summary>
    /// The scale of an integer block (counts) noised as <paramref name="noise"/>: the smallest power of two that lifts one share's
    /// integer σ to <see cref="DistributedDiscreteGaussian.NegligibleShareSigma"/> (its target σ does not depend on the scale).
    /// </summary>
    public static double IntegerScale(BlockNoise noise, double roundRho, int minHonestNodes)
    {
        if (!noise.Integer || noise.Fraction <= 0)
        {
            throw new ArgumentException("Only a noised integer block is scaled for the distributed discrete Gaussian.", nameof(noise));
        }

        var target = TargetSigma(new FixedPointBlock("integer", 1, 1), noise, roundRho);
        return DistributedDiscreteGaussian.IntegerScale(Math.Sqrt(NoiseShare.PerNodeVariance(target * target, minHonestNodes)));
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
