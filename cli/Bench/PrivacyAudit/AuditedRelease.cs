using FederatedTwin.Node.Algorithms;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Cli.Bench.PrivacyAudit;

/// <summary>One node's vector for one round, as the node computes it: its exact statistics, with or without the canary, through the node's own release (encoding and noise share).</summary>
internal delegate LocalStatistics NodeRelease(bool withCanary, IRandomBitSource random);

/// <summary>
/// One aggregation of a study as the coordinator sees it: every simulated node's encoded, noised vector, summed modulo 2^64
/// and decoded, which is exactly what the threshold decryption of the encrypted sum returns (the encryption is exact, so
/// it is not run). Node 0 holds the canary when there is one. <see cref="CanaryEffect"/> is the canary's contribution to
/// node 0's exact statistics (what the node computes with it minus without it), in the decoded units.
/// </summary>
internal sealed class AuditedRound
{
    private readonly IReadOnlyList<NodeRelease> _nodes;
    private readonly int _maxParties;

    public AuditedRound(string name, IReadOnlyList<NodeRelease> nodes, double[] canaryEffect, int maxParties)
    {
        ArgumentOutOfRangeException.ThrowIfZero(nodes.Count);
        Name = name;
        _nodes = nodes;
        CanaryEffect = canaryEffect;
        _maxParties = maxParties;
    }

    public string Name { get; }

    public double[] CanaryEffect { get; }

    /// <summary>The decoded sum of one run and the blocks it is laid out in.</summary>
    public (double[] Sum, IReadOnlyList<FixedPointBlock> Blocks) Run(bool withCanary, IRandomBitSource random)
    {
        var first = _nodes[0](withCanary, random);
        var sum = (long[])first.Values.Clone();
        for (int n = 1; n < _nodes.Count; n++)
        {
            var share = _nodes[n](false, random);
            if (!share.Blocks.SequenceEqual(first.Blocks))
            {
                throw new InvalidOperationException($"Round {Name}: the nodes' layouts differ.");
            }

            for (int i = 0; i < sum.Length; i++)
            {
                sum[i] = unchecked(sum[i] + share.Values[i]);
            }
        }

        if (CanaryEffect.Length != sum.Length)
        {
            throw new InvalidOperationException($"Round {Name}: the canary's effect has {CanaryEffect.Length} values, the release {sum.Length}.");
        }

        return (new FixedPointCodec(first.Blocks, _maxParties).Decode(sum), first.Blocks);
    }
}

/// <summary>
/// A release the audit runs again and again: its rounds (one for the composition, moments and Newton rounds for the GLM), the
/// zCDP ρ it claims, and the score that ranks runs by how likely the canary was present.
/// </summary>
internal sealed class AuditedRelease(string name, double claimedRho, IReadOnlyList<AuditedRound> rounds)
{
    public string Name { get; } = name;

    /// <summary>The ρ the study declares for the whole release (what the ledger charges), whatever noise the nodes actually add.</summary>
    public double ClaimedRho { get; } = claimedRho;

    public IReadOnlyList<AuditedRound> Rounds { get; } = rounds;

    /// <summary>‖canary effect‖₂ over all rounds (decoded units), for the report.</summary>
    public double CanaryNorm => Math.Sqrt(Rounds.Sum(r => r.CanaryEffect.Sum(d => d * d)));

    /// <summary>
    /// The likelihood-ratio direction of the canary: for independent Gaussian-like noise of variance v_j per coordinate, the
    /// log-likelihood ratio of "canary present" is Σ_j d_j·o_j/v_j + const (Neyman–Pearson: the most powerful test thresholds
    /// it), d the canary's effect. The v_j are measured, not taken from the claim: the sample variance of each coordinate of
    /// the decoded sum over <paramref name="runs"/> runs without the canary, pooled over the coordinates of each block (the
    /// nodes noise a block with one variance). These calibration runs are separate from the audited ones, so the score is
    /// fixed before any audited output is seen.
    /// </summary>
    public CanaryScore Calibrate(int runs, IRandomBitSource random)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 2);
        var weights = new List<(int Index, double Weight)[]>();
        foreach (var round in Rounds)
        {
            var outputs = new double[runs][];
            IReadOnlyList<FixedPointBlock> blocks = [];
            for (int r = 0; r < runs; r++)
            {
                (outputs[r], blocks) = round.Run(false, random);
            }

            var variance = new double[round.CanaryEffect.Length];
            int at = 0;
            foreach (var block in blocks)
            {
                double pooled = 0;
                for (int j = at; j < at + block.Length; j++)
                {
                    double mean = outputs.Average(o => o[j]);
                    pooled += outputs.Sum(o => (o[j] - mean) * (o[j] - mean)) / (runs - 1);
                }

                Array.Fill(variance, pooled / Math.Max(block.Length, 1), at, block.Length);
                at += block.Length;
            }

            weights.Add([.. round.CanaryEffect.Select((d, j) => (j, d)).Where(x => x.d != 0)
                // A coordinate the canary moves but no noise covers would identify it exactly: a floor keeps its weight finite and dominant.
                .Select(x => (x.j, x.d / Math.Max(variance[x.j], 1e-12 * x.d * x.d)))]);
        }

        return new CanaryScore(this, weights);
    }
}

/// <summary>Σ_rounds Σ_j w_j·o_j over the coordinates the canary moves: larger when the canary is more likely present.</summary>
internal sealed class CanaryScore(AuditedRelease release, IReadOnlyList<(int Index, double Weight)[]> weights)
{
    /// <summary>
    /// Σ_j d_j²/v_j: the squared distance between the release's distributions with and without the canary in units of its
    /// measured noise. For Gaussian noise it is μ² of the score's two normal distributions, and 2ρ for a mechanism that
    /// spends exactly ρ on this canary (Bun &amp; Steinke 2016, Prop. 1.6).
    /// </summary>
    public double SignalToNoise => weights.Select((w, r) => w.Sum(x => x.Weight * release.Rounds[r].CanaryEffect[x.Index])).Sum();

    /// <summary>One run of the whole release, with or without the canary, scored.</summary>
    public double Run(bool withCanary, IRandomBitSource random)
    {
        double score = 0;
        for (int r = 0; r < release.Rounds.Count; r++)
        {
            var (sum, _) = release.Rounds[r].Run(withCanary, random);
            foreach (var (j, w) in weights[r])
            {
                score += w * sum[j];
            }
        }

        return score;
    }

    /// <summary>
    /// Scores of <paramref name="included"/>.Count independent runs, run i with the canary exactly when included[i], on every
    /// core (each worker with its own random source from <paramref name="randomSource"/>); progress goes to <paramref name="progress"/>.
    /// </summary>
    public double[] Runs(IReadOnlyList<bool> included, Func<IRandomBitSource> randomSource, Action<int>? progress = null)
    {
        var scores = new double[included.Count];
        int done = 0;
        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, included.Count));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
        {
            var random = randomSource();
            for (int i = w; i < included.Count; i += workers)
            {
                scores[i] = Run(included[i], random);
                progress?.Invoke(Interlocked.Increment(ref done));
            }
        });
        return scores;
    }
}
