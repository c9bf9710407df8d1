using FederatedTwin.Analytics.Registry;
using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;
using Xunit.Abstractions;
using static FederatedTwin.Analytics.Tests.GlmReferenceTests;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// Federated evaluation of a federated logistic fit on three non-IID sites' held-out patients, as the services run
/// it: each site splits its patients with <see cref="GlmStudy.IsHeldOut"/>, the model is fitted on the rest, each
/// site's <see cref="GlmEvaluation.Compute"/> vector goes through the fixed-point codec and is summed modulo 2^64
/// (what the decrypted threshold sum is), and the coordinator's <see cref="GlmEvaluation.Summarize"/> reads it.
/// The reference is computed here from the pooled held-out rows' raw predicted probabilities.
/// </summary>
public class GlmEvaluationTests(ITestOutputHelper output)
{
    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "copd", "diabetes", "prior_admissions"];

    /// <summary>A site's case mix: patients, mean age, condition prevalence multiplier, and a site effect on the log-odds.</summary>
    private sealed record Site(string Name, int Patients, double MeanAge, double Prevalence, double Shift);

    private static readonly Site[] Sites =
    [
        new("urban", 1500, 58, 1.0, 0.1),
        new("rural", 1200, 66, 1.3, -0.2),
        new("safety-net", 900, 49, 1.5, 0.3),
    ];

    [Fact]
    public void Federated_auc_and_brier_equal_the_pooled_held_out_values()
    {
        var maxParties = RlweThresholdScheme.Default.MaxParties;
        var glm = GlmStudy.Parse(
            new Dictionary<string, string>
            {
                ["family"] = "binomial",
                ["outcome"] = "admission_next_year",
                ["features"] = string.Join(",", Features),
                ["holdout"] = "0.25",
                ["max_rows_per_node"] = "100000",
                ["max_abs_feature"] = "200",
            },
            maxParties);

        var splits = Sites.Select((s, i) => Split(glm, s, new Random(100 + i))).ToList();
        var fit = GlmHarness.Federated(glm.Spec, [.. splits.Select(s => s.Train)], quantize: true);
        Assert.True(fit.Converged);

        // Each site's evaluation vector, encoded; the sum modulo 2^64 is what threshold decryption returns.
        var codec = new FixedPointCodec(GlmEvaluation.Layout(glm), maxParties);
        var decrypted = GlmHarness.DecodedSum(codec, splits.Select(s => codec.Encode(GlmEvaluation.Compute(glm, fit.Coefficients, s.HeldOut))));
        var summary = Assert.IsType<BinomialEvaluation>(GlmEvaluation.Summarize(glm, decrypted));

        // The pooled reference from the raw predicted probabilities of every held-out row.
        var scores = splits.SelectMany(s => Enumerable.Range(0, s.HeldOut.Rows).Select(i => (P: Predict(fit.Coefficients, s.HeldOut, i), Y: s.HeldOut.Responses[i] == 1))).ToList();
        var positives = scores.Count(s => s.Y);
        var negatives = scores.Count - positives;
        var patients = Sites.Sum(s => s.Patients);
        var heldOutPatients = splits.Sum(s => s.HeldOutPatients);
        Assert.InRange(heldOutPatients, 0.2 * patients, 0.3 * patients);
        Assert.Equal(scores.Count, summary.HeldOutRows);
        Assert.Equal(positives, summary.HeldOutPositives);

        var exact = MannWhitneyAuc(scores);
        var bound = BinningBound(scores, GlmEvaluation.Bins);
        var federated = summary.Auc!.Value;
        Assert.InRange(exact, 0.6, 0.95);
        Assert.True(bound < 0.005, $"binning bound {bound} too loose for the comparison to mean anything");
        Assert.True(Math.Abs(federated - exact) <= bound + 1e-12, $"federated AUC {federated:R}, pooled {exact:R}, bound {bound:G3}");

        var brier = scores.Sum(s => (s.P - (s.Y ? 1 : 0)) * (s.P - (s.Y ? 1 : 0))) / scores.Count;
        var federatedBrier = summary.Brier!.Value;
        output.WriteLine(FormattableString.Invariant($"held out {scores.Count} rows ({positives} positive); AUC federated {federated:R}, pooled exact {exact:R}, |Δ| {Math.Abs(federated - exact):G3} ≤ bound {bound:G3}; Brier federated {federatedBrier:R}, pooled {brier:R}, |Δ| {Math.Abs(federatedBrier - brier):G3}"));
        Assert.True(Math.Abs(federatedBrier - brier) <= 1e-9, $"federated Brier {federatedBrier:R}, pooled {brier:R}");
        Assert.True(negatives > 0 && positives > 100, $"{positives} positives of {scores.Count}");
    }

    /// <summary>
    /// One site's patients, 1–5 patient-years each, with a hex pseudonym (as the node's HMAC gives), split into
    /// training and held-out rows by patient exactly as LocalFederatedGlm.Rows does.
    /// </summary>
    [Fact]
    public void A_risk_group_with_few_events_shows_its_size_but_not_its_observed_rate_nor_one_that_would_give_it_away()
    {
        var glm = GlmStudy.Parse(new Dictionary<string, string> { ["family"] = "binomial", ["outcome"] = "death_next_year", ["features"] = "age" }, RlweThresholdScheme.Default.MaxParties);
        var sum = new double[GlmEvaluation.Layout(glm).Sum(b => b.Length)];
        long[] events = [3, 13, 23, 33, 43, 53, 63, 73, 83, 93];
        for (var g = 0; g < 10; g++)
        {
            var bin = (g * 100) + 50; // 100 held-out patient-years a risk decile, all in one bin
            sum[bin] = events[g];
            sum[GlmEvaluation.Bins + bin] = 100 - events[g];
        }

        sum[(2 * GlmEvaluation.Bins) + 1] = 1000;
        var summary = Assert.IsType<BinomialEvaluation>(GlmEvaluation.Summarize(glm, sum));
        var groups = summary.Calibration;

        // 3 deaths in the lowest decile is a count under 11: its rate (3/100) would give it away, and so would the next decile's rate
        // with the shown total of deaths. Every group's size is shown; so are the total and the other rates.
        Assert.All(groups, g => Assert.Equal(100, g.Count));
        Assert.Null(groups[0].ObservedRate);
        Assert.Null(groups[1].ObservedRate);
        Assert.Equal(0.23, groups[2].ObservedRate!.Value, 12);
        Assert.Equal(events.Sum(), summary.HeldOutPositives);
        Assert.Equal(1000, summary.HeldOutRows);
    }

    private static (GlmData Train, GlmData HeldOut, int HeldOutPatients) Split(GlmStudy glm, Site site, Random rng)
    {
        var (train, held) = ((X: new List<double>(), Y: new List<double>()), (X: new List<double>(), Y: new List<double>()));
        var heldOutPatients = 0;
        for (var p = 0; p < site.Patients; p++)
        {
            var pseudonym = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{site.Name}/{p}")));
            var heldOut = glm.IsHeldOut(pseudonym);
            heldOutPatients += heldOut ? 1 : 0;
            var target = heldOut ? held : train;
            var age = Math.Clamp(Math.Round(site.MeanAge + (15 * Normal(rng))), 18, 99);
            double male = rng.NextDouble() < 0.48 ? 1 : 0;
            double hf = rng.NextDouble() < 0.05 * site.Prevalence ? 1 : 0, copd = rng.NextDouble() < 0.08 * site.Prevalence ? 1 : 0;
            double diabetes = rng.NextDouble() < 0.18 * site.Prevalence ? 1 : 0;
            var prior = 0;
            var years = 1 + rng.Next(5);
            for (var t = 0; t < years; t++)
            {
                double[] x = [age + t, male, hf, copd, diabetes, prior];
                var eta = -2.2 + site.Shift + (0.035 * (age + t - 65)) + (0.2 * male) + (1.0 * hf) + (0.7 * copd) + (0.4 * diabetes) + (0.5 * prior);
                var admitted = rng.NextDouble() < 1 / (1 + Math.Exp(-eta));
                target.X.AddRange(x);
                target.Y.Add(admitted ? 1 : 0);
                prior = Math.Min(3, admitted ? prior + 1 : prior);
            }
        }

        return (new GlmData(Features.Length, [.. train.X], [.. train.Y]), new GlmData(Features.Length, [.. held.X], [.. held.Y]), heldOutPatients);
    }

    private static double Predict(IReadOnlyList<double> beta, GlmData data, int row)
    {
        var eta = beta[0];
        for (var j = 0; j < data.Features; j++)
        {
            eta += beta[j + 1] * data.Design[(row * data.Features) + j];
        }

        return 1 / (1 + Math.Exp(-eta));
    }

    /// <summary>Exact Mann–Whitney AUC on raw scores: P(score_pos &gt; score_neg) + ½ P(equal), by walking groups of equal scores in order.</summary>
    private static double MannWhitneyAuc(List<(double P, bool Y)> scores)
    {
        var sorted = scores.OrderBy(s => s.P).ToList();
        double concordant = 0, negativesBelow = 0, positives = 0;
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            double pos = 0, neg = 0;
            for (; j < sorted.Count && sorted[j].P == sorted[i].P; j++)
            {
                pos += sorted[j].Y ? 1 : 0;
                neg += sorted[j].Y ? 0 : 1;
            }

            concordant += pos * (negativesBelow + (0.5 * neg));
            negativesBelow += neg;
            positives += pos;
            i = j;
        }

        return concordant / (positives * negativesBelow);
    }

    /// <summary>
    /// ScoreHistogram's documented error bound: ½ × the share of positive/negative pairs whose scores fall in one of
    /// <paramref name="bins"/> equal-width bins (only such pairs can be scored differently), from the raw scores.
    /// </summary>
    private static double BinningBound(List<(double P, bool Y)> scores, int bins)
    {
        var pos = new double[bins];
        var neg = new double[bins];
        foreach (var (p, y) in scores)
        {
            var b = Math.Min((int)(p * bins), bins - 1);
            (y ? pos : neg)[b]++;
        }

        var pairs = pos.Sum() * neg.Sum();
        return 0.5 * pos.Zip(neg, (a, b) => a * b).Sum() / pairs;
    }
}
