using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Crypto.Codec;
using FederatedTwin.Protocol.Models.Evaluation;

namespace FederatedTwin.Protocol.Models.Glm;

/// <summary>
/// Federated evaluation of a fitted GLM on each node's held-out patients (a patient-level split the node
/// makes from its own pseudonyms, so no patient is in both): one more encrypted aggregation after the fit.
/// Binomial models send a histogram of predicted risk by outcome (AUC by Mann–Whitney over bins, calibration
/// by decile: protocol/Models/Evaluation) and the Brier sum; count models and Gaussian models send error sums
/// (RMSE, MAE, R² = 1 − SSE/SST from Σy and Σy²). Only these sums leave a node.
/// </summary>
public static class GlmEvaluation
{
    /// <summary>Risk histogram resolution: the AUC from binned scores differs from the exact one by at most half the share of tied pairs.</summary>
    public const int Bins = 1000;

    public static IReadOnlyList<FixedPointBlock> Layout(GlmStudy glm)
    {
        var spec = glm.Spec;
        var rows = spec.Bounds.MaxRowsPerNode;
        if (spec.Family == GlmFamily.Binomial)
        {
            return
            [
                new("positives", Bins, 1),
                new("negatives", Bins, 1),
                new("brier_sum", 1, GlmLayout.ScaleFor(rows, spec.MaxParties)),
                new("count", 1, 1),
            ];
        }

        var m = PredictionBound(glm);
        return
        [
            new("count", 1, 1),
            new("squared_error_sum", 1, GlmLayout.ScaleFor(rows * 4 * m * m, spec.MaxParties)),
            new("absolute_error_sum", 1, GlmLayout.ScaleFor(rows * 2 * m, spec.MaxParties)),
            new("response_sum", 1, GlmLayout.ScaleFor(rows * m, spec.MaxParties)),
            new("response_square_sum", 1, GlmLayout.ScaleFor(rows * m * m, spec.MaxParties)),
        ];
    }

    /// <summary>Predictions are clamped to ±4·(max |y| + 1) (the GLM bounds' mean bound) so one wild extrapolation cannot break the codec.</summary>
    private static double PredictionBound(GlmStudy glm) => 4 * (glm.Spec.Bounds.MaxAbsResponse + 1);

    /// <summary>A node's evaluation vector for its held-out rows, given the fitted coefficients on the features' own scale (intercept first).</summary>
    public static double[] Compute(GlmStudy glm, IReadOnlyList<double> coefficients, GlmData heldOut)
    {
        ArgumentNullException.ThrowIfNull(glm);
        ArgumentNullException.ThrowIfNull(coefficients);
        ArgumentNullException.ThrowIfNull(heldOut);
        if (coefficients.Count != glm.Spec.Coefficients)
        {
            throw new ArgumentException($"The model has {coefficients.Count} coefficients; the study defines {glm.Spec.Coefficients}.", nameof(coefficients));
        }

        var m = PredictionBound(glm);
        if (glm.Spec.Family == GlmFamily.Binomial)
        {
            var histogram = new ScoreHistogram(Bins);
            double brier = 0;
            for (var i = 0; i < heldOut.Rows; i++)
            {
                var p = 1 / (1 + Math.Exp(-Eta(coefficients, heldOut, i)));
                var y = heldOut.Y[i];
                histogram.Add(p, y >= 0.5);
                brier += (p - y) * (p - y);
            }

            return [.. histogram.Positives.Select(v => (double)v), .. histogram.Negatives.Select(v => (double)v), brier, heldOut.Rows];
        }

        double sse = 0, sae = 0, sy = 0, syy = 0;
        for (var i = 0; i < heldOut.Rows; i++)
        {
            var eta = Eta(coefficients, heldOut, i);
            var mu = Math.Clamp(glm.Spec.Family == GlmFamily.Poisson ? Math.Exp(Math.Min(eta, 700)) : eta, -m, m);
            var y = Math.Clamp(heldOut.Y[i], -m, m);
            sse += (y - mu) * (y - mu);
            sae += Math.Abs(y - mu);
            sy += y;
            syy += y * y;
        }

        return [heldOut.Rows, sse, sae, sy, syy];
    }

    /// <summary>What the analyst sees: AUC, calibration and Brier score, or RMSE, MAE and R², with the held-out size.</summary>
    public static JsonObject Summarize(GlmStudy glm, ReadOnlySpan<double> sum)
    {
        ArgumentNullException.ThrowIfNull(glm);
        if (glm.Spec.Family == GlmFamily.Binomial)
        {
            var histogram = new ScoreHistogram(Bins);
            for (var b = 0; b < Bins; b++)
            {
                histogram.Positives[b] = (long)Math.Round(sum[b]);
                histogram.Negatives[b] = (long)Math.Round(sum[Bins + b]);
            }

            var n = (long)Math.Round(sum[(2 * Bins) + 1]);
            var positives = histogram.Positives.Sum();
            return new JsonObject
            {
                ["held_out_rows"] = n,
                ["held_out_positives"] = positives,
                ["auc"] = positives > 0 && positives < n ? histogram.Auc() : null,
                ["brier"] = n > 0 ? BrierScore.FromAggregate(sum[2 * Bins], n) : null,
                ["calibration"] = new JsonArray([.. DecileCalibration.Compute(histogram).Select(g => (JsonNode)new JsonObject
                {
                    ["count"] = g.Count,
                    ["mean_predicted"] = g.MeanPredicted,
                    ["observed_rate"] = g.ObservedRate,
                })]),
            };
        }

        var rows = (long)Math.Round(sum[0]);
        var sst = sum[4] - (rows > 0 ? sum[3] * sum[3] / rows : 0);
        return new JsonObject
        {
            ["held_out_rows"] = rows,
            ["rmse"] = rows > 0 ? Math.Sqrt(Math.Max(0, sum[1]) / rows) : null,
            ["mae"] = rows > 0 ? sum[2] / rows : null,
            ["r_squared"] = rows > 1 && sst > 0 ? 1 - (sum[1] / sst) : null,
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
