using FederatedTwin.Crypto.Ring;

namespace FederatedTwin.Crypto.Rlwe;

/// <summary>
/// A ternary secret s (one party's additive share of the collective secret). Held in NTT form with
/// Shoup companions, because its only use is as the fixed factor of c1·s. The signed coefficients
/// are kept for export under the node's DataProtection key ring.
/// </summary>
public sealed class SecretKey
{
    internal SecretKey(RlweParameters parameters, sbyte[] coefficients)
    {
        Parameters = parameters;
        Coefficients = coefficients;
        var ring = parameters.Ring;
        Ntt = ring.NewPoly();
        for (var j = 0; j < ring.N; j++)
        {
            for (var i = 0; i < ring.Levels; i++)
            {
                Ntt.Coefficients[(i * ring.N) + j] = coefficients[j] switch
                {
                    1 => 1UL,
                    -1 => ring.Moduli[i].Value - 1,
                    _ => 0UL,
                };
            }
        }

        ring.Ntt(Ntt);
        NttShoup = ring.ShoupCompanions(Ntt);
    }

    public RlweParameters Parameters { get; }

    /// <summary>Signed coefficients in {−1, 0, 1}.</summary>
    internal sbyte[] Coefficients { get; }

    /// <summary>s in NTT form.</summary>
    internal RnsPoly Ntt { get; }

    internal RnsPoly NttShoup { get; }

    public static SecretKey Generate(RlweParameters parameters, RandomSource? random = null)
    {
        var ring = parameters.Ring;
        var coefficients = new sbyte[ring.N];
        new TernarySampler(ring, random ?? SystemRandomSource.Instance).Sample(ring.NewPoly(), coefficients);
        return new SecretKey(parameters, coefficients);
    }

    public static SecretKey FromCoefficients(RlweParameters parameters, ReadOnlySpan<sbyte> coefficients)
    {
        if (coefficients.Length != parameters.N)
        {
            throw new ArgumentException($"A secret key has {parameters.N} coefficients.", nameof(coefficients));
        }

        foreach (var c in coefficients)
        {
            if (c is < -1 or > 1)
            {
                throw new ArgumentException("Secret key coefficients must be ternary.", nameof(coefficients));
            }
        }

        return new SecretKey(parameters, coefficients.ToArray());
    }
}

/// <summary>A public key (p0, p1) = (−a·s + e, a), both in NTT form.</summary>
public sealed class PublicKey(RlweParameters parameters, RnsPoly p0, RnsPoly p1)
{
    private RnsPoly? _p0Shoup;
    private RnsPoly? _p1Shoup;

    public RlweParameters Parameters { get; } = parameters;

    public RnsPoly P0 { get; } = p0;

    public RnsPoly P1 { get; } = p1;

    internal RnsPoly P0Shoup => _p0Shoup ??= Parameters.Ring.ShoupCompanions(P0);

    internal RnsPoly P1Shoup => _p1Shoup ??= Parameters.Ring.ShoupCompanions(P1);

    /// <summary>Single-party key generation (tests and the SEAL-comparison benchmark); the product uses the collective protocol.</summary>
    public static PublicKey Generate(SecretKey secret, RandomSource? random = null)
    {
        var parameters = secret.Parameters;
        var ring = parameters.Ring;
        var a = ring.NewPoly();
        new UniformSampler(ring, random ?? SystemRandomSource.Instance).Sample(a);
        var p0 = ring.NewPoly();
        new GaussianSampler(ring, SystemRandomSource.Instance, parameters.Sigma, parameters.GaussianCutInSigmas).Sample(p0);
        ring.Ntt(p0);
        var aS = ring.NewPoly();
        ring.MulCoeffsShoup(a, secret.Ntt, secret.NttShoup, aS);
        ring.Sub(p0, aS, p0);
        return new PublicKey(parameters, p0, a);
    }
}

/// <summary>A ciphertext (c0, c1) in NTT form, with c0 + c1·s = Δ·m + e.</summary>
public sealed class Ciphertext(RlweParameters parameters, RnsPoly c0, RnsPoly c1)
{
    public Ciphertext(RlweParameters parameters)
        : this(parameters, parameters.Ring.NewPoly(), parameters.Ring.NewPoly())
    {
    }

    public RlweParameters Parameters { get; } = parameters;

    public RnsPoly C0 { get; } = c0;

    public RnsPoly C1 { get; } = c1;

    public Ciphertext Clone() => new(Parameters, C0.Clone(), C1.Clone());

    public bool ContentEquals(Ciphertext other) => C0.ContentEquals(other.C0) && C1.ContentEquals(other.C1);
}
