using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Glm;

/// <summary>The range a raw feature is clipped to before it enters any statistic (the study declares it or the schema documents it).</summary>
public readonly record struct FeatureBound(double Low, double High)
{
    public double Clip(double x) => Math.Clamp(x, Low, High);
}

/// <summary>
/// Differential privacy for the federated GLM (zCDP, Bun &amp; Steinke 2016), per patient: neighbouring datasets
/// differ by one patient with all of their patient-years (add/remove). Each node
/// <list type="bullet">
/// <item>clips every raw feature to its own declared range (one range for all features would size the noise to the
/// widest one, swamping 0/1 features), the response to [0, 1] (binomial), [0, Y] (Poisson) or [−Y, Y] (Gaussian)
/// and the offset to [−O, O];</item>
/// <item>keeps at most <see cref="MaxRowsPerPatient"/> = K rows per patient (the first K in the node's order,
/// which depends on that patient's rows alone), so the sensitivity is per patient, not per row;</item>
/// <item>works on features mapped by their declared ranges to [−1, 1] (x̃ = (x − mid)/half-range: data-independent,
/// so no noisy standardization), sums each patient's contribution to every block, clips that patient total to the
/// block's L2 bound C_b (<see cref="Clipping.ClipToL2Norm"/>, as Abadi et al. 2016 clip per example), rounds it to the
/// block's fixed-point grid and adds it exactly in integers (<see cref="EncodedPatientSum"/>);</item>
/// <item>adds, in the fixed-point domain before encryption, a discrete Gaussian share (Canonne, Kamath &amp; Steinke
/// 2020) of variance σ_b²/h, h = the study's minimum number of honest nodes (<see cref="NoiseShare"/>; Kairouz, Liu
/// &amp; Steinke 2021), so that any h honest nodes alone reach σ_b².</item>
/// </list>
/// The study's ρ is split evenly over its <see cref="Rounds"/> (1 moments round, max_iterations Newton rounds and,
/// with a holdout, the evaluation round: sequential composition, Bun &amp; Steinke 2016 Lemma 1.7) and within a round
/// over its blocks by fixed fractions; block b with integer-domain sensitivity Δ_b (= C_b·s + √d/2 for scale s, the
/// per-patient rounding term of <see cref="Clipping.EncodedL2Sensitivity"/>; none for counts) gets σ_b,int = Δ_b/√(2·f_b·ρ_round),
/// so the round states Σ_b Δ_b²/(2σ_b²) = ρ_round exactly (<see cref="SpentBy"/>). What the sum of the shares really spends is
/// <see cref="TrueSpentBy"/> (Kairouz, Liu &amp; Steinke 2021, Prop. 14); count blocks are encoded at a power-of-two scale
/// (<see cref="IntegerScale"/>) that makes the difference negligible.
/// </summary>
public sealed record GlmPrivacy
{
    /// <summary>Block of the moments round under DP: the noisy number of rows (the count block then carries only nodes).</summary>
    public const string RowCount = "row_count";

    /// <summary>Block of a Newton round under DP: the score Σ w(y − μ)μ'/V·x̃ (canonical links: Σ w(y − μ)x̃).</summary>
    public const string Score = "score";

    /// <summary>How far (in the block's σ) the codec's per-party limit stays above the clipped values: room for the noise.</summary>
    internal const double NoiseMargin = 40;

    public GlmPrivacy(double rho, int rounds, int minHonestNodes, int maxRowsPerPatient, IReadOnlyList<FeatureBound> featureBounds)
    {
        if (!(rho > 0) || !double.IsFinite(rho))
        {
            throw new ArgumentOutOfRangeException(nameof(rho), "rho must be positive and finite");
        }

        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rounds);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minHonestNodes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxRowsPerPatient);
        ArgumentNullException.ThrowIfNull(featureBounds);
        if (featureBounds.Any(b => !(b.High > b.Low) || !double.IsFinite(b.Low) || !double.IsFinite(b.High)))
        {
            throw new ArgumentException("every feature bound needs finite low < high", nameof(featureBounds));
        }

        Rho = rho;
        Rounds = rounds;
        MinHonestNodes = minHonestNodes;
        MaxRowsPerPatient = maxRowsPerPatient;
        FeatureBounds = [.. featureBounds];
    }

    /// <summary>The study's planned zCDP ρ at each node (parameters.dp_rho).</summary>
    public double Rho { get; }

    /// <summary>Aggregations the ρ is split over: 1 + max_iterations (+ 1 with a holdout).</summary>
    public int Rounds { get; }

    /// <summary>h: the honest nodes whose shares alone reach the target noise (parameters.dp_min_honest_nodes, default min_nodes − 1).</summary>
    public int MinHonestNodes { get; }

    /// <summary>K: rows (patient-years) a patient contributes at most.</summary>
    public int MaxRowsPerPatient { get; }

    public IReadOnlyList<FeatureBound> FeatureBounds { get; }

    /// <summary>ρ of one aggregation.</summary>
    public double RoundRho => Rho / Rounds;

    /// <summary>A row's raw features clipped to their declared bounds (the first step of every DP statistic on a row).</summary>
    public void ClipFeatures(ReadOnlySpan<double> row, Span<double> into)
    {
        for (int j = 0; j < into.Length; j++)
        {
            into[j] = FeatureBounds[j].Clip(row[j]);
        }
    }

    /// <summary>x̃ = (x − (lo + hi)/2)/((hi − lo)/2) ∈ [−1, 1]: the design scale under DP, from public bounds only.</summary>
    public GlmStandardization Standardization() =>
        new([.. FeatureBounds.Select(b => (b.Low + b.High) / 2)], [.. FeatureBounds.Select(b => (b.High - b.Low) / 2)]);

    /// <summary>
    /// Share f_b of the round's ρ for block <paramref name="name"/>. Newton rounds: Hessian 0.4, score 0.4, deviance 0.1,
    /// AIC or Pearson 0.1 (the coefficients depend on the first two only). Moments: equal shares. Evaluation: histograms
    /// 0.35 each, the rest equal. The count block (nodes taking part, not patient data) gets none.
    /// </summary>
    public static double Fraction(IReadOnlyList<FixedPointBlock> layout, string name)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (name == GlmLayout.Count)
        {
            return 0;
        }

        var noised = layout.Where(b => b.Name != GlmLayout.Count).Select(b => b.Name).ToList();
        if (noised.Contains(Score))
        {
            return name switch { GlmLayout.Xtwx or Score => 0.4, _ => 0.2 / (noised.Count - 2) };
        }

        if (noised.Contains(GlmEvaluation.Positives))
        {
            return name is GlmEvaluation.Positives or GlmEvaluation.Negatives ? 0.35 : 0.3 / (noised.Count - 2);
        }

        return 1.0 / noised.Count;
    }

    /// <summary>
    /// The real-domain standard deviation σ_b the noise of block <paramref name="block"/> must reach in the sum (h honest
    /// nodes' shares together) for per-patient clip <paramref name="clip"/>: (C_b + √d/(2s))/√(2·f_b·ρ_round), the √d/(2s)
    /// rounding term dropped for integer blocks.
    /// </summary>
    public double TargetSigma(IReadOnlyList<FixedPointBlock> layout, FixedPointBlock block, double clip)
    {
        ArgumentNullException.ThrowIfNull(block);
        return RoundNoise.TargetSigma(block, Noise(layout, block, clip), RoundRho);
    }

    /// <summary>Each node's share: σ_b²/h per block (0 for the unnoised count block).</summary>
    public double[] NodeVariances(IReadOnlyList<FixedPointBlock> layout, Func<string, double> clip)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(clip);
        return RoundNoise.NodeVariances(layout, b => Noise(layout, b, clip), RoundRho, MinHonestNodes);
    }

    /// <summary>zCDP ρ one aggregation of <paramref name="layout"/> spends with these clips and the σ of <see cref="TargetSigma"/>: Σ Δ_int²/(2σ_int²).</summary>
    public double SpentBy(IReadOnlyList<FixedPointBlock> layout, Func<string, double> clip)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(clip);
        return RoundNoise.SpentBy(layout, b => Noise(layout, b, clip), RoundRho);
    }

    /// <summary>
    /// The ρ one aggregation of <paramref name="layout"/> really spends as a sum of h … <paramref name="maxShares"/> honest discrete
    /// Gaussian shares (<see cref="RoundNoise.TrueRho"/>; Kairouz, Liu &amp; Steinke 2021, Prop. 14).
    /// </summary>
    public double TrueSpentBy(IReadOnlyList<FixedPointBlock> layout, Func<string, double> clip, int maxShares)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(clip);
        return RoundNoise.TrueRho(layout, b => Noise(layout, b, clip), RoundRho, MinHonestNodes, maxShares);
    }

    /// <summary>
    /// The scale of integer block <paramref name="block"/> (row and histogram counts) with per-patient bound <paramref name="clip"/>:
    /// the smallest power of two lifting one share's integer σ to <see cref="DistributedDiscreteGaussian.NegligibleShareSigma"/>.
    /// </summary>
    public double IntegerScale(IReadOnlyList<FixedPointBlock> layout, FixedPointBlock block, double clip)
    {
        ArgumentNullException.ThrowIfNull(block);
        return RoundNoise.IntegerScale(Noise(layout, block, clip), RoundRho, MinHonestNodes);
    }

    /// <summary>Adds this node's discrete Gaussian share to an encoded vector, block by block (unnoised blocks skipped).</summary>
    public static void AddNoise(long[] encoded, IReadOnlyList<FixedPointBlock> layout, IReadOnlyList<double> nodeVariances, IRandomBitSource random) =>
        RoundNoise.AddNoise(encoded, layout, nodeVariances, random);

    /// <summary>
    /// C_b: the L2 bound each patient's total contribution to block <paramref name="block"/> is clipped to (real domain,
    /// design scale x̃ ∈ [−1, 1]). Chosen as K × the largest per-row contribution the declared bounds allow, so the clip
    /// binds only on values outside them (e.g. a Poisson mean past MaxAbsMean at a wild β); it is a hard bound either way.
    /// Per row: the Hessian's upper triangle W·x̃x̃' has L2 norm ≤ W·√((q² + Σx̃⁴)/2) ≤ W·√(p(p + 1)/2) (q = ‖x̃‖² ≤ p);
    /// the score w(y − μ)x̃ ≤ w·max|y − μ|·√p; deviance, AIC and Pearson terms as <see cref="GlmBounds"/> bounds them.
    /// </summary>
    public double Clip(GlmSpec spec, string block)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var b = spec.Bounds;
        var f = spec.Family;
        double k = MaxRowsPerPatient, w = b.MaxWeight, p = spec.Coefficients, m = GlmEvaluation.PredictionBound(b);
        return block switch
        {
            RowCount or GlmEvaluation.Positives or GlmEvaluation.Negatives or GlmEvaluation.CountBlock => k,
            GlmLayout.WeightSum => k * w,
            GlmLayout.ResponseSum => k * w * b.Response(f),
            GlmLayout.OffsetSum => k * w * GlmMath.OffsetStatistic(f, b.MaxAbsOffset),
            GlmLayout.Xtwx => k * b.RowWorkingWeight(f) * Math.Sqrt(p * (p + 1) / 2),
            Score => k * w * RowResidual(spec) * Math.Sqrt(p),
            GlmLayout.Deviance or GlmLayout.Pearson => k * b.RowDeviance(f, b.Mean(f)),
            GlmLayout.Aic => k * b.RowAic(f),
            GlmEvaluation.BrierSum => k,
            GlmEvaluation.SquaredErrorSum => k * 4 * m * m,
            GlmEvaluation.AbsoluteErrorSum => k * 2 * m,
            GlmEvaluation.ResponseSumBlock => k * m,
            GlmEvaluation.ResponseSquareSum => k * m * m,
            _ => throw new ArgumentException($"No per-patient bound for block '{block}'.", nameof(block)),
        };
    }

    /// <summary>The response as the DP fit uses it: clipped to [0, 1] (binomial), [0, Y] (Poisson) or [−Y, Y] (Gaussian).</summary>
    public static double ClipResponse(GlmSpec spec, double y)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Math.Clamp(y, spec.Family == GlmFamily.Gaussian ? -spec.Bounds.MaxAbsResponse : 0, spec.Bounds.Response(spec.Family));
    }

    /// <summary>The offset as the DP fit uses it: clipped to [−O, O].</summary>
    public static double ClipOffset(GlmSpec spec, double offset)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Math.Clamp(offset, -spec.Bounds.MaxAbsOffset, spec.Bounds.MaxAbsOffset);
    }

    /// <summary>Largest |y − μ| with y and μ inside the declared bounds: 1 (binomial), Y + M otherwise.</summary>
    internal static double RowResidual(GlmSpec spec) =>
        spec.Family == GlmFamily.Binomial ? 1 : spec.Bounds.Response(spec.Family) + spec.Bounds.Mean(spec.Family);

    private static BlockNoise Noise(IReadOnlyList<FixedPointBlock> layout, FixedPointBlock block, double clip) =>
        new(Fraction(layout, block.Name), clip, IsIntegerBlock(block.Name));

    private static BlockNoise Noise(IReadOnlyList<FixedPointBlock> layout, FixedPointBlock block, Func<string, double> clip) =>
        Fraction(layout, block.Name) == 0 ? default : Noise(layout, block, clip(block.Name));

    /// <summary>Blocks of whole counts (rows, histogram bins): encoded exactly at an integer scale, so without a rounding term.</summary>
    internal static bool IsIntegerBlock(string name) =>
        name is RowCount or GlmEvaluation.Positives or GlmEvaluation.Negatives || name == GlmEvaluation.CountBlock;
}
