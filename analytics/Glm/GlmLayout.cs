using FederatedTwin.Crypto.Codec;

namespace FederatedTwin.Analytics.Glm;

/// <summary>What the coordinator asks for: the moments of the features, R's start values, or a given β.</summary>
public enum GlmRoundKind
{
    Moments,
    Start,
    Iterate,
}

/// <summary>
/// The flat vector each node sends per round, as named blocks with one power-of-two fixed-point scale each
/// (<see cref="FixedPointCodec"/>). A block's scale is the largest 2^k such that its bound B — the most one
/// node can contribute — fits the codec's per-party limit ⌊(2^63 − 1)/P⌋, so no sum of P parties can wrap and
/// the aggregate's absolute rounding error is at most P/(2·scale) &lt; P²·B/2^63: about 4·10⁻¹⁶·B for P = 64,
/// far below the 10⁻¹⁰ / 10⁻¹² convergence tolerances unless B overstates the data by many orders of
/// magnitude. Powers of two make the scaling itself exact.
///
/// IRLS bounds use the global row count n from the moments round: with standardized features
/// Σ_all x̃_j² = n, so by Cauchy–Schwarz any node's |Σ W·x̃_j·x̃_k| ≤ n·max W and |Σ W·z·x̃_j| ≤ n·max|W·z|,
/// whatever the features' units; per-row maxima come from <see cref="GlmBounds"/> and a headroom factor 2
/// absorbs the moments' own rounding.
/// </summary>
public static class GlmLayout
{
    /// <summary>[number of nodes (each sends 1), rows of positive weight]; scale 1.</summary>
    public const string Count = "count";

    public const string WeightSum = "weight_sum";
    public const string ResponseSum = "response_sum";

    /// <summary>Σw·e^o (Poisson) or Σw·o (Gaussian): with Σw and Σw·y it gives the null model in closed form.</summary>
    public const string OffsetSum = "offset_sum";

    /// <summary>Σ log w (Gaussian only: R's Gaussian AIC subtracts it).</summary>
    public const string LogWeightSum = "log_weight_sum";

    public const string FeatureSum = "feature_sum";
    public const string FeatureSumOfSquares = "feature_sum_sq";

    /// <summary>Upper triangle of X̃'WX̃ packed row by row: (0,0), (0,1), …, (0,p−1), (1,1), …, (p−1,p−1).</summary>
    public const string Xtwx = "xtwx";

    public const string Xtwz = "xtwz";
    public const string Deviance = "deviance";

    /// <summary>Start round only: Σ deviance residuals at the null model's means.</summary>
    public const string NullDeviance = "null_deviance";

    /// <summary>Binomial and Poisson: Σ −2·log-likelihood terms as R's family$aic.</summary>
    public const string Aic = "aic";

    /// <summary>Families with estimated dispersion (Gaussian): Σ w(y − μ)²/V(μ).</summary>
    public const string Pearson = "pearson";

    /// <summary>Moments round with a null-model start: Σ w·c·[1, x][1, x]' (upper triangle, raw scale; c = e^o for Poisson, else 1).</summary>
    public const string StartCrossProducts = "start_xtwx";

    /// <summary>Moments round with a null-model start: Σ w·[1, x]·(y − o) for the Gaussian family, Σ w·[1, x]·y otherwise.</summary>
    public const string StartCrossResponse = "start_xtwy";

    private const double Headroom = 2;

    public static IReadOnlyList<FixedPointBlock> For(GlmSpec spec, GlmRoundKind kind, long totalRows, int candidates = 1, bool nullDeviance = false) => kind switch
    {
        GlmRoundKind.Moments => Moments(spec),
        GlmRoundKind.Start => Irls(spec, totalRows, start: true),
        GlmRoundKind.Iterate => Irls(spec, totalRows, start: false, candidates, nullDeviance),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Name of a block of line-search candidate <paramref name="candidate"/> (the count block is shared).</summary>
    public static string CandidateBlock(string name, int candidate) => $"{name}#{candidate}";

    /// <summary>The moments round, bounded by the declared rows per node and raw feature magnitude.</summary>
    public static IReadOnlyList<FixedPointBlock> Moments(GlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.Privacy is not null)
        {
            return PrivateMoments(spec);
        }

        var b = spec.Bounds;
        double n = b.MaxRowsPerNode, w = b.MaxWeight;
        int k = spec.FeatureNames.Count;
        var blocks = new List<FixedPointBlock>
        {
            new(Count, 2, 1),
            Block(spec, WeightSum, 1, n * w),
            Block(spec, ResponseSum, 1, n * w * b.Response(spec.Family)),
        };
        if (spec.HasOffset)
        {
            blocks.Add(Block(spec, OffsetSum, 1, n * w * GlmMath.OffsetStatistic(spec.Family, b.MaxAbsOffset)));
        }

        if (GlmMath.EstimatesDispersion(spec.Family))
        {
            blocks.Add(Block(spec, LogWeightSum, 1, n * b.RowLogWeight()));
        }

        blocks.Add(Block(spec, FeatureSum, k, n * b.MaxAbsFeature));
        blocks.Add(Block(spec, FeatureSumOfSquares, k, n * b.MaxAbsFeature * b.MaxAbsFeature));
        if (spec.StartFromNullModel)
        {
            // The start round's X'W0X and X'W0z0 at the null model's means are these moments times known factors
            // (GlmIrlsFit.NullStart), so the start needs no aggregation of its own.
            double x = Math.Max(b.MaxAbsFeature, 1), c = spec.Family == GlmFamily.Poisson ? Math.Exp(b.MaxAbsOffset) : 1;
            int p = spec.Coefficients;
            blocks.Add(Block(spec, StartCrossProducts, p * (p + 1) / 2, n * w * c * x * x));
            blocks.Add(Block(spec, StartCrossResponse, p, n * w * x * (b.Response(spec.Family) + b.MaxAbsOffset)));
        }

        return blocks;
    }

    /// <summary>An IRLS round, bounded through the global row count (see the type's remarks).</summary>
    public static IReadOnlyList<FixedPointBlock> Irls(GlmSpec spec, long totalRows, bool start, int candidates, bool nullDeviance = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(candidates);
        var single = Irls(spec, totalRows, start);
        if (candidates == 1 && !nullDeviance)
        {
            return single;
        }

        var b = spec.Bounds;
        List<FixedPointBlock> head = [single[0]];
        if (nullDeviance)
        {
            // The first Newton round after a null-model start also sums the null model's deviance (its β is (α, 0, …)).
            head.Add(Block(spec, NullDeviance, 1, Headroom * totalRows * b.RowDeviance(spec.Family, b.NullMean(spec.Family))));
        }

        return [.. head, .. Enumerable.Range(0, candidates).SelectMany(c => single.Skip(1).Select(x => x with { Name = CandidateBlock(x.Name, c) }))];
    }

    public static IReadOnlyList<FixedPointBlock> Irls(GlmSpec spec, long totalRows, bool start)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(totalRows);
        if (spec.Privacy is not null)
        {
            return start ? throw new InvalidOperationException("Under differential privacy the fit starts from the null model's coefficients: there is no start round.") : PrivateNewton(spec);
        }

        var b = spec.Bounds;
        var f = spec.Family;
        int p = spec.Coefficients;
        double n = Headroom * totalRows;
        var blocks = new List<FixedPointBlock>
        {
            new(Count, 2, 1),
            Block(spec, Xtwx, p * (p + 1) / 2, n * b.RowWorkingWeight(f)),
            Block(spec, Xtwz, p, n * b.RowWorkingResponse(f)),
            Block(spec, Deviance, 1, n * b.RowDeviance(f, b.Mean(f))),
        };
        if (start)
        {
            blocks.Add(Block(spec, NullDeviance, 1, n * b.RowDeviance(f, b.NullMean(f))));
        }

        if (GlmMath.HasAicTerm(f))
        {
            blocks.Add(Block(spec, Aic, 1, n * b.RowAic(f)));
        }

        if (GlmMath.EstimatesDispersion(f))
        {
            // Pearson χ² equals the deviance for the Gaussian family, but is computed from its definition so
            // that a family with another variance function needs no protocol change.
            blocks.Add(Block(spec, Pearson, 1, n * b.RowDeviance(f, b.Mean(f))));
        }

        return blocks;
    }

    /// <summary>
    /// Moments under DP: nodes (count, unnoised: not patient data), then the noisy row count, Σw, Σwy (and the offset sum).
    /// Feature sums are not needed: the design scale comes from the declared feature bounds.
    /// </summary>
    private static List<FixedPointBlock> PrivateMoments(GlmSpec spec)
    {
        var b = spec.Bounds;
        double n = b.MaxRowsPerNode, w = b.MaxWeight;
        var blocks = new List<(string, int, double)> { (GlmPrivacy.RowCount, 1, n), (WeightSum, 1, n * w), (ResponseSum, 1, n * w * b.Response(spec.Family)) };
        if (spec.HasOffset)
        {
            blocks.Add((OffsetSum, 1, n * w * GlmMath.OffsetStatistic(spec.Family, b.MaxAbsOffset)));
        }

        return [new(Count, 2, 1), .. WithNoiseMargin(spec, blocks, [GlmPrivacy.RowCount])];
    }

    /// <summary>
    /// A Newton round under DP: nodes, the Hessian's upper triangle, the score, the deviance and the AIC or Pearson sum.
    /// Features lie in [−1, 1], so a node's sums are bounded by its rows (at most MaxRowsPerNode) times the per-row maxima.
    /// </summary>
    private static List<FixedPointBlock> PrivateNewton(GlmSpec spec)
    {
        var b = spec.Bounds;
        var f = spec.Family;
        int p = spec.Coefficients;
        double n = b.MaxRowsPerNode;
        var blocks = new List<(string, int, double)>
        {
            (Xtwx, p * (p + 1) / 2, n * b.RowWorkingWeight(f)),
            (GlmPrivacy.Score, p, n * b.MaxWeight * GlmPrivacy.RowResidual(spec)),
            (Deviance, 1, n * b.RowDeviance(f, b.Mean(f))),
        };
        if (GlmMath.HasAicTerm(f))
        {
            blocks.Add((Aic, 1, n * b.RowAic(f)));
        }

        if (GlmMath.EstimatesDispersion(f))
        {
            blocks.Add((Pearson, 1, n * b.RowDeviance(f, b.Mean(f))));
        }

        return [new(Count, 2, 1), .. WithNoiseMargin(spec, blocks, [])];
    }

    /// <summary>
    /// Blocks with scales for per-party bounds; under DP each bound first grows by <see cref="GlmPrivacy.NoiseMargin"/> times
    /// the block's target σ (taken at scale 1, an upper bound; the sum of all shares has σ·√(P/h), far inside P such margins), so that values plus every party's noise share cannot make
    /// the sum wrap (DiscreteGaussian.AddNoise leaves the headroom to the caller). Integer blocks (counts) keep scale 1 without DP;
    /// under DP they take the power-of-two scale of <see cref="GlmPrivacy.IntegerScale"/>, which makes the sum of the nodes'
    /// discrete Gaussian shares as private as the stated ρ but for a negligible term (Kairouz, Liu &amp; Steinke 2021, Prop. 14),
    /// and a declared bound that leaves no room for that scale is refused.
    /// </summary>
    internal static IReadOnlyList<FixedPointBlock> WithNoiseMargin(GlmSpec spec, IReadOnlyList<(string Name, int Length, double Bound)> blocks, IReadOnlyList<string> integerBlocks)
    {
        var provisional = blocks.Select(b => new FixedPointBlock(b.Name, b.Length, 1)).ToList();
        return [.. blocks.Select((b, i) =>
        {
            if (spec.Privacy is not { } dp)
            {
                return integerBlocks.Contains(b.Name) ? provisional[i] : new FixedPointBlock(b.Name, b.Length, ScaleFor(b.Bound, spec.MaxParties));
            }

            var clip = dp.Clip(spec, b.Name);
            var bound = b.Bound + (GlmPrivacy.NoiseMargin * dp.TargetSigma(provisional, provisional[i], clip));
            if (!integerBlocks.Contains(b.Name))
            {
                return new FixedPointBlock(b.Name, b.Length, ScaleFor(bound, spec.MaxParties));
            }

            var scale = dp.IntegerScale(provisional, provisional[i], clip);
            if (scale > ScaleFor(bound, spec.MaxParties))
            {
                throw new ArgumentException(FormattableString.Invariant(
                    $"Block '{b.Name}' counts up to {b.Bound:G6} per node, which at the scale {scale:G6} its noise needs exceeds the codec's per-party limit for {spec.MaxParties} parties: declare a smaller max_rows_per_node or a smaller dp_rho."));
            }

            return new FixedPointBlock(b.Name, b.Length, scale);
        })];
    }

    /// <summary>The largest power of two s with bound·s within the codec's per-party limit.</summary>
    public static double ScaleFor(double bound, int maxParties)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxParties);
        double limit = long.MaxValue / maxParties;
        double b = Math.Max(bound, 1);
        double scale = Math.ScaleB(1, (int)Math.Floor(Math.Log2(limit / b)));
        while (b * scale > limit)
        {
            scale /= 2;
        }

        return scale;
    }

    private static FixedPointBlock Block(GlmSpec spec, string name, int length, double bound) =>
        new(name, length, ScaleFor(bound, spec.MaxParties));
}

/// <summary>Offsets of a layout's blocks by name, so both sides address the vector the same way.</summary>
internal sealed class GlmBlocks
{
    private readonly Dictionary<string, int> _offsets = [];

    public GlmBlocks(IReadOnlyList<FixedPointBlock> layout)
    {
        foreach (var block in layout)
        {
            _offsets.Add(block.Name, Length);
            Length += block.Length;
        }
    }

    public int Length { get; }

    public bool Has(string name) => _offsets.ContainsKey(name);

    public int this[string name] => _offsets.TryGetValue(name, out int at)
        ? at
        : throw new InvalidOperationException($"The layout has no block '{name}'.");
}
