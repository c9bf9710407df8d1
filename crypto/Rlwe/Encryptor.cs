using FederatedTwin.Crypto.Ring;

namespace FederatedTwin.Crypto.Rlwe;

/// <summary>
/// Public-key encryption (Lyubashevsky–Peikert–Regev; BFV form): with u ternary and e0, e1
/// Gaussian, c0 = p0·u + e0 + ⌊Q·m/t⌉ and c1 = p1·u + e1. Holds its own samplers and scratch
/// polynomials, so one instance per thread; the public key is shared read-only.
/// </summary>
public sealed class Encryptor
{
    private readonly PublicKey _key;
    private readonly RnsRing _ring;
    private readonly TernarySampler _ternary;
    private readonly GaussianSampler _gaussian;
    private readonly RnsPoly _u;

    public Encryptor(PublicKey key, RandomSource? random = null)
    {
        _key = key;
        _ring = key.Parameters.Ring;
        random ??= SystemRandomSource.Instance;
        _ternary = new TernarySampler(_ring, random);
        _gaussian = new GaussianSampler(_ring, random, key.Parameters.Sigma, key.Parameters.GaussianCutInSigmas);
        _u = _ring.NewPoly();
        _ = key.P0Shoup;
        _ = key.P1Shoup;
    }

    /// <summary>Encrypts up to N plaintext values mod 2^64 (missing values are zero) into output.</summary>
    public void Encrypt(ReadOnlySpan<ulong> plaintext, Ciphertext output)
    {
        _ternary.Sample(_u);
        _ring.Ntt(_u);

        _gaussian.Sample(output.C0);
        PlaintextScaling.AddScaled(_key.Parameters, plaintext, output.C0);
        _ring.Ntt(output.C0);
        _ring.MulCoeffsShoupAdd(_u, _key.P0, _key.P0Shoup, output.C0);

        _gaussian.Sample(output.C1);
        _ring.Ntt(output.C1);
        _ring.MulCoeffsShoupAdd(_u, _key.P1, _key.P1Shoup, output.C1);
    }

    public Ciphertext Encrypt(ReadOnlySpan<ulong> plaintext)
    {
        var ct = new Ciphertext(_key.Parameters);
        Encrypt(plaintext, ct);
        return ct;
    }
}

/// <summary>Single-key decryption, m = round(t·(c0 + c1·s)/Q) mod t. Tests and benchmarks only: no party of the product holds the whole secret.</summary>
public sealed class Decryptor(SecretKey key)
{
    public void Decrypt(Ciphertext ct, Span<ulong> plaintext)
    {
        var ring = key.Parameters.Ring;
        var x = ct.C0.Clone();
        ring.MulCoeffsShoupAdd(ct.C1, key.Ntt, key.NttShoup, x);
        ring.InverseNtt(x);
        PlaintextScaling.ScaleDown(key.Parameters, x, plaintext);
    }
}

/// <summary>Homomorphic addition: the only evaluation the scheme offers.</summary>
public static class Evaluator
{
    /// <summary>accumulator += other, coefficient-wise in each RNS level.</summary>
    public static void AddInPlace(Ciphertext accumulator, Ciphertext other)
    {
        var ring = accumulator.Parameters.Ring;
        if (!ReferenceEquals(accumulator.Parameters, other.Parameters) && accumulator.Parameters.Id != other.Parameters.Id)
        {
            throw new ArgumentException("Ciphertexts under different parameter sets cannot be added.", nameof(other));
        }

        for (var i = 0; i < ring.Levels; i++)
        {
            var q = ring.Moduli[i].Value;
            RnsRing.AddLevel(accumulator.C0.ReadLevel(i), other.C0.ReadLevel(i), accumulator.C0.Level(i), q);
            RnsRing.AddLevel(accumulator.C1.ReadLevel(i), other.C1.ReadLevel(i), accumulator.C1.Level(i), q);
        }
    }
}
