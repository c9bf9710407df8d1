using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.FedAvg;

/// <summary>
/// FedAvg under differential privacy: DP-FedSGD with user-level clipping (McMahan, Ramage, Talwar &amp; Zhang 2018,
/// "Learning Differentially Private Recurrent Language Models"), the user being the patient. Locally trained L-BFGS
/// weights have no per-patient sensitivity bound, so with dp_rho each round every node instead computes, at the point
/// the coordinator sends, the gradient of the logistic log-likelihood summed over each patient's (at most K) rows,
/// clips that patient total to L2 ≤ C (<see cref="Clipping.ClipToL2Norm"/>), rounds it to the fixed-point grid and adds the
/// rounded totals exactly in integers (<see cref="EncodedPatientSum"/>), appends its row count, and adds its discrete Gaussian
/// share per block (<see cref="RoundNoise"/>, the DP GLM's arithmetic) before encryption. One patient moves the encoded
/// gradient block by ≤ C·s + √(p+1)/2 and the row count by ≤ K (times its scale). Every node uses all its rows every
/// round (no sampling), so no subsampling amplification is claimed: each round spends ρ/R, R = the study's rounds.
/// The coordinator takes a Nesterov momentum step on the noisy mean gradient (post-processing, no privacy cost).
/// Features are on the DP GLM's design scale x̃ ∈ [−1, 1] from the declared bounds (<see cref="GlmPrivacy.Standardization"/>).
/// </summary>
public sealed record FedAvgPrivacy
{
    /// <summary>Block: Σ over patients of the clipped Σ_rows (y − μ)·(1, x̃) (p + 1 values, intercept first).</summary>
    public const string Gradient = "gradient";

    /// <summary>Share of each round's ρ spent on the gradient; the row count gets the rest.</summary>
    public const double GradientFraction = 0.9;

    public FedAvgPrivacy(GlmPrivacy dp, int features, double? clip, double? learningRate, double momentum)
    {
        ArgumentNullException.ThrowIfNull(dp);
        Dp = dp;
        Features = features;
        // Default C: the largest a patient's K rows can give (|y − μ| ≤ 1, ‖(1, x̃)‖ ≤ √(p + 1)), so the clip binds only on
        // rows outside the declared bounds and with a huge ρ the fit tends to the logistic MLE. A smaller dp_clip trades
        // bias for noise (McMahan et al. 2018 clip at about the median update norm).
        Clip = clip ?? (dp.MaxRowsPerPatient * Math.Sqrt(features + 1));
        // Default η = 1/L with L = (p + 1)/4 ≥ the largest eigenvalue of the mean per-row Hessian of the log-likelihood
        // (μ(1 − μ) ≤ 1/4, ‖(1, x̃)‖² ≤ p + 1): gradient steps of that size cannot diverge whatever the data.
        LearningRate = learningRate ?? (4.0 / (features + 1));
        Momentum = momentum;
        if (!(Clip > 0) || !(LearningRate > 0) || !(momentum >= 0 && momentum < 1))
        {
            throw new ArgumentException("dp_clip and learning_rate must be positive and momentum in [0, 1)");
        }
    }

    public GlmPrivacy Dp { get; }

    public int Features { get; }

    /// <summary>C: the L2 bound of one patient's gradient total.</summary>
    public double Clip { get; }

    public double LearningRate { get; }

    public double Momentum { get; }

    /// <summary>
    /// Gradient (p + 1 values, scale for MaxRowsPerNode·C plus the noise margin), then the row count: a count, at the
    /// power-of-two scale that makes the sum of the nodes' shares as private as stated but for a negligible term
    /// (<see cref="RoundNoise.IntegerScale"/>; Kairouz, Liu &amp; Steinke 2021, Prop. 14).
    /// </summary>
    public IReadOnlyList<FixedPointBlock> Layout(long maxRowsPerNode, int maxParties)
    {
        var provisional = new FixedPointBlock(Gradient, Features + 1, 1);
        var bound = (maxRowsPerNode * Clip) + (GlmPrivacy.NoiseMargin * RoundNoise.TargetSigma(provisional, Noise(provisional), Dp.RoundRho));
        var rows = new FixedPointBlock(GlmPrivacy.RowCount, 1, 1);
        var rowsScale = RoundNoise.IntegerScale(Noise(rows), Dp.RoundRho, Dp.MinHonestNodes);
        var rowsBound = maxRowsPerNode + (GlmPrivacy.NoiseMargin * RoundNoise.TargetSigma(rows, Noise(rows), Dp.RoundRho));
        if (rowsScale > GlmLayout.ScaleFor(rowsBound, maxParties))
        {
            throw new ArgumentException(FormattableString.Invariant($"{maxRowsPerNode} rows per node at the row count's scale {rowsScale} exceed the codec's per-party limit for {maxParties} parties: declare a smaller max_rows_per_node or a smaller dp_rho."));
        }

        return [new(Gradient, Features + 1, GlmLayout.ScaleFor(bound, maxParties)), rows with { Scale = rowsScale }];
    }

    /// <summary>Block b's share of the round's ρ and per-patient clip: gradient 0.9·ρ_r with C; row count 0.1·ρ_r with K (an integer).</summary>
    public BlockNoise Noise(FixedPointBlock block)
    {
        ArgumentNullException.ThrowIfNull(block);
        return block.Name switch
        {
            Gradient => new(GradientFraction, Clip, false),
            GlmPrivacy.RowCount => new(1 - GradientFraction, Dp.MaxRowsPerPatient, true),
            _ => throw new ArgumentException($"No per-patient bound for block '{block.Name}'.", nameof(block)),
        };
    }

    /// <summary>Each node's discrete Gaussian variance per block: σ_b²/h.</summary>
    public double[] NodeVariances(IReadOnlyList<FixedPointBlock> layout) => RoundNoise.NodeVariances(layout, Noise, Dp.RoundRho, Dp.MinHonestNodes);

    /// <summary>ρ one round states (equals ρ/R by construction; tested).</summary>
    public double SpentBy(IReadOnlyList<FixedPointBlock> layout) => RoundNoise.SpentBy(layout, Noise, Dp.RoundRho);

    /// <summary>ρ one round really spends as a sum of h … <paramref name="maxShares"/> honest shares (<see cref="RoundNoise.TrueRho"/>).</summary>
    public double TrueSpentBy(IReadOnlyList<FixedPointBlock> layout, int maxShares) => RoundNoise.TrueRho(layout, Noise, Dp.RoundRho, Dp.MinHonestNodes, maxShares);

    /// <summary>
    /// A node's round vector before noise, encoded: Σ_patients round(s·clip_C(Σ_{≤K rows} (y − σ(η))·(1, x̃))), then the rows used
    /// (times their scale), each patient's part added exactly in integers. Raw features are clipped to their declared bounds and
    /// y to [0, 1] first; prior weights are not used (FedAvg rows carry none).
    /// </summary>
    public long[] NodeGradient(GlmData data, IReadOnlyList<double> point, FixedPointCodec codec)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(codec);
        int d = Features + 1;
        if (data.Features != Features || point.Count != d)
        {
            throw new ArgumentException($"The rows need {Features} features and the point {d} values.", nameof(point));
        }

        var std = Dp.Standardization();
        var sum = new EncodedPatientSum(codec.Blocks);
        var patient = new double[d + 1];
        Span<double> raw = stackalloc double[Features];
        Span<double> x = stackalloc double[d];
        foreach (var rows in data.RowsByPatient(Dp.MaxRowsPerPatient))
        {
            Array.Clear(patient);
            foreach (var i in rows)
            {
                Dp.ClipFeatures(data.Row(i), raw);
                std.Standardize(raw, x);
                double eta = 0;
                for (int j = 0; j < d; j++)
                {
                    eta += x[j] * point[j];
                }

                double residual = Math.Clamp(data.Y[i], 0, 1) - GlmMath.LinkInverse(GlmFamily.Binomial, eta);
                for (int j = 0; j < d; j++)
                {
                    patient[j] += residual * x[j];
                }
            }

            Clipping.ClipToL2Norm(patient.AsSpan(0, d), Clip);
            patient[d] = rows.Count;
            sum.Add(patient);
        }

        return sum.ToEncoded(codec);
    }

    /// <summary>
    /// The coordinator's optimizer, replayed from the decoded noisy sums of the rounds so far (Nesterov's accelerated
    /// gradient in the look-ahead form of Sutskever et al. 2013): from θ₀ = 0, v₀ = 0, round t is evaluated at
    /// φ_t = θ_{t−1} + μ·v_{t−1}; then v_t = μ·v_{t−1} + η·ḡ_t and θ_t = θ_{t−1} + v_t, with ḡ_t = G_t / max(n_t, 1) the noisy
    /// mean per-row gradient. Momentum because plain gradient steps of the safe size 1/L crawl along the ill-conditioned
    /// directions (rare binary features are nearly collinear with the intercept on the [−1, 1] scale); it is
    /// post-processing of released sums, so it spends nothing.
    /// </summary>
    public (double[] Theta, double[] NextPoint) Replay(IEnumerable<double[]> decodedSums)
    {
        ArgumentNullException.ThrowIfNull(decodedSums);
        int d = Features + 1;
        var theta = new double[d];
        var velocity = new double[d];
        foreach (var sum in decodedSums)
        {
            if (sum.Length != d + 1 || !sum.All(double.IsFinite))
            {
                throw new ArgumentException($"A DP-FedAvg sum has {d + 1} finite values.", nameof(decodedSums));
            }

            double n = Math.Max(sum[d], 1);
            for (int j = 0; j < d; j++)
            {
                velocity[j] = (Momentum * velocity[j]) + (LearningRate * sum[j] / n);
                theta[j] += velocity[j];
            }
        }

        return (theta, [.. theta.Select((t, j) => t + (Momentum * velocity[j]))]);
    }

    /// <summary>(intercept, coefficients) on the features' own scale from θ on the x̃ scale.</summary>
    public double[] ToOriginalScale(IReadOnlyList<double> theta)
    {
        var std = Dp.Standardization();
        var identity = new double[theta.Count, theta.Count];
        return std.ToOriginalScale(theta, identity).Coefficients;
    }
}
