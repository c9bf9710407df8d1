using FederatedTwin.Analytics.Studies;
using System.Globalization;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// A population-composition study: each node counts its patients alive at the start of a year
/// into age band × sex × condition-count cells and per-condition prevalence cells (one row per patient, so
/// the L2 sensitivity is √12 and the L1 sensitivity 12), encodes the counts at <see cref="Scale"/>, adds its share of discrete
/// Gaussian noise in the integer domain, and the coordinator publishes the sum with small cells suppressed. Read the same way
/// by coordinator and nodes. <see cref="MinHonestNodes"/> is h (parameters.dp_min_honest_nodes; 1 without DP, where it sizes nothing).
/// </summary>
public sealed record CompositionStudy(int Year, double Rho, int MinimumCellSize, int MinHonestNodes)
{
    public const string AlgorithmName = "federated-composition";

    /// <summary>The most a count may be, whatever the scale: below 2^53, where every count is exact as a double.</summary>
    private const double MaxExactCount = 9_007_199_254_740_992;

    public static int VectorLength => CompositionLayout.CompositionCells + CompositionLayout.PrevalenceCells;

    /// <summary>The study as its offer declares it: h is the study's (or its default, min_nodes − 1).</summary>
    public static CompositionStudy Parse(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return Parse(study.Parameters ?? new Dictionary<string, string>(), StudyPrivacy.MinHonestNodes(study));
    }

    /// <summary>
    /// What every round carries besides the study's parameters: the purpose, min_nodes and, under DP, h (each node's noise share
    /// and the counts' scale are sized by it); the coordinator writes them and each node requires them.
    /// </summary>
    public static RoundBasis Basis(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);
        return RoundBasis.WithMinNodesAndHonestNodes(study);
    }

    /// <summary>
    /// The study as a round carries it (its parameters with the coordinator's derived ones): h from <paramref name="minHonestNodes"/>
    /// or, when null, from the round's dp_min_honest_nodes (a DP round must carry it).
    /// </summary>
    public static CompositionStudy Parse(IReadOnlyDictionary<string, string> p, int? minHonestNodes)
    {
        ArgumentNullException.ThrowIfNull(p);
        var year = p.GetValueOrDefault("year") is { } y && int.TryParse(y, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n is >= 1900 and <= 2100
            ? n : throw new StudyFileException("parameters.year", "required: the census year (1900-2100)");
        var rho = StudyPrivacy.Rho(p);
        var honest = rho == 0 ? 1 : minHonestNodes ?? StudyPrivacy.RoundMinHonestNodes(p);
        return new CompositionStudy(year, rho, CountTableRelease.StudyMinimumCellSize(p), honest);
    }

    /// <summary>The target variance of the sum, in counts: σ² = Δ²/(2ρ) with Δ = √12 (Bun &amp; Steinke 2016, Prop. 1.6); 0 without DP.</summary>
    public double TargetVariance => Rho == 0 ? 0 : Math.Pow(ZcdpAccountant.GaussianSigma(CompositionLayout.L2Sensitivity, new ZcdpRho(Rho)), 2);

    /// <summary>
    /// The variance of the noise each node adds, in counts: the target split so that any h honest nodes alone reach it
    /// (<see cref="NoiseShare"/>); 0 without DP.
    /// </summary>
    public double PerNodeVariance => Rho == 0 ? 0 : NoiseShare.PerNodeVariance(TargetVariance, MinHonestNodes);

    /// <summary>
    /// The counts' fixed-point scale: 1 without DP; under DP the smallest power of two that lifts one share's integer σ to
    /// <see cref="DistributedDiscreteGaussian.NegligibleShareSigma"/>, so the sum of the shares is as private as the one discrete
    /// Gaussian the stated ρ assumes but for a negligible term (Kairouz, Liu &amp; Steinke 2021, Prop. 14). At scale 1 shares of
    /// 6/(ρ·n) would make a stated ρ = 1 really 1.63 over n = 10 shares and over 1,000 over n = 20, and from n = 25 a share's σ
    /// is below ½, where the proposition gives no guarantee at all. Counts times a
    /// power of two are exact, so there is still no rounding term; the decoded sum is counts plus noise, a real number.
    /// </summary>
    public double Scale => Rho == 0 ? 1 : DistributedDiscreteGaussian.IntegerScale(Math.Sqrt(PerNodeVariance));

    /// <summary>The two blocks (composition cells, prevalence cells), both at <see cref="Scale"/>.</summary>
    public IReadOnlyList<FixedPointBlock> Layout =>
        [new FixedPointBlock("composition_cells", CompositionLayout.CompositionCells, Scale), new FixedPointBlock("prevalence_cells", CompositionLayout.PrevalenceCells, Scale)];

    /// <summary>
    /// The largest count a node may encode: the codec's per-party limit ⌊(2^63 − 1)/P⌋ less 40 shares' σ of headroom for the
    /// noise (DiscreteGaussian.AddNoise wraps modulo 2^64 and leaves the headroom to the caller), over the scale.
    /// </summary>
    public double MaxCount(int maxParties)
    {
        var limit = (double)(long.MaxValue / maxParties);
        return Math.Min(MaxExactCount, Math.Floor((limit - (40 * Math.Sqrt(PerNodeVariance) * Scale)) / Scale));
    }

    /// <summary>
    /// What a release really spends, against the stated ρ: the 784 counts' sum of h … N honest shares of integer variance
    /// σ²·s²/h, with ‖Δ‖₂ = √12·s and ‖Δ‖₁ = 12·s (<see cref="DistributedDiscreteGaussian.WorstRho"/>). Null without DP.
    /// </summary>
    public PrivacyAccount? Account(int maxShares)
    {
        if (Rho == 0)
        {
            return null;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxShares, MinHonestNodes);
        var trueRho = DistributedDiscreteGaussian.WorstRho(
            MinHonestNodes, maxShares, PerNodeVariance * Scale * Scale, VectorLength, CompositionLayout.L2Sensitivity * Scale, CompositionLayout.L1Sensitivity * Scale);
        return new PrivacyAccount(Rho, trueRho, MinHonestNodes, maxShares);
    }
}
