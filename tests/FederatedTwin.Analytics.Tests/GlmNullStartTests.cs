using FederatedTwin.Analytics.Glm;
using static FederatedTwin.Analytics.Tests.GlmHarness;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// The null-model start (R's mustart = the null fit's means, its first step computed from the moments round) and the
/// one-round line search: the same MLE as the pooled fit, in fewer aggregations for a rare outcome.
/// </summary>
public class GlmNullStartTests
{
    private static readonly string[] Names = ["age", "frail", "lab"];

    /// <summary>About 1.5% positive, strongly age-dependent (like death next year): the case R's start is slow on.</summary>
    private static (double[] X, double[] Y, double[] O) Rare(int n, int seed, GlmFamily family)
    {
        var rng = new Random(seed);
        var x = new double[n * 3];
        var y = new double[n];
        var o = new double[n];
        for (int i = 0; i < n; i++)
        {
            double age = 20 + (75 * rng.NextDouble()), frail = rng.NextDouble() < 0.1 ? 1 : 0, lab = 100 + (15 * (rng.NextDouble() - 0.5));
            x[3 * i] = age;
            x[(3 * i) + 1] = frail;
            x[(3 * i) + 2] = lab;
            o[i] = Math.Log(0.5 + rng.NextDouble());
            double eta = -10 + (0.08 * age) + (0.8 * frail) + (0.01 * (lab - 100));
            y[i] = family switch
            {
                GlmFamily.Binomial => rng.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0,
                GlmFamily.Poisson => Poisson(rng, Math.Exp(eta + 3 + o[i])),
                _ => eta + o[i] + rng.NextDouble(),
            };
        }

        return (x, y, o);
    }

    private static double Poisson(Random rng, double mean)
    {
        int k = 0;
        for (double p = Math.Exp(-mean), s = p, u = rng.NextDouble(); u > s; s += p)
        {
            k++;
            p *= mean / k;
        }

        return k;
    }

    [Theory]
    [InlineData(GlmFamily.Binomial, false)]
    [InlineData(GlmFamily.Poisson, true)]
    [InlineData(GlmFamily.Gaussian, true)]
    public void The_null_start_with_line_search_reaches_the_pooled_fit(GlmFamily family, bool offset)
    {
        var (x, y, o) = Rare(9000, 3, family);
        var off = offset ? o : null;
        var pooled = GlmPooled.Fit(family, Names, new GlmData(3, x, y, offset: off));
        var nodes = Split(3, x, y, null, off, Consecutive([.. Enumerable.Range(0, 9000)], 5000, 3000, 1000));
        var bounds = new GlmBounds(10_000, 200) { MaxAbsResponse = family == GlmFamily.Binomial ? 1 : 200, MaxAbsOffset = offset ? 1 : 0 };
        var spec = new GlmSpec(family, Names, bounds, 8, hasOffset: offset) { StartFromNullModel = true };
        var fit = Federated(spec, nodes, quantize: true);
        SameFit(pooled, fit, 1e-6);
        var rStart = Federated(new GlmSpec(family, Names, bounds, 8, hasOffset: offset), nodes, quantize: true);
        SameFit(pooled, rStart, 1e-6);
        Assert.True(fit.Rounds <= rStart.Rounds, $"null start {fit.Rounds} rounds, R's start {rStart.Rounds}");
    }

    [Fact]
    public void A_rare_outcome_converges_in_fewer_aggregations_than_from_rs_start()
    {
        var (x, y, _) = Rare(9000, 5, GlmFamily.Binomial);
        var nodes = Split(3, x, y, null, null, Consecutive([.. Enumerable.Range(0, 9000)], 3000, 3000, 3000));
        var bounds = new GlmBounds(10_000, 200);
        var rStart = Federated(new GlmSpec(GlmFamily.Binomial, Names, bounds, 8), nodes, quantize: true);
        var nullStart = Federated(new GlmSpec(GlmFamily.Binomial, Names, bounds, 8) { StartFromNullModel = true }, nodes, quantize: true);
        Assert.True(nullStart.Rounds < rStart.Rounds, $"null start {nullStart.Rounds} rounds, R's start {rStart.Rounds}");
        Assert.True(nullStart.Rounds <= 8, $"{nullStart.Rounds} rounds");
        SameFit(rStart, nullStart, 1e-6);
    }

    [Fact]
    public void The_first_step_from_moments_equals_a_start_round_evaluated_at_the_null_means()
    {
        // One WLS step from μ0 = the null model's means, computed independently on the pooled rows (dense, raw scale).
        var (x, y, _) = Rare(4000, 9, GlmFamily.Binomial);
        var nodes = Split(3, x, y, null, null, Consecutive([.. Enumerable.Range(0, 4000)], 2000, 1500, 500));
        var spec = new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(10_000, 200), 8, maxIterations: 1) { StartFromNullModel = true };
        var fit = new GlmIrlsFit(spec);
        fit.Accept(Aggregate(spec, fit.NextRequest(), nodes, quantize: true));
        var request = fit.NextRequest();
        var first = request.Standardization!.ToOriginalScale(request.Beta!, new double[4, 4]).Coefficients;

        double mean = y.Average(), v = mean * (1 - mean), alpha = Math.Log(mean / (1 - mean));
        var h = new double[4, 4];
        var g = new double[4];
        for (int i = 0; i < 4000; i++)
        {
            double[] d = [1, x[3 * i], x[(3 * i) + 1], x[(3 * i) + 2]];
            double z = alpha + ((y[i] - mean) / v);
            for (int j = 0; j < 4; j++)
            {
                g[j] += v * z * d[j];
                for (int l = 0; l < 4; l++)
                {
                    h[j, l] += v * d[j] * d[l];
                }
            }
        }

        var expected = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(h).Solve(MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(g));
        for (int j = 0; j < 4; j++)
        {
            Close(expected[j], first[j], 1e-6, $"first step {j}");
        }

        // The round after it carries the line search from (α, 0, …) and the null deviance.
        Assert.Equal(GlmIrlsFit.LineSearchSteps, request.Steps);
        Assert.Equal(alpha, request.LineSearchBase![0], 9);
        Assert.Equal(alpha, request.NullIntercept!.Value, 9);
    }
}
