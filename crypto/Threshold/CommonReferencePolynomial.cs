using System.Text;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Crypto.Threshold;

/// <summary>
/// The common reference polynomial a (NTT form), expanded from a public 32-byte seed with
/// SHAKE-256 and rejection sampling, so that every party derives the same a without trusting
/// whoever chose the seed to have sampled it honestly (Mouchet et al., PETS 2021, §4: the CRS).
/// </summary>
public sealed class CommonReferencePolynomial
{
    public const int SeedLength = 32;

    private static readonly byte[] Domain = Encoding.ASCII.GetBytes("FederatedTwin/v1/crp");

    private CommonReferencePolynomial(byte[] seed, RnsPoly value)
    {
        Seed = seed;
        Value = value;
    }

    public byte[] Seed { get; }

    /// <summary>a, uniform in R_Q, in NTT form.</summary>
    public RnsPoly Value { get; }

    public static CommonReferencePolynomial Expand(RlweParameters parameters, ReadOnlySpan<byte> seed)
    {
        if (seed.Length != SeedLength)
        {
            throw new ArgumentException($"A CRP seed is {SeedLength} bytes, not {seed.Length}.", nameof(seed));
        }

        var ring = parameters.Ring;
        Span<byte> domain = stackalloc byte[Domain.Length + 1];
        Domain.CopyTo(domain);
        domain[^1] = parameters.Id.Value; // a seed expands differently under another parameter set
        var xof = new XofStream(seed, domain, ring.N * 8 * ring.Levels);
        var a = ring.NewPoly();
        new UniformSampler(ring, xof).Sample(a);
        return new CommonReferencePolynomial(seed.ToArray(), a);
    }

    public static byte[] NewSeed()
    {
        var seed = new byte[SeedLength];
        SystemRandomSource.Instance.Fill(seed);
        return seed;
    }
}
