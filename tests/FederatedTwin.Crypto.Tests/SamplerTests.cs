using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto.Tests;

public class SamplerTests
{
    private static readonly RnsRing Ring = RlweParameters.Default.Ring;

    [Fact]
    public void Gaussian_samples_have_mean_zero_and_variance_sigma_squared_and_respect_the_6_sigma_cut()
    {
        var sampler = new GaussianSampler(Ring, SystemRandomSource.Instance, 3.2, 6);
        var values = new int[Ring.N];
        var all = new List<int>();
        for (var k = 0; k < 25; k++)
        {
            sampler.Sample(Ring.NewPoly(), signedOut: values);
            all.AddRange(values);
        }

        var mean = all.Average();
        var variance = all.Select(v => (v - mean) * (v - mean)).Average();
        // 204,800 draws: the standard error of the mean is 3.2/√204800 ≈ 0.007 and of the variance ≈ 0.032.
        Assert.InRange(mean, -0.05, 0.05);
        Assert.InRange(variance, 10.24 - 0.25, 10.24 + 0.25);
        Assert.All(all, v => Assert.InRange(v, -19, 19));
        Assert.Equal(19, sampler.Bound);
    }

    [Fact]
    public void Gaussian_residues_match_the_signed_samples_in_every_level()
    {
        var sampler = new GaussianSampler(Ring, SystemRandomSource.Instance, 3.2, 6);
        var values = new int[Ring.N];
        var poly = Ring.NewPoly();
        sampler.Sample(poly, signedOut: values);
        for (var i = 0; i < Ring.Levels; i++)
        {
            var q = Ring.Moduli[i].Value;
            for (var j = 0; j < Ring.N; j++)
            {
                Assert.Equal((Int128)values[j], TestParameters.Centered(poly.Level(i)[j], q));
            }
        }
    }

    [Fact]
    public void Ternary_samples_are_uniform_on_minus_one_zero_one()
    {
        var sampler = new TernarySampler(Ring, SystemRandomSource.Instance);
        var counts = new int[3];
        var values = new sbyte[Ring.N];
        for (var k = 0; k < 20; k++)
        {
            sampler.Sample(Ring.NewPoly(), values);
            foreach (var v in values)
            {
                counts[v + 1]++;
            }
        }

        // Chi-square with 2 degrees of freedom; 13.8 is the 0.999 quantile.
        var expected = counts.Sum() / 3.0;
        var chi2 = counts.Sum(c => (c - expected) * (c - expected) / expected);
        Assert.True(chi2 < 13.8, $"chi-square {chi2:F2} for counts {string.Join(",", counts)}");
    }

    [Fact]
    public void Uniform_residues_are_reduced_and_centred_on_q_over_2()
    {
        var poly = Ring.NewPoly();
        new UniformSampler(Ring, SystemRandomSource.Instance).Sample(poly);
        Assert.True(Ring.IsReduced(poly));
        for (var i = 0; i < Ring.Levels; i++)
        {
            var q = (double)Ring.Moduli[i].Value;
            var mean = poly.Level(i).ToArray().Average(v => v / q);
            // Mean of 8192 uniforms on [0, 1): standard error 0.0032.
            Assert.InRange(mean, 0.5 - 0.02, 0.5 + 0.02);
        }
    }

    [Fact]
    public void The_CRP_is_the_same_for_the_same_seed_and_differs_for_another()
    {
        var p = RlweParameters.Default;
        var seed = CommonReferencePolynomial.NewSeed();
        var a1 = CommonReferencePolynomial.Expand(p, seed);
        var a2 = CommonReferencePolynomial.Expand(p, seed);
        var other = (byte[])seed.Clone();
        other[0] ^= 1;
        var b = CommonReferencePolynomial.Expand(p, other);
        Assert.True(a1.Value.ContentEquals(a2.Value));
        Assert.False(a1.Value.ContentEquals(b.Value));
        Assert.True(p.Ring.IsReduced(a1.Value));
    }

    [Fact]
    public void The_CRP_of_a_fixed_seed_is_pinned()
    {
        // Any change to the XOF, domain separation or rejection sampling changes this value and
        // would make nodes of different versions derive different keys: that must be deliberate.
        var a = CommonReferencePolynomial.Expand(RlweParameters.Default, new byte[32]);
        var expected = System.Security.Cryptography.Shake256.HashData(System.Text.Encoding.ASCII.GetBytes("FederatedTwin/v1/crp\u0001\0").Concat(new byte[32]).ToArray(), 8);
        var first = BitConverter.ToUInt64(expected) & ((1UL << 60) - 1);
        Assert.Equal(first, a.Value.Coefficients[0]);
    }

    [Fact]
    public void A_CRP_seed_of_the_wrong_length_is_refused() =>
        Assert.Throws<ArgumentException>(() => CommonReferencePolynomial.Expand(RlweParameters.Default, new byte[31]));

    [Fact]
    public void The_XOF_stream_is_the_same_however_it_is_read()
    {
        var seed = new byte[] { 1, 2, 3 };
        var whole = new byte[10_000];
        new XofStream(seed, "d"u8, 64).Fill(whole);
        var pieces = new XofStream(seed, "d"u8, 64);
        var chunked = new byte[10_000];
        for (var at = 0; at < chunked.Length; at += 777)
        {
            pieces.Fill(chunked.AsSpan(at, Math.Min(777, chunked.Length - at)));
        }

        Assert.Equal(whole, chunked);
        var otherDomain = new byte[10_000];
        new XofStream(seed, "e"u8).Fill(otherDomain);
        Assert.NotEqual(whole, otherDomain);
    }
}
