using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;
using static FederatedTwin.Analytics.Tests.GlmHarness;
using static FederatedTwin.Analytics.Tests.GlmReferenceTests;

namespace FederatedTwin.Analytics.Tests;

/// <summary>The federated fit equals the pooled fit whatever the split, in doubles and through the codec.</summary>
public class GlmFederationTests
{
    private static readonly string[] Names = ["age", "bmi", "smoker", "crp"];

    /// <summary>A readmission-like cohort: age, BMI, smoking, a skewed lab value; about a quarter positive.</summary>
    private static (double[] X, double[] Y) Cohort(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new double[n * 4];
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double age = 65 + (12 * Normal(rng)), bmi = 27 + (5 * Normal(rng)), smoker = rng.NextDouble() < 0.3 ? 1 : 0;
            double crp = Math.Exp(1.5 + (0.8 * Normal(rng)));
            x[4 * i] = age;
            x[(4 * i) + 1] = bmi;
            x[(4 * i) + 2] = smoker;
            x[(4 * i) + 3] = crp;
            double eta = -1.3 + (0.03 * (age - 65)) + (0.04 * (bmi - 27)) + (0.6 * smoker) + (0.02 * crp);
            y[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0;
        }

        return (x, y);
    }

    private static GlmSpec CohortSpec(int maxParties = 8, double ridge = 0, IReadOnlyList<string>? names = null) =>
        new(GlmFamily.Binomial, names ?? Names, new GlmBounds(5000, 500), maxParties, ridge: ridge);

    public static TheoryData<int[]> Splits => new()
    {
        new[] { 1500, 1500 },
        new[] { 2950, 49, 1 },
        new[] { 2000, 600, 300, 97, 3 },
        new[] { 5, 5, 10, 2900, 80 },
    };

    [Theory]
    [MemberData(nameof(Splits))]
    public void Logistic_federated_over_unequal_nodes_equals_the_pooled_fit(int[] sizes)
    {
        var (x, y) = Cohort(3000, 42);
        var pooled = GlmPooled.Fit(GlmFamily.Binomial, Names, new GlmData(4, x, y));
        var nodes = Split(4, x, y, null, null, Consecutive([.. Enumerable.Range(0, 3000)], sizes));
        var federated = Federated(CohortSpec(), nodes);
        SameFit(pooled, federated, 1e-8);
        Assert.Equal(sizes.Length, federated.Nodes);
        // Well-conditioned, a few thousand rows: moments + start + at most 6 iterations.
        Assert.True(federated.Rounds <= 8, $"{federated.Rounds} rounds");
    }

    [Fact]
    public void A_node_without_positives_changes_nothing()
    {
        var (x, y) = Cohort(3000, 7);
        var negatives = Enumerable.Range(0, 3000).Where(i => y[i] == 0).Take(300).ToHashSet();
        var rest = Enumerable.Range(0, 3000).Where(i => !negatives.Contains(i)).ToArray();
        List<int[]> parts = [[.. negatives], .. Consecutive(rest, 2000, rest.Length - 2000)];
        var nodes = Split(4, x, y, null, null, parts);
        Assert.Equal(300, nodes[0].Rows);
        Assert.All(parts[0], i => Assert.Equal(0, y[i]));
        SameFit(GlmPooled.Fit(GlmFamily.Binomial, Names, new GlmData(4, x, y)), Federated(CohortSpec(), nodes), 1e-8);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(1000)]
    public void Quantizing_every_node_vector_through_the_codec_keeps_the_pooled_fit(int maxParties)
    {
        var (x, y) = Cohort(3000, 3);
        var nodes = Split(4, x, y, null, null, Consecutive([.. Enumerable.Range(0, 3000)], 1700, 1000, 280, 20));
        var quantized = Federated(CohortSpec(maxParties), nodes, quantize: true);
        SameFit(GlmPooled.Fit(GlmFamily.Binomial, Names, new GlmData(4, x, y)), quantized, 1e-6);
        // The fixed-point error sits far below the tolerance: it matches the unquantized fit much closer than 1e-6.
        SameFit(Federated(CohortSpec(maxParties), nodes), quantized, 1e-11);
    }

    [Fact]
    public void Weighted_poisson_with_offset_through_the_codec_equals_the_pooled_fit()
    {
        var rng = new Random(19);
        int n = 2500;
        var x = new double[n * 2];
        var y = new double[n];
        var w = new double[n];
        var o = new double[n];
        for (int i = 0; i < n; i++)
        {
            x[2 * i] = 40 + (40 * rng.NextDouble());
            x[(2 * i) + 1] = rng.Next(3);
            w[i] = i % 10 == 0 ? 0 : rng.Next(1, 4);
            o[i] = Math.Log(0.25 + (3 * rng.NextDouble()));
            y[i] = Poisson(rng, Math.Exp(-2 + (0.025 * x[2 * i]) + (0.3 * x[(2 * i) + 1]) + o[i]));
        }

        string[] names = ["age", "comorbidities"];
        var spec = new GlmSpec(GlmFamily.Poisson, names, new GlmBounds(n, 100) { MaxAbsResponse = 50, MaxWeight = 3, MaxAbsOffset = 2 }, 5, hasOffset: true);
        var nodes = Split(2, x, y, w, o, Consecutive([.. Enumerable.Range(0, n)], 1200, 900, 300, 99, 1));
        var pooled = GlmPooled.Fit(GlmFamily.Poisson, names, new GlmData(2, x, y, w, o));
        Assert.Equal(n - 250, pooled.Rows);
        SameFit(pooled, Federated(spec, nodes), 1e-8);
        SameFit(pooled, Federated(spec, nodes, quantize: true), 1e-6);
    }

    [Fact]
    public void Integer_weights_act_as_replicated_rows()
    {
        var (x, y) = Cohort(400, 9);
        var w = Enumerable.Range(0, 400).Select(i => (double)(1 + (i % 3))).ToArray();
        var replicated = Enumerable.Range(0, 400).SelectMany(i => Enumerable.Repeat(i, (int)w[i])).ToArray();
        var spec = new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1000, 500) { MaxWeight = 3 }, 4);
        var weighted = Federated(spec, Split(4, x, y, w, null, Consecutive([.. Enumerable.Range(0, 400)], 300, 100)));
        var copies = Federated(spec, Split(4, x, y, null, null, Consecutive(replicated, 500, replicated.Length - 500)));
        for (int j = 0; j < 5; j++)
        {
            Close(copies.Coefficients[j], weighted.Coefficients[j], 1e-9, Names.Prepend("(Intercept)").ElementAt(j));
            Close(copies.StandardErrors[j], weighted.StandardErrors[j], 1e-9, "SE");
        }

        // For 0/1 responses with w trials, log dbinom(w·y, w, μ) is w copies of the Bernoulli term.
        Close(copies.Aic, weighted.Aic, 1e-9, "AIC");
        Close(copies.Deviance, weighted.Deviance, 1e-9, "deviance");
    }

    [Fact]
    public void Collinear_features_are_refused_with_the_offending_name_and_a_ridge_fits_them()
    {
        var (x0, y) = Cohort(1000, 1);
        // A fifth column equal to 2·age + 3.
        var x = Enumerable.Range(0, 1000).SelectMany(i => x0.Skip(4 * i).Take(4).Append((2 * x0[4 * i]) + 3)).ToArray();
        string[] names = [.. Names, "age_again"];
        var nodes = Split(5, x, y, null, null, Consecutive([.. Enumerable.Range(0, 1000)], 600, 400));

        var fit = new GlmIrlsFit(CohortSpec(names: names));
        fit.Accept(Aggregate(fit.Spec, fit.NextRequest(), nodes, false));
        var start = fit.NextRequest();
        var error = Assert.Throws<InvalidOperationException>(() => fit.Accept(Aggregate(fit.Spec, start, nodes, false)));
        Assert.Contains("age_again", error.Message, StringComparison.Ordinal);
        Assert.Same(start, fit.NextRequest());

        // Ridge λ on the standardized scale: the penalized score Σ w(y − μ)x̃_j = λβ̃_j holds, the intercept is unpenalized.
        const double lambda = 5;
        var ridge = Federated(CohortSpec(ridge: lambda, names: names), nodes);
        var std = ridge.Standardization!;
        var residual = Enumerable.Range(0, 1000).Select(i =>
        {
            double eta = ridge.Coefficients[0] + Enumerable.Range(0, 5).Sum(j => ridge.Coefficients[j + 1] * x[(5 * i) + j]);
            return y[i] - (1 / (1 + Math.Exp(-eta)));
        }).ToArray();
        Assert.True(Math.Abs(residual.Sum()) < 1e-8, $"intercept score {residual.Sum()}");
        for (int j = 0; j < 5; j++)
        {
            double score = Enumerable.Range(0, 1000).Sum(i => residual[i] * (x[(5 * i) + j] - std.Means[j]) / std.Scales[j]);
            double penalty = lambda * ridge.Coefficients[j + 1] * std.Scales[j];
            Assert.True(Math.Abs(score - penalty) < 1e-7 * Math.Max(1, Math.Abs(penalty)), $"{names[j]}: score {score} vs λβ̃ {penalty}");
        }

        // The ridge splits the duplicated effect equally on the standardized scale.
        Assert.Equal(ridge.Coefficients[1] * std.Scales[0], ridge.Coefficients[5] * std.Scales[4], 8);
    }

    [Fact]
    public void A_node_dropping_out_between_rounds_is_refused_and_the_round_can_be_retried()
    {
        var (x, y) = Cohort(900, 4);
        var nodes = Split(4, x, y, null, null, Consecutive([.. Enumerable.Range(0, 900)], 300, 300, 300));
        var spec = CohortSpec();
        var fit = new GlmIrlsFit(spec);
        fit.Accept(Aggregate(spec, fit.NextRequest(), nodes, false));
        var start = fit.NextRequest();
        var error = Assert.Throws<InvalidOperationException>(() => fit.Accept(Aggregate(spec, start, nodes.Take(2), false)));
        Assert.Contains("every node must take part", error.Message, StringComparison.Ordinal);
        Assert.False(fit.Accept(Aggregate(spec, start, nodes, false)));
        Assert.Equal(GlmRoundKind.Iterate, fit.NextRequest().Kind);
        Assert.Equal(3, fit.NextRequest().Round);
    }

    [Fact]
    public void Rows_outside_the_declared_bounds_are_refused_without_revealing_values()
    {
        var (x, y) = Cohort(10, 2);
        x[4 * 6] = 12345.678;
        var spec = CohortSpec();
        var request = new GlmIrlsFit(spec).NextRequest();
        var error = Assert.Throws<ArgumentException>(() => GlmNode.Compute(spec, request, new GlmData(4, x, y)));
        Assert.Contains("Row 6", error.Message, StringComparison.Ordinal);
        Assert.Contains("'age'", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("12345", error.Message, StringComparison.Ordinal);

        y[3] = 2;
        x[4 * 6] = 60;
        Assert.Throws<ArgumentException>(() => GlmNode.Compute(spec, request, new GlmData(4, x, y)));
        Assert.Throws<ArgumentException>(() => new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(10, 1), 2, hasOffset: true));
    }

    [Fact]
    public void A_fit_that_runs_out_of_iterations_says_so()
    {
        var (x, y) = Cohort(500, 8);
        var spec = new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(500, 500), 2, maxIterations: 2);
        var fit = Federated(spec, Split(4, x, y, null, null, Consecutive([.. Enumerable.Range(0, 500)], 250, 250)));
        Assert.False(fit.Converged);
        Assert.Equal(2, fit.Iterations);
        Assert.Equal(3, fit.Rounds);
    }

    [Fact]
    public void A_feature_constant_across_all_nodes_or_an_outcome_without_variation_is_refused()
    {
        var (x, y) = Cohort(200, 6);
        for (int i = 0; i < 200; i++)
        {
            x[(4 * i) + 2] = 1;
        }

        var spec = CohortSpec();
        var nodes = Split(4, x, y, null, null, Consecutive([.. Enumerable.Range(0, 200)], 150, 50));
        var fit = new GlmIrlsFit(spec);
        var error = Assert.Throws<InvalidOperationException>(() => fit.Accept(Aggregate(spec, fit.NextRequest(), nodes, false)));
        Assert.Contains("'smoker' is constant", error.Message, StringComparison.Ordinal);

        var (x2, _) = Cohort(200, 6);
        var none = Split(4, x2, new double[200], null, null, [[.. Enumerable.Range(0, 200)]]);
        var noEvents = new GlmIrlsFit(spec);
        Assert.Throws<InvalidOperationException>(() => noEvents.Accept(Aggregate(spec, noEvents.NextRequest(), none, false)));
    }

    [Fact]
    public void Nodes_refuse_a_layout_that_is_not_the_spec_s()
    {
        var (x, y) = Cohort(50, 6);
        var spec = CohortSpec();
        var request = new GlmIrlsFit(spec).NextRequest();
        var doctored = request with { Layout = [.. request.Layout.Select(b => b with { Scale = b.Scale * 1024 })] };
        Assert.Throws<ArgumentException>(() => GlmNode.Compute(spec, doctored, new GlmData(4, x, y)));
    }

    [Fact]
    public void Layout_scales_are_powers_of_two_that_cover_the_bound_with_at_most_one_bit_to_spare()
    {
        var spec = new GlmSpec(GlmFamily.Poisson, Names, new GlmBounds(100_000, 1000) { MaxAbsResponse = 30 }, maxParties: 64);
        foreach (var kind in new[] { GlmRoundKind.Moments, GlmRoundKind.Start, GlmRoundKind.Iterate })
        {
            var layout = GlmLayout.For(spec, kind, 250_000);
            Assert.All(layout, block => Assert.True(double.IsPow2(block.Scale), block.Name));
        }

        int p = spec.Coefficients;
        var iterate = GlmLayout.For(spec, GlmRoundKind.Iterate, 250_000);
        Assert.Equal([GlmLayout.Count, GlmLayout.Xtwx, GlmLayout.Xtwz, GlmLayout.Deviance, GlmLayout.Aic], iterate.Select(b => b.Name));
        Assert.Equal(p * (p + 1) / 2, iterate[1].Length);
        // X'WX entries are bounded by 2·n·max W = 2 · 250 000 · 4·(30 + 1): the scale must hold that and no more than twice it.
        double bound = 2 * 250_000 * 4 * 31.0;
        var irlsCodec = new FixedPointCodec(iterate, 64);
        Assert.InRange(irlsCodec.MaxValue(iterate[1]), bound, 2 * bound);
        Assert.Equal(1, iterate[0].Scale);
        Assert.Contains(GlmLayout.NullDeviance, GlmLayout.For(spec, GlmRoundKind.Start, 250_000).Select(b => b.Name));
    }
}
