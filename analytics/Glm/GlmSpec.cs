using MathNet.Numerics;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// Maxima that every node's rows respect, declared in the study so that all parties derive the same
/// fixed-point scales (<see cref="GlmLayout"/>). Nodes check their rows against them and refuse with a
/// reason; the codec independently refuses any value that could make the encrypted sum wrap.
/// </summary>
public sealed record GlmBounds
{
    /// <param name="maxRowsPerNode">Most rows any one node holds (sizes the moments round).</param>
    /// <param name="maxAbsFeature">Largest |x| of any raw feature, in its own units (sizes the moments round only;
    /// IRLS rounds use standardized features whose sums are bounded by the row count).</param>
    public GlmBounds(long maxRowsPerNode, double maxAbsFeature)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRowsPerNode);
        Positive(maxAbsFeature, nameof(maxAbsFeature));
        MaxRowsPerNode = maxRowsPerNode;
        MaxAbsFeature = maxAbsFeature;
    }

    public long MaxRowsPerNode { get; }

    public double MaxAbsFeature { get; }

    /// <summary>Largest |y| (Poisson counts, Gaussian responses); binomial responses are proportions in [0, 1].</summary>
    public double MaxAbsResponse { get; init => field = Positive(value, nameof(MaxAbsResponse)); } = 1;

    /// <summary>
    /// Largest |μ| a node may meet during the iterations (Poisson, Gaussian). Defaults to 4·(MaxAbsResponse + 1);
    /// a fit whose intermediate means overshoot it is refused by the codec rather than silently wrong.
    /// </summary>
    public double? MaxAbsMean { get; init => field = value is { } v ? Positive(v, nameof(MaxAbsMean)) : null; }

    /// <summary>Largest prior weight (binomial: number of trials).</summary>
    public double MaxWeight { get; init => field = Positive(value, nameof(MaxWeight)); } = 1;

    /// <summary>Smallest non-zero prior weight; bounds |log w|, which the Gaussian AIC sums.</summary>
    public double MinPositiveWeight { get; init => field = Positive(value, nameof(MinPositiveWeight)); } = 1e-6;

    public double MaxAbsOffset { get; init => field = value >= 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(nameof(MaxAbsOffset)); }

    internal double Response(GlmFamily family) => family == GlmFamily.Binomial ? 1 : MaxAbsResponse;

    /// <summary>Bound on the fitted mean, covering R's start values (y + 0.1 for Poisson).</summary>
    internal double Mean(GlmFamily family) => family == GlmFamily.Binomial
        ? 1
        : Math.Max(MaxAbsMean ?? (4 * (MaxAbsResponse + 1)), MaxAbsResponse + 0.1);

    /// <summary>Per-row bound on the IRLS weight W = w·μ'(η)²/V(μ).</summary>
    internal double RowWorkingWeight(GlmFamily family) => family switch
    {
        GlmFamily.Binomial => MaxWeight / 4,
        GlmFamily.Poisson => MaxWeight * Mean(family),
        _ => MaxWeight,
    };

    /// <summary>
    /// Per-row bound on |W·z|. For canonical links W·z = W·(η − o) + w·(y − μ); for the logit
    /// μ(1 − μ)|η| ≤ 0.224, for the log link μ|log μ| ≤ max(1/e, M·log M).
    /// </summary>
    internal double RowWorkingResponse(GlmFamily family)
    {
        double w = MaxWeight, y = Response(family), m = Mean(family);
        return family switch
        {
            GlmFamily.Binomial => w * 1.25,
            GlmFamily.Poisson => w * (Math.Max(1 / Math.E, m * Math.Abs(Math.Log(m))) + (m * MaxAbsOffset) + y + m),
            _ => w * (y + MaxAbsOffset),
        };
    }

    /// <summary>Per-row bound on the deviance residual for fitted means up to <paramref name="mean"/>; R's clamps keep log μ ≥ log ε.</summary>
    internal double RowDeviance(GlmFamily family, double mean)
    {
        double w = MaxWeight, y = Response(family);
        return family switch
        {
            GlmFamily.Binomial => 2 * w * GlmMath.LogEpsilon,
            GlmFamily.Poisson => 2 * w * ((y * (Math.Max(Math.Log(y), 0) + GlmMath.LogEpsilon)) + mean),
            _ => w * (y + mean) * (y + mean),
        };
    }

    /// <summary>Bound on the null model's mean: Poisson e^o·Σwy/Σw·e^o ≤ e^(2·O)·Y, Gaussian ȳ − ō + o ≤ Y + 2·O.</summary>
    internal double NullMean(GlmFamily family) => family switch
    {
        GlmFamily.Binomial => 1,
        GlmFamily.Poisson => MaxAbsResponse * Math.Exp(2 * MaxAbsOffset),
        _ => MaxAbsResponse + (2 * MaxAbsOffset),
    };

    /// <summary>Per-row bound on −2·log-likelihood (binomial: round(w) ≤ w + ½ trials).</summary>
    internal double RowAic(GlmFamily family)
    {
        double w = MaxWeight, y = Response(family), m = Mean(family);
        return family switch
        {
            GlmFamily.Binomial => 2 * (w + 0.5) * GlmMath.LogEpsilon,
            // −0.1215 is the minimum of log Γ on [1, 2].
            GlmFamily.Poisson => 2 * w * ((y * Math.Max(GlmMath.LogEpsilon, Math.Abs(Math.Log(m)))) + m + Math.Max(SpecialFunctions.GammaLn(y + 1), 0.1215)),
            _ => 0,
        };
    }

    internal double RowLogWeight() => Math.Max(Math.Abs(Math.Log(MaxWeight)), Math.Abs(Math.Log(MinPositiveWeight)));

    private static double Positive(double value, string name) =>
        value > 0 && double.IsFinite(value) ? value : throw new ArgumentOutOfRangeException(name, "must be positive and finite");
}

/// <summary>
/// Everything the coordinator and every node must agree on before the first round: family, features
/// (an intercept is always fitted first), declared bounds, the most parties the sum may have
/// (it fixes the codec headroom), whether rows carry an offset, the ridge λ and the IRLS round limit.
/// </summary>
public sealed class GlmSpec
{
    /// <summary>Stop when max |Δβ| on the standardized scale falls below this.</summary>
    public const double CoefficientTolerance = 1e-10;

    /// <summary>Or when |dev − dev_old|/(|dev| + 0.1) falls below this (R's glm.control uses 1e-8).</summary>
    public const double DevianceTolerance = 1e-12;

    public GlmSpec(
        GlmFamily family,
        IReadOnlyList<string> featureNames,
        GlmBounds bounds,
        int maxParties,
        bool hasOffset = false,
        double ridge = 0,
        int maxIterations = 25)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(bounds);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxParties);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxIterations);
        if (!Enum.IsDefined(family))
        {
            throw new ArgumentOutOfRangeException(nameof(family));
        }

        if (!(ridge >= 0) || !double.IsFinite(ridge))
        {
            throw new ArgumentOutOfRangeException(nameof(ridge), "ridge must be finite and non-negative");
        }

        if (hasOffset && family == GlmFamily.Binomial)
        {
            // Its null model (intercept plus offset) has no closed form and would need its own IRLS rounds.
            throw new ArgumentException("An offset is supported for the Poisson and Gaussian families only.", nameof(hasOffset));
        }

        Family = family;
        FeatureNames = [.. featureNames];
        Bounds = bounds;
        MaxParties = maxParties;
        HasOffset = hasOffset;
        Ridge = ridge;
        MaxIterations = maxIterations;
    }

    public GlmFamily Family { get; }

    public IReadOnlyList<string> FeatureNames { get; }

    public GlmBounds Bounds { get; }

    public int MaxParties { get; }

    public bool HasOffset { get; }

    /// <summary>λ added to the diagonal of ΣX'WX (standardized scale) except the intercept: penalized IRLS for dev/2 + λ/2·Σβ̃_j².</summary>
    public double Ridge { get; }

    public int MaxIterations { get; }

    /// <summary>
    /// Start the IRLS from the null model's fitted means (R: glm(..., mustart = fitted(null model))) instead of R's default
    /// μ0 from y ((w·y + ½)/(w + 1), y + 0.1, y). The start round is then one Newton step from β = (α_null, 0, …), which
    /// for a rare outcome is far closer to the MLE than (y + ½)/2 = ¼ or ¾ for every row. The converged fit is the same MLE.
    /// </summary>
    public bool StartFromNullModel { get; init; }

    /// <summary>
    /// Differential privacy (per-patient clipping and node-side discrete Gaussian shares, <see cref="GlmPrivacy"/>), or null
    /// for the exact fit: then nothing is clipped or noised and the result equals the pooled fit.
    /// </summary>
    public GlmPrivacy? Privacy
    {
        get;
        init => field = value is null || value.FeatureBounds.Count == FeatureNames.Count
            ? value
            : throw new ArgumentException($"Differential privacy needs one bound per feature ({FeatureNames.Count}), not {value.FeatureBounds.Count}.", nameof(Privacy));
    }

    /// <summary>p: the intercept plus one coefficient per feature.</summary>
    public int Coefficients => FeatureNames.Count + 1;

    public IReadOnlyList<string> CoefficientNames => ["(Intercept)", .. FeatureNames];
}
