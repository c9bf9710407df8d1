using System.Numerics;
using System.Reflection;
using System.Security.Cryptography;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

public class DiscreteGaussianTests
{
    private const int Draws = 200_000;

    [Theory]
    [InlineData(2.25, 1UL)]
    [InlineData(100.0, 2UL)]
    [InlineData(2.3, 3UL)] // non-dyadic σ²: denominator 2^k, exercises the wide arithmetic
    public void Draws_fit_the_exact_pmf_by_chi_square(double sigmaSquared, ulong seed)
    {
        var sampler = DiscreteGaussian.FromVariance(sigmaSquared, new SeededTestRandomBits(seed));
        var counts = Histogram(sampler, Draws);
        var (statistic, critical) = ChiSquare(counts, sigmaSquared, Draws);
        Assert.True(statistic < critical, $"chi-square {statistic:F1} >= critical {critical:F1}");
    }

    [Fact]
    public void The_chi_square_check_has_power_against_a_slightly_wrong_sigma()
    {
        // Draws with σ = 1.6 judged against the σ = 1.5 pmf must be rejected, or the test above proves nothing.
        var counts = Histogram(DiscreteGaussian.FromVariance(1.6 * 1.6, new SeededTestRandomBits(4)), Draws);
        var (statistic, critical) = ChiSquare(counts, 2.25, Draws);
        Assert.True(statistic > critical, $"chi-square {statistic:F1} should exceed {critical:F1}");
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(10.0)]
    public void Mean_is_zero_and_variance_is_the_exact_one_just_below_sigma_squared(double sigma)
    {
        var sampler = DiscreteGaussian.FromVariance(sigma * sigma, new SeededTestRandomBits(5));
        double sum = 0, sumSq = 0;
        for (int i = 0; i < Draws; i++)
        {
            double y = sampler.Sample();
            sum += y;
            sumSq += y * y;
        }

        double mean = sum / Draws;
        double variance = (sumSq / Draws) - (mean * mean);
        var (_, exactVariance) = Pmf(sigma * sigma);
        Assert.True(exactVariance <= sigma * sigma, "the discrete Gaussian's variance never exceeds sigma^2 (CKS 2020, Prop. 19)");
        Assert.InRange(exactVariance, sigma * sigma * 0.999, sigma * sigma);
        Assert.InRange(mean, -5 * sigma / Math.Sqrt(Draws), 5 * sigma / Math.Sqrt(Draws));
        double varianceSe = sigma * sigma * Math.Sqrt(2.0 / Draws);
        Assert.InRange(variance, exactVariance - (5 * varianceSe), exactVariance + (5 * varianceSe));
    }

    [Fact]
    public void Distribution_is_symmetric()
    {
        var counts = Histogram(DiscreteGaussian.FromVariance(2.25, new SeededTestRandomBits(6)), Draws);
        long positive = counts.Where(kv => kv.Key > 0).Sum(kv => kv.Value);
        long negative = counts.Where(kv => kv.Key < 0).Sum(kv => kv.Value);
        double se = Math.Sqrt(positive + negative);
        Assert.InRange(positive - negative, -5 * se, 5 * se);
        for (int y = 1; y <= 4; y++)
        {
            long a = counts.GetValueOrDefault(y), b = counts.GetValueOrDefault(-y);
            double s = Math.Sqrt(a + b);
            Assert.InRange(a - b, -5 * s, 5 * s);
        }
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 4)]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(7, 3)]
    [InlineData(5, 1)]
    public void Bernoulli_exp_minus_gamma_has_frequency_exp_minus_gamma(long numerator, long denominator)
    {
        var random = new SeededTestRandomBits(7);
        const int trials = 200_000;
        int hits = 0;
        for (int i = 0; i < trials; i++)
        {
            if (ExactSampling.BernoulliExpMinus((ulong)numerator, (ulong)denominator, random))
            {
                hits++;
            }
        }

        double p = Math.Exp(-(double)numerator / denominator);
        double se = Math.Sqrt(p * (1 - p) / trials);
        Assert.InRange((double)hits / trials, p - (5 * se) - 1e-12, p + (5 * se) + 1e-12);
    }

    [Fact]
    public void Bernoulli_exp_minus_gamma_is_exact_with_big_integers_too()
    {
        // γ = 1.5 written over 2^100: same frequency, numbers far beyond 128 bits after squaring.
        var random = new SeededTestRandomBits(8);
        var denominator = BigInteger.One << 100;
        var numerator = (denominator * 3) / 2;
        const int trials = 100_000;
        int hits = 0;
        for (int i = 0; i < trials; i++)
        {
            hits += ExactSampling.BernoulliExpMinus(numerator, denominator, random) ? 1 : 0;
        }

        double p = Math.Exp(-1.5);
        double se = Math.Sqrt(p * (1 - p) / trials);
        Assert.InRange((double)hits / trials, p - (5 * se), p + (5 * se));
    }

    [Fact]
    public void Discrete_laplace_matches_its_pmf()
    {
        // DLap(t): P(y) = (1 − e^{−1/t})/(1 + e^{−1/t}) · e^{−|y|/t}.
        var random = new SeededTestRandomBits(9);
        const int t = 3;
        var counts = new Dictionary<long, long>();
        for (int i = 0; i < Draws; i++)
        {
            long y = ExactSampling.DiscreteLaplace(t, 1, random);
            counts[y] = counts.GetValueOrDefault(y) + 1;
        }

        double r = Math.Exp(-1.0 / t);
        double statistic = 0;
        int bins = 0;
        long observedTail = Draws;
        double expectedTail = Draws;
        for (int y = -12; y <= 12; y++)
        {
            double expected = Draws * (1 - r) / (1 + r) * Math.Pow(r, Math.Abs(y));
            long observed = counts.GetValueOrDefault(y);
            statistic += (observed - expected) * (observed - expected) / expected;
            observedTail -= observed;
            expectedTail -= expected;
            bins++;
        }

        statistic += (observedTail - expectedTail) * (observedTail - expectedTail) / expectedTail;
        Assert.True(statistic < Critical(bins), $"chi-square {statistic:F1}");
    }

    [Fact]
    public void Fast_and_big_integer_paths_draw_identical_samples_from_the_same_stream()
    {
        foreach (var variance in new[] { ExactRational.FromDouble(2.3), ExactRational.Create(1_000_000_000_000, 1), ExactRational.Create(7, 3) })
        {
            var fast = new DiscreteGaussian(variance, new SeededTestRandomBits(10));
            var big = new DiscreteGaussian(variance, new SeededTestRandomBits(10), forceBigInteger: true);
            for (int i = 0; i < 20_000; i++)
            {
                Assert.Equal(fast.Sample(), big.Sample());
            }
        }
    }

    [Fact]
    public void Production_samplers_draw_from_RandomNumberGenerator()
    {
        var production = DiscreteGaussian.FromVariance(4.0);
        var bits = Assert.IsType<CryptographicRandomBits>(production.Random);
        Assert.Equal(typeof(RandomNumberGenerator).Assembly, bits.Generator.GetType().Assembly);
        Assert.IsType<CryptographicRandomBits>(DiscreteGaussian.Create(ExactRational.Create(9, 4)).Random);

        // Every bit the production source hands out comes from its generator: a recorded generator yields
        // identical samples on replay, and is actually called.
        using var first = new RecordingGenerator(11);
        using var second = new RecordingGenerator(11);
        var a = new DiscreteGaussian(ExactRational.Create(100, 1), new CryptographicRandomBits(first));
        var b = new DiscreteGaussian(ExactRational.Create(100, 1), new CryptographicRandomBits(second));
        var xs = Enumerable.Range(0, 1000).Select(_ => a.Sample()).ToArray();
        var ys = Enumerable.Range(0, 1000).Select(_ => b.Sample()).ToArray();
        Assert.Equal(xs, ys);
        Assert.True(first.Calls > 0);
        Assert.True(xs.Distinct().Count() > 10);

        // And no other source of randomness ships in the product assembly.
        var implementations = typeof(IRandomBitSource).Assembly.GetTypes()
            .Where(t => t.IsClass && typeof(IRandomBitSource).IsAssignableFrom(t)).ToArray();
        Assert.Equal([typeof(CryptographicRandomBits)], implementations);
    }

    [Fact]
    public void Samplers_take_no_floating_point_field()
    {
        // σ² lives as an exact rational; a double anywhere in the sampler state would mean rounding crept in.
        foreach (var type in new[] { typeof(DiscreteGaussian), typeof(CryptographicRandomBits), typeof(ExactRational) })
        {
            var fields = type.GetFields(BindingFlags.Instance | BindingFlags.Static | BindingFlags.NonPublic | BindingFlags.Public);
            Assert.DoesNotContain(fields, f => f.FieldType == typeof(double) || f.FieldType == typeof(float) || f.FieldType == typeof(Random));
        }
    }

    [Fact]
    public void Double_variances_convert_to_their_exact_binary_value()
    {
        Assert.Equal(ExactRational.Create(9, 4), ExactRational.FromDouble(2.25));
        Assert.Equal(ExactRational.Create(3602879701896397, BigInteger.One << 55), ExactRational.FromDouble(0.1));
        Assert.Equal(ExactRational.Create(BigInteger.Pow(10, 20), 1), ExactRational.FromDouble(1e20));
        Assert.Equal(ExactRational.Create(-3, 8), ExactRational.FromDouble(-0.375));
        Assert.Equal(ExactRational.Create(1, BigInteger.One << 1074), ExactRational.FromDouble(double.Epsilon));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExactRational.FromDouble(double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiscreteGaussian.FromVariance(0, new SeededTestRandomBits(1)));
    }

    [Fact]
    public void AddNoise_uses_sigma_times_scale_per_block()
    {
        var blocks = new[] { new FixedPointBlock("counts", 20_000, 1), new FixedPointBlock("sums", 20_000, 1000) };
        var vector = new long[40_000];
        Array.Fill(vector, 5_000, 0, 20_000);
        Array.Fill(vector, -7_000_000, 20_000, 20_000);
        DiscreteGaussian.AddNoise(vector, blocks, [4.0, 0.25], new SeededTestRandomBits(12));

        var (meanA, varA) = Moments(vector.AsSpan(0, 20_000), 5_000);
        var (meanB, varB) = Moments(vector.AsSpan(20_000), -7_000_000);
        Assert.InRange(varA, 4 * 0.95, 4 * 1.05); // σ_int = 2·1
        Assert.InRange(varB, 250_000 * 0.95, 250_000 * 1.05); // σ_int = 0.5·1000
        Assert.InRange(meanA, -0.1, 0.1);
        Assert.InRange(meanB, -50, 50);
    }

    [Fact]
    public void AddNoise_wraps_modulo_2_to_64_so_the_codec_sum_stays_exact()
    {
        var codec = FixedPointCodec.Uniform(1000, 1, maxParties: 1);
        var near = new long[1000];
        var offset = new long[1000];
        Array.Fill(near, long.MaxValue);
        Array.Fill(offset, -long.MaxValue + 3);
        var noised = (long[])near.Clone();
        DiscreteGaussian.AddNoise(noised, codec, [1e6], new SeededTestRandomBits(13));
        Assert.Contains(noised, v => v < 0); // positive noise on MaxValue wrapped around

        // The other party's value brings the true total back in range; the wrapped sum decodes exactly.
        for (int i = 0; i < near.Length; i++)
        {
            long noise = unchecked(noised[i] - near[i]);
            Assert.Equal(3 + noise, unchecked(noised[i] + offset[i]));
        }
    }

    [Fact]
    public void AddNoise_refuses_mismatched_or_zero_variances()
    {
        var blocks = new[] { new FixedPointBlock("a", 2, 1) };
        var random = new SeededTestRandomBits(14);
        Assert.Throws<ArgumentException>(() => DiscreteGaussian.AddNoise(new long[3], blocks, [1.0], random));
        Assert.Throws<ArgumentException>(() => DiscreteGaussian.AddNoise(new long[2], blocks, [1.0, 1.0], random));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiscreteGaussian.AddNoise(new long[2], blocks, [0.0], random));
        Assert.Throws<ArgumentOutOfRangeException>(() => DiscreteGaussian.AddNoise(new long[2], blocks, [double.NaN], random));
    }

    [Fact]
    public void UniformBelow_is_uniform_for_a_bound_that_is_not_a_power_of_two()
    {
        var random = new SeededTestRandomBits(15);
        var counts = new long[6];
        for (int i = 0; i < 60_000; i++)
        {
            counts[ExactSampling.UniformBelow(6UL, random)]++;
        }

        double statistic = counts.Sum(c => (c - 10_000.0) * (c - 10_000.0) / 10_000.0);
        Assert.True(statistic < Critical(6), $"chi-square {statistic:F1}");
    }

    private static Dictionary<long, long> Histogram(DiscreteGaussian sampler, int draws)
    {
        var counts = new Dictionary<long, long>();
        for (int i = 0; i < draws; i++)
        {
            long y = sampler.Sample();
            counts[y] = counts.GetValueOrDefault(y) + 1;
        }

        return counts;
    }

    /// <summary>Normalised pmf on a range covering all but ~1e-30 of the mass, and its exact variance.</summary>
    private static (Dictionary<long, double> Pmf, double Variance) Pmf(double sigmaSquared)
    {
        long range = (long)Math.Ceiling(12 * Math.Sqrt(sigmaSquared)) + 2;
        var weights = new Dictionary<long, double>();
        double total = 0;
        for (long y = -range; y <= range; y++)
        {
            double w = Math.Exp(-(double)(y * y) / (2 * sigmaSquared));
            weights[y] = w;
            total += w;
        }

        double variance = 0;
        foreach (var y in weights.Keys.ToArray())
        {
            weights[y] /= total;
            variance += weights[y] * y * y;
        }

        return (weights, variance);
    }

    /// <summary>Pearson chi-square with bins of expected count ≥ 20 (tails pooled); critical value at p = 1e-4.</summary>
    private static (double Statistic, double Critical) ChiSquare(Dictionary<long, long> counts, double sigmaSquared, int draws)
    {
        var (pmf, _) = Pmf(sigmaSquared);
        long cut = pmf.Keys.Where(y => y >= 0 && pmf[y] * draws >= 20).Max();
        double statistic = 0;
        int bins = 0;
        for (long y = -cut; y <= cut; y++)
        {
            double expected = pmf[y] * draws;
            long observed = counts.GetValueOrDefault(y);
            statistic += (observed - expected) * (observed - expected) / expected;
            bins++;
        }

        double tailExpected = draws * pmf.Where(kv => Math.Abs(kv.Key) > cut).Sum(kv => kv.Value);
        long tailObserved = counts.Where(kv => Math.Abs(kv.Key) > cut).Sum(kv => kv.Value);
        statistic += (tailObserved - tailExpected) * (tailObserved - tailExpected) / tailExpected;
        bins++;
        return (statistic, Critical(bins));
    }

    /// <summary>Upper 1e-4 quantile of chi-square with bins−1 degrees of freedom (Wilson–Hilferty).</summary>
    private static double Critical(int bins)
    {
        double k = bins - 1;
        double z = 3.719;
        double c = 1 - (2 / (9 * k)) + (z * Math.Sqrt(2 / (9 * k)));
        return k * c * c * c;
    }

    private static (double Mean, double Variance) Moments(ReadOnlySpan<long> values, long center)
    {
        double sum = 0, sumSq = 0;
        foreach (var v in values)
        {
            double d = v - center;
            sum += d;
            sumSq += d * d;
        }

        double mean = sum / values.Length;
        return (mean, (sumSq / values.Length) - (mean * mean));
    }

    /// <summary>TEST DOUBLE: a RandomNumberGenerator replaying a seeded stream, counting its calls.</summary>
    private sealed class RecordingGenerator(ulong seed) : RandomNumberGenerator
    {
        private readonly SeededTestRandomBits _stream = new(seed);

        public int Calls { get; private set; }

        public override void GetBytes(byte[] data)
        {
            Calls++;
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = (byte)_stream.NextUInt64();
            }
        }
    }
}
