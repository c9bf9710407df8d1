using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>DP-FedAvg (DP-FedSGD with per-patient clipping): sensitivity, accounting, and convergence to the MLE with little noise.</summary>
public class FedAvgPrivacyTests
{
    private static readonly string[] Names = ["age", "smoker"];

    private const int MaxParties = 8;

    private static FedAvgPrivacy Privacy(double rho, int rounds, int k = 3, double? clip = null, double momentum = 0.9) =>
        new(new GlmPrivacy(rho, rounds, 3, k, [new(20, 100), new(0, 1)]), 2, clip, null, momentum);

    [Theory]
    [InlineData(null)]
    [InlineData(0.5)]
    public void One_patients_contribution_to_the_encoded_gradient_is_at_most_c_s_plus_half_root_d_in_l2_and_to_the_count_at_most_k(double? clip)
    {
        // Neighbouring datasets: one patient with 1–8 rows of out-of-bounds features added, at wild and ordinary points.
        // With the default C (the worst case the bounds allow) the clip binds only on such rows; with C = 0.5 it binds often.
        // In the integer domain the node sends: C·s + √3/2 for the gradient (each patient rounded to the grid), K·s for the rows.
        var dp = Privacy(1, 10, k: 3, clip: clip);
        var codec = new FixedPointCodec(dp.Layout(1_000_000, MaxParties), MaxParties);
        double s = codec.Blocks[0].Scale, rowScale = codec.Blocks[1].Scale;
        double bound = Clipping.EncodedL2Sensitivity(dp.Clip, s, 3);
        var rng = new Random(5);
        foreach (var point in new[] { new[] { 0.0, 0, 0 }, [60.0, -60, 60], [-2, 0.8, 0.4] })
        {
            for (int trial = 0; trial < 30; trial++)
            {
                var without = PatientCohorts.Cohort(40, 2, 200 + trial);
                int extra = 1 + rng.Next(8);
                var with = new GlmData(
                    2,
                    [.. without.Design, .. Enumerable.Range(0, extra).SelectMany(_ => new[] { rng.NextDouble() < 0.5 ? -900.0 : 900, rng.Next(-4, 5) })],
                    [.. without.Responses, .. Enumerable.Range(0, extra).Select(_ => (double)rng.Next(2))],
                    patients: [.. without.Patients!, .. Enumerable.Repeat(777, extra)]);
                var a = dp.NodeGradient(without, point, codec);
                var b = dp.NodeGradient(with, point, codec);
                double norm = Math.Sqrt(Enumerable.Range(0, 3).Sum(j => Math.Pow(a[j] - b[j], 2)));
                Assert.True(norm <= bound, $"gradient moved by {norm} > C·s + √3/2 = {bound}");
                Assert.InRange(b[3] - a[3], rowScale, dp.Dp.MaxRowsPerPatient * rowScale); // rows capped at K

                // The patient alone: its rounded clipped total has L2 ≤ C·s + √3/2, and the sum with it is the sum without it
                // plus exactly that vector (integers: no accumulation error).
                var alone = new GlmData(2, [.. with.Design.Skip(without.Design.Count)], [.. with.Responses.Skip(without.Rows)], patients: [.. Enumerable.Repeat(777, extra)]);
                var own = dp.NodeGradient(alone, point, codec);
                Assert.True(Math.Sqrt(Enumerable.Range(0, 3).Sum(j => Math.Pow(own[j], 2))) <= bound);
                Assert.Equal(b, a.Zip(own, (x, y) => x + y));
            }
        }

        if (clip is not null)
        {
            // The small clip does bind: a patient of 3 rows at a wrong point has an unclipped gradient far above 0.5.
            var unclipped = Privacy(1, 10, k: 3, clip: 1e9);
            var bigCodec = new FixedPointCodec(unclipped.Layout(1_000_000, MaxParties), MaxParties);
            var big = bigCodec.Decode(unclipped.NodeGradient(PatientCohorts.Cohort(1, 3, 1), [10, 10, 10], bigCodec));
            Assert.True(Math.Sqrt((big[0] * big[0]) + (big[1] * big[1]) + (big[2] * big[2])) > 1);
        }
    }

    [Fact]
    public void Each_round_spends_rho_over_the_rounds_and_each_node_adds_a_third_of_the_target_variance()
    {
        var dp = Privacy(0.6, 12);
        var layout = dp.Layout(1_000_000, MaxParties);
        Assert.Equal(0.05, dp.SpentBy(layout), 12);
        Assert.Equal(0.6, dp.SpentBy(layout) * dp.Dp.Rounds, 12);
        var variances = dp.NodeVariances(layout);
        var gradient = layout[0];
        double sigma = (dp.Clip + (Math.Sqrt(3) / (2 * gradient.Scale))) / Math.Sqrt(2 * 0.9 * 0.05);
        Assert.Equal(sigma * sigma / 3, variances[0], 9);
        double countSigma = 3 / Math.Sqrt(2 * 0.1 * 0.05); // K = 3, integer block: no rounding term
        Assert.Equal(countSigma * countSigma / 3, variances[1], 9);
    }

    [Fact]
    public void With_a_huge_rho_dp_fedavg_approaches_the_logistic_mle()
    {
        // Three nodes, K = 3 rows per patient (the cap does not bind), features inside their declared bounds, default C
        // (never binds): the noisy gradient steps must tend to the maximum-likelihood fit of the pooled rows.
        var nodes = Enumerable.Range(0, 3).Select(s => PatientCohorts.Cohort(700 + (200 * s), 3, 40 + s, firstPatient: s * 10_000)).ToList();
        var pooled = new GlmData(2, [.. nodes.SelectMany(n => n.Design)], [.. nodes.SelectMany(n => n.Responses)]);
        var mle = GlmPooled.Fit(GlmFamily.Binomial, Names, pooled);
        const int rounds = 400;
        var fit = Run(Privacy(1e9, rounds), nodes, rounds, new SeededTestRandomBits(9));
        for (int j = 0; j < 3; j++)
        {
            Assert.True(Math.Abs(fit[j] - mle.Coefficients[j]) < 0.01 * mle.StandardErrors[j], $"coefficient {j}: DP-FedAvg {fit[j]:G6}, MLE {mle.Coefficients[j]:G6}");
        }

        // A negative control: at ρ = 0.05 on these 7,000 patient-years the noise moves the fit visibly.
        var noisy = Run(Privacy(0.05, rounds), nodes, rounds, new SeededTestRandomBits(9));
        Assert.Contains(Enumerable.Range(0, 3), j => Math.Abs(noisy[j] - mle.Coefficients[j]) > 0.01 * mle.StandardErrors[j]);
    }

    /// <summary>The protocol in process: every node's noised encoding summed modulo 2^64, decoded, the optimizer replayed.</summary>
    private static double[] Run(FedAvgPrivacy dp, IReadOnlyList<GlmData> nodes, int rounds, IRandomBitSource random)
    {
        var layout = dp.Layout(1_000_000, MaxParties);
        var codec = new FixedPointCodec(layout, MaxParties);
        var variances = dp.NodeVariances(layout);
        var sums = new List<double[]>();
        for (int r = 0; r < rounds; r++)
        {
            var point = dp.Replay(sums).NextPoint;
            sums.Add(GlmHarness.DecodedSum(codec, nodes.Select(node =>
            {
                var encoded = dp.NodeGradient(node, point, codec);
                RoundNoise.AddNoise(encoded, layout, variances, random);
                return encoded;
            })));
        }

        return dp.ToOriginalScale(dp.Replay(sums).Theta);
    }
}
