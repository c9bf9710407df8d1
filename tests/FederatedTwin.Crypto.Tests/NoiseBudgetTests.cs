using System.Numerics;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto.Tests;

/// <summary>The smudging width and the noise budget of docs/crypto.md §6–§7, on the production parameter set.</summary>
public class NoiseBudgetTests
{
    private static readonly RlweParameters Default = RlweParameters.Default;

    [Fact]
    public void The_decryption_share_is_c1_times_s_plus_smudging_uniform_in_plus_minus_2_to_the_96()
    {
        var ring = Default.Ring;
        var secret = SecretKey.Generate(Default);
        var ct = new Encryptor(PublicKey.Generate(secret)).Encrypt([5UL]);
        var protocol = new ThresholdDecryptionProtocol(Default);
        var share = protocol.AllocateShare();
        protocol.GenShare(secret, ct, share);
        var c1s = ring.NewPoly();
        ring.MulCoeffs(ct.C1, secret.Ntt, c1s);
        var smudge = ring.NewPoly();
        ring.Sub(share.Value, c1s, smudge);
        ring.InverseNtt(smudge);

        var crt = new Crt(Default);
        var bound = BigInteger.One << 96;
        var above95 = 0;
        for (var j = 0; j < ring.N; j++)
        {
            var v = crt.Centered(smudge, j);
            Assert.InRange(v, -bound, bound - 1);
            above95 += BigInteger.Abs(v) >= (BigInteger.One << 95) ? 1 : 0;
        }

        // Uniform on [−2^96, 2^96): half the coefficients lie at or above 2^95 in magnitude. A width
        // of 2^90 would leave none there.
        Assert.InRange(above95, (ring.N / 2) - 400, (ring.N / 2) + 400);
    }

    [Fact]
    public void A_thousand_parties_decrypt_a_sum_of_a_thousand_ciphertexts_at_the_codec_limit_exactly()
    {
        // The worst case the noise budget is sized for (docs/crypto.md §6): P = 1,000 smudged shares
        // and K = 1,000 summed ciphertexts under a 1,000-party key, every plaintext at the codec's
        // limit. Run on the protocol types directly; the wire format adds nothing to the noise.
        const int parties = 1000;
        var ring = Default.Ring;
        var secrets = new sbyte[parties][];
        var keyGen = new PublicKeyGenProtocol(Default);
        var crp = keyGen.SampleCrp(new byte[CommonReferencePolynomial.SeedLength]);
        var collective = keyGen.AllocateShare();
        var share = keyGen.AllocateShare();
        for (var i = 0; i < parties; i++)
        {
            var secret = SecretKey.Generate(Default);
            secrets[i] = secret.Coefficients; // 8 KB each; the NTT form is rebuilt for the decryption share
            keyGen.GenShare(secret, crp, share);
            keyGen.AggregateShares(collective, share, collective);
        }

        var encryptor = new Encryptor(keyGen.GenPublicKey(collective, crp));
        var limit = long.MaxValue / Default.MaxParties;
        var plaintext = Enumerable.Range(0, ring.N).Select(j => unchecked((ulong)(j % 2 == 0 ? limit : -limit))).ToArray();
        var sum = new Ciphertext(Default);
        var ct = new Ciphertext(Default);
        for (var k = 0; k < parties; k++)
        {
            encryptor.Encrypt(plaintext, ct);
            Evaluator.AddInPlace(sum, ct);
        }

        var decryption = new ThresholdDecryptionProtocol(Default);
        var combined = decryption.AllocateShare();
        var decryptionShare = decryption.AllocateShare();
        foreach (var coefficients in secrets)
        {
            decryption.GenShare(SecretKey.FromCoefficients(Default, coefficients), sum, decryptionShare);
            decryption.AggregateShares(combined, decryptionShare, combined);
        }

        var output = new ulong[ring.N];
        decryption.Decrypt(sum, combined, output);
        for (var j = 0; j < ring.N; j++)
        {
            Assert.Equal(j % 2 == 0 ? parties * limit : -parties * limit, unchecked((long)output[j]));
        }
    }

    [Fact]
    public void A_collective_key_may_decrypt_32_ciphertexts_that_is_262144_values()
    {
        Assert.Equal(32, Default.MaxCiphertextsPerKey);
        Assert.Equal(262_144, RlweThresholdScheme.Default.MaxValuesPerDecryption);
        Assert.Equal(-45.82, Default.Log2DistancePerCiphertext, 0.01);
    }

    [Theory]
    [InlineData(8192, 96, 1000)]
    [InlineData(8192, 96, 3)]
    [InlineData(8192, 100, 1000)]
    [InlineData(64, 96, 1000)]
    public void The_cap_is_the_largest_power_of_two_of_ciphertexts_within_2_to_the_minus_40_per_key(int n, int smudgingBits, int parties)
    {
        var p = n == Default.N && smudgingBits == Default.SmudgingBits && parties == Default.MaxParties
            ? Default
            : new RlweParameters(new ParameterSetId(0x7E), "test-cap", n, n == Default.N ? RlweParameters.DefaultPrimes : TestParameters.NttPrimes(n, 3), 3.2, 6, smudgingBits, parties);
        // δ = N·X/2^(b+1) with X = K·(N·P·B + B + N·B·P) + K/2, K = P, B = 19 (docs/crypto.md §7).
        // c·δ ≤ 2^-40  ⇔  c · N · 2X · 2^40 ≤ 2^(b+2).
        BigInteger b19 = 19, k = parties;
        var twiceX = (2 * k * ((n * parties * b19) + b19 + (n * b19 * parties))) + k;
        bool Within(BigInteger c) => c * n * twiceX << 40 <= BigInteger.One << (smudgingBits + 2);
        var cap = p.MaxCiphertextsPerKey;
        Assert.True(BitOperations.IsPow2(cap));
        Assert.True(Within(cap));
        Assert.True(!Within(2 * cap) || (long)2 * cap * n > 1 << 30, "the next power of two would still be within the budget");
    }

    [Fact]
    public void A_parameter_set_whose_thousand_shares_could_overflow_Q_over_2t_cannot_be_built()
    {
        // 1,000 · 2^110 = 2^120 > Q/(2t) = 2^115: decryption would not be exact.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new RlweParameters(new ParameterSetId(0x7D), "too-wide", 8192, RlweParameters.DefaultPrimes, 3.2, 6, 110, 1000));
        Assert.Contains("Q/(2t)", e.Message);
    }

    [Fact]
    public void A_parameter_set_whose_smudging_cannot_hide_one_ciphertext_cannot_be_built()
    {
        // At 2^80, one ciphertext already costs N·X/2^81 = 2^(13 + 38.2 − 81) = 2^-29.8 > 2^-40.
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new RlweParameters(new ParameterSetId(0x7C), "too-narrow", 8192, RlweParameters.DefaultPrimes, 3.2, 6, 80, 1000));
        Assert.Contains("2^-40", e.Message);
    }

    [Fact]
    public void A_decryption_share_of_more_ciphertexts_than_a_key_may_decrypt_is_refused()
    {
        var scheme = RlweThresholdScheme.Default;
        var secret = scheme.GenerateSecret();
        var seed = scheme.NewCrpSeed();
        var key = scheme.ReadPublicKey(scheme.AggregatePublicKey(seed, [scheme.GeneratePublicKeyShare(secret, seed)]));
        var ct = new Encryptor(key).Encrypt([1UL]);
        var ciphertexts = Default.MaxCiphertextsPerKey + 1;
        var polys = Enumerable.Range(0, ciphertexts).SelectMany(_ => new[] { ct.C0, ct.C1 }).ToArray();
        var oversized = CryptoFormat.Write(Default, CryptoObjectKind.EncryptedVector, scheme.MaxValuesPerDecryption + 1, default, polys);
        var e = Assert.Throws<CryptoFormatException>(() => scheme.GenerateDecryptionShare(secret, oversized));
        Assert.Equal(CryptoFormatError.TooManyValues, e.Error);
        Assert.Contains($"{Default.MaxValuesPerDecryption} values", e.Message);
        Assert.Contains("collective key", e.Message);
    }

    [Fact]
    public void A_sum_of_as_many_values_as_a_key_may_decrypt_decrypts_exactly()
    {
        var scheme = RlweThresholdScheme.Default;
        var seed = scheme.NewCrpSeed();
        var secrets = new[] { scheme.GenerateSecret(), scheme.GenerateSecret() };
        var key = scheme.AggregatePublicKey(seed, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray());
        var limit = long.MaxValue / scheme.MaxParties;
        var values = Enumerable.Range(0, scheme.MaxValuesPerDecryption).Select(j => j % 3 == 0 ? limit : -limit + j).ToArray();
        var sum = scheme.NewSum(values.Length);
        sum.Add(scheme.Encrypt(key, values));
        sum.Add(scheme.Encrypt(key, values));
        var aggregate = sum.ToBytes();
        var shares = secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, aggregate)).ToArray();
        Assert.Equal(values.Select(v => 2 * v), scheme.CombineDecryptionShares(aggregate, shares));
    }

    /// <summary>The integer a coefficient's residues stand for (CRT), centered in (−Q/2, Q/2].</summary>
    private sealed class Crt
    {
        private readonly RlweParameters _parameters;
        private readonly BigInteger[] _factors;

        public Crt(RlweParameters parameters)
        {
            _parameters = parameters;
            var q = parameters.Q;
            _factors = parameters.Ring.Moduli.Select(m =>
            {
                BigInteger qi = m.Value;
                var qHat = q / qi;
                return qHat * BigInteger.ModPow(qHat % qi, qi - 2, qi);
            }).ToArray();
        }

        public BigInteger Centered(RnsPoly poly, int j)
        {
            var q = _parameters.Q;
            var x = BigInteger.Zero;
            for (var i = 0; i < _factors.Length; i++)
            {
                x += poly.Level(i)[j] * _factors[i];
            }

            x %= q;
            return x > q / 2 ? x - q : x;
        }
    }
}
