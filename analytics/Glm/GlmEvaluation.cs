using FederatedTwin.Analytics.Registry;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Evaluation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// Federated evaluation of a fitted GLM on each node's held-out patients (a patient-level split the node
/// makes from its own pseudonyms, so no patient is in both): one more encrypted aggregation after the fit.
/// Binomial models send a histogram of predicted risk by outcome (AUC by Mann–Whitney over bins, calibration
/// by decile: analytics/Evaluation) and the Brier sum; count models and Gaussian models send error sums
/// (RMSE, MAE, R² = 1 − SSE/SST from Σy and Σy²). Only these sums leave a node.
/// </summary>
public static class GlmEvaluation
{
    /// <summary>Risk histogram resolution: the AUC from binned scores differs from the exact one by at most half the share of tied pairs.</summary>
    public const int Bins = 1000;

    /// <summary>
    /// Under differential privacy every bin carries noise of the same size whatever its count, so fewer, wider bins keep
    /// the noise in the AUC and calibration small (the binning bound on the AUC grows to half the tied share in 20 bins).
    /// </summary>
    public const int PrivateBins = 20;

    public const string Positives = "positives";
    public const string Negatives = "negatives";
    public const string BrierSum = "brier_sum";
    public const string CountBlock = "held_out_rows";
    public const string SquaredErrorSum = "squared_error_sum";
    public const string AbsoluteErrorSum = "absolute_error_sum";
    public const string ResponseSumBlock = "held_out_response_sum";
    public const string ResponseSquareSum = "response_square_sum";

    public static int BinsFor(GlmSpec spec) => spec?.Privacy is null ? Bins : PrivateBins;

    public static IReadOnlyList<FixedPointBlock> Layout(GlmStudy glm)
    {
        ArgumentNullException.ThrowIfNull(glm);
        var spec = glm.Spec;
        var rows = spec.Bounds.MaxRowsPerNode;
        var m = PredictionBound(spec.Bounds);
        var bins = BinsFor(spec);
        (string Name, int Length, double Bound, bool Integer)[] blocks = spec.Family == GlmFamily.Binomial
            ? [(Positives, bins, rows, true), (Negatives, bins, rows, true), (BrierSum, 1, rows, false), (CountBlock, 1, rows, true)]
            : [(CountBlock, 1, rows, true), (SquaredErrorSum, 1, rows * 4 * m * m, false), (AbsoluteErrorSum, 1, rows * 2 * m, false), (ResponseSumBlock, 1, rows * m, false), (ResponseSquareSum, 1, rows * m * m, false)];
        return GlmLayout.WithNoiseMargin(spec, [.. blocks.Select(b => (b.Name, b.Length, b.Bound))], integerBlocks: [.. blocks.Where(b => b.Integer).Select(b => b.Name)]);
    }

    /// <summary>Predictions are clamped to ±4·(max |y| + 1) (the GLM bounds' mean bound) so one wild extrapolation cannot break the codec.</summary>
    internal static double PredictionBound(GlmBounds bounds) => 4 * (bounds.MaxAbsResponse + 1);

    /// <summary>
    /// A node's evaluation vector for its held-out rows, given the fitted coefficients on the features' own scale (intercept
    /// first). Under DP it is the decoded integer sum of <see cref="Encode"/>, exactly what the node sends before its noise.
    /// </summary>
    public static double[] Compute(GlmStudy glm, IReadOnlyList<double> coefficients, GlmData heldOut)
    {
        Check(glm, coefficients, heldOut);
        if (glm.Spec.Privacy is not null)
        {
            return new FixedPointCodec(Layout(glm), glm.Spec.MaxParties).Decode(Encode(glm, coefficients, heldOut));
        }

        var v = new double[Layout(glm).Sum(b => b.Length)];
        Accumulate(glm, coefficients, heldOut, Enumerable.Range(0, heldOut.Rows), v);
        return v;
    }

    /// <summary>
    /// The evaluation vector as the fixed-point integers the node encrypts (before its noise share). Under DP: at most K rows
    /// per patient and the response clipped to its declared bounds, as in the fit; each patient's contribution to each block
    /// clipped to the block's bound (<see cref="GlmPrivacy.Clip"/>; the histograms and the row count are at most K by the cap),
    /// rounded to the block's fixed-point grid and added exactly in integers (<see cref="EncodedPatientSum"/>), so one patient
    /// moves block b by at most C_b·s_b + √d_b/2 (K·s for counts), the sensitivity the round's noise is sized for.
    /// </summary>
    public static long[] Encode(GlmStudy glm, IReadOnlyList<double> coefficients, GlmData heldOut)
    {
        Check(glm, coefficients, heldOut);
        var layout = Layout(glm);
        var codec = new FixedPointCodec(layout, glm.Spec.MaxParties);
        if (glm.Spec.Privacy is not { } dp)
        {
            return codec.Encode(Compute(glm, coefficients, heldOut));
        }

        var sum = new EncodedPatientSum(layout);
        var patient = new double[codec.Length];
        foreach (var rows in heldOut.RowsByPatient(dp.MaxRowsPerPatient))
        {
            Array.Clear(patient);
            Accumulate(glm, coefficients, heldOut, rows, patient);
            int at = 0;
            foreach (var block in layout)
            {
                if (!GlmPrivacy.IsIntegerBlock(block.Name))
                {
                    Clipping.ClipToL2Norm(patient.AsSpan(at, block.Length), dp.Clip(glm.Spec, block.Name));
                }

                at += block.Length;
            }

            sum.Add(patient);
        }

        return sum.ToEncoded(codec);
    }

    private static void Check(GlmStudy glm, IReadOnlyList<double> coefficients, GlmData heldOut)
    {
        ArgumentNullException.ThrowIfNull(glm);
        ArgumentNullException.ThrowIfNull(coefficients);
        ArgumentNullException.ThrowIfNull(heldOut);
        if (coefficients.Count != glm.Spec.Coefficients)
        {
            throw new ArgumentException($"The model has {coefficients.Count} coefficients; the study defines {glm.Spec.Coefficients}.", nameof(coefficients));
        }
    }

    /// <summary>
    /// Adds the rows' contributions to <paramref name="into"/>, laid out as <see cref="Layout"/>: binomial, the risk histogram
    /// by outcome, the Brier sum and the row count; otherwise the row count and the error and response sums.
    /// </summary>
    private static void Accumulate(GlmStudy glm, IReadOnlyList<double> coefficients, GlmData heldOut, IEnumerable<int> rows, Span<double> into)
    {
        var m = PredictionBound(glm.Spec.Bounds);
        if (glm.Spec.Family == GlmFamily.Binomial)
        {
            var bins = BinsFor(glm.Spec);
            var histogram = new ScoreHistogram(bins);
            foreach (var i in rows)
            {
                var p = 1 / (1 + Math.Exp(-Eta(coefficients, heldOut, i)));
                var y = Math.Clamp(heldOut.Y[i], 0, 1);
                into[(y >= 0.5 ? 0 : bins) + histogram.BinOf(p)]++;
                into[2 * bins] += (p - y) * (p - y);
                into[(2 * bins) + 1]++;
            }

            return;
        }

        foreach (var i in rows)
        {
            var eta = Eta(coefficients, heldOut, i);
            var mu = Math.Clamp(glm.Spec.Family == GlmFamily.Poisson ? Math.Exp(Math.Min(eta, 700)) : eta, -m, m);
            var y = Math.Clamp(heldOut.Y[i], -m, m);
            into[0]++;
            into[1] += (y - mu) * (y - mu);
            into[2] += Math.Abs(y - mu);
            into[3] += y;
            into[4] += y * y;
        }
    }

    /// <summary>
    /// What the analyst sees: AUC, calibration and Brier score, or RMSE, MAE and R², with the held-out size. The counts among them are
    /// counts of patient-years like any census cell, so they follow the same minimum cell size whether or not the study adds noise
    /// (CMS cell size suppression policy): the calibration groups are published as the table risk group × (with, without the outcome)
    /// with its margins (each group's size, the held-out positives and the held-out total), small cells hidden with their complements
    /// (<see cref="CountTableRelease"/>); a group's observed rate is its positives over its size, so it is shown only with both.
    /// </summary>
    public static GlmEvaluationSummary Summarize(GlmStudy glm, ReadOnlySpan<double> sum, int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(glm);
        if (glm.Spec.Family == GlmFamily.Binomial)
        {
            var bins = BinsFor(glm.Spec);
            var histogram = new ScoreHistogram(bins);
            for (var b = 0; b < bins; b++)
            {
                // Noisy counts (DP) rounded to non-negative integers: post-processing, no privacy cost.
                histogram.Positives[b] = Math.Max(0, (long)Math.Round(sum[b]));
                histogram.Negatives[b] = Math.Max(0, (long)Math.Round(sum[bins + b]));
            }

            var n = Math.Max(0, (long)Math.Round(sum[(2 * bins) + 1]));
            var positives = histogram.Positives.Sum();
            var groups = DecileCalibration.Compute(histogram);
            var table = CountTableRelease.Publish(
                "calibration", [[.. groups.Select((_, g) => (g + 1).ToString(System.Globalization.CultureInfo.InvariantCulture))], ["with the outcome", "without"]],
                [.. groups.SelectMany(g => new[] { g.Positives, g.Count - g.Positives })], minimumCellSize);
            return new BinomialEvaluation
            {
                // The row count is its own (noisy) sum; with exact counts it is the table's total, so it is hidden with it.
                HeldOutRows = n >= minimumCellSize && table.Get(groups.Count, 2) is not null ? n : null,
                HeldOutPositives = table.Get(groups.Count, 0),
                Auc = positives > 0 && positives < n ? histogram.Auc() : null,
                Brier = n > 0 ? BrierScore.FromAggregate(Math.Max(0, sum[2 * bins]), n) : null,
                Calibration = [.. groups.Select((g, i) => new CalibrationGroupDocument(
                    table.Get(i, 2), g.MeanPredicted, table.Get(i, 0) is not null && table.Get(i, 2) is not null ? g.ObservedRate : null))],
            };
        }

        var rows = Math.Max(0, (long)Math.Round(sum[0]));
        var sst = sum[4] - (rows > 0 ? sum[3] * sum[3] / rows : 0);
        return new ContinuousEvaluation
        {
            HeldOutRows = rows >= minimumCellSize ? rows : null,
            Rmse = rows > 0 ? Math.Sqrt(Math.Max(0, sum[1]) / rows) : null,
            Mae = rows > 0 ? sum[2] / rows : null,
            RSquared = rows > 1 && sst > 0 ? 1 - (sum[1] / sst) : null,
        };
    }

    private static double Eta(IReadOnlyList<double> beta, GlmData data, int row)
    {
        var x = data.Row(row);
        var eta = beta[0] + data.OffsetAt(row);
        for (var j = 0; j < x.Length; j++)
        {
            eta += beta[j + 1] * x[j];
        }

        return eta;
    }
}
