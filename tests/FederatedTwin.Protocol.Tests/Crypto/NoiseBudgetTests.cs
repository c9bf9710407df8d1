using System.Numerics;
using FederatedTwin.Protocol.Crypto.Ring;
using FederatedTwin.Protocol.Crypto.Rlwe;
using FederatedTwin.Protocol.Crypto.Threshold;

namespace FederatedTwin.Protocol.Tests.Crypto;

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
