using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Threshold;
using FsCheck.Xunit;

namespace FederatedTwin.Crypto.Tests;

public class ThresholdTests
{
    private static readonly RlweThresholdScheme Scheme = RlweThresholdScheme.Default;

    private sealed record Federation(ThresholdSecret[] Secrets, byte[] Key);

    private static Federation Setup(IAdditiveThresholdScheme scheme, int parties)
    {
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, parties).Select(_ => scheme.GenerateSecret()).ToArray();
        var shares = secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray();
        return new Federation(secrets, scheme.AggregatePublicKey(seed, shares));
    }

    private static byte[] Sum(IAdditiveThresholdScheme scheme, byte[] key, IReadOnlyList<long[]> inputs)
    {
        var sum = scheme.NewSum(inputs[0].Length);
        foreach (var v in inputs)
        {
            sum.Add(scheme.Encrypt(key, v));
        }

        return sum.ToBytes();
    }

    private static long[] Decrypt(IAdditiveThresholdScheme scheme, byte[] aggregate, IEnumerable<ThresholdSecret> secrets) =>
        scheme.CombineDecryptionShares(aggregate, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, aggregate)).ToArray());

    private static long[] ExpectedSum(IReadOnlyList<long[]> inputs) =>
        Enumerable.Range(0, inputs[0].Length).Select(j => inputs.Sum(v => v[j])).ToArray();

    [Property(MaxTest = 12)]
    public bool Threshold_decryption_of_the_sum_is_exact_for_1_to_50_parties(byte partySeed, int valueSeed)
    {
        var parties = 1 + (partySeed % 50);
        var federation = Setup(Scheme, parties);
        var rng = new Random(valueSeed);
        var limit = long.MaxValue / Scheme.MaxParties;
        var length = 1 + rng.Next(9000); // sometimes two ciphertexts
        var inputs = Enumerable.Range(0, parties).Select(_ => Enumerable.Range(0, length).Select(j => (j % 5) switch
        {
            0 => limit,          // extremes at the codec's limit, both signs
            1 => -limit,
            _ => rng.NextInt64(-limit, limit + 1),
        }).ToArray()).ToArray();
        var aggregate = Sum(Scheme, federation.Key, inputs);
        return Decrypt(Scheme, aggregate, federation.Secrets).AsSpan().SequenceEqual(ExpectedSum(inputs));
    }

    [Fact]
    public void Fifty_parties_at_the_limit_of_the_codec_decrypt_exactly()
    {
        var federation = Setup(Scheme, 50);
        var limit = long.MaxValue / Scheme.MaxParties;
        var inputs = Enumerable.Range(0, 50).Select(k => Enumerable.Repeat(k % 2 == 0 ? limit : -limit + 1, 8192).ToArray()).ToArray();
        Assert.Equal(ExpectedSum(inputs), Decrypt(Scheme, Sum(Scheme, federation.Key, inputs), federation.Secrets));
    }

    [Fact]
    public void Decrypting_with_a_missing_share_yields_noise_not_the_sum()
    {
        var federation = Setup(Scheme, 4);
        var inputs = Enumerable.Range(0, 4).Select(k => Enumerable.Range(0, 1000).Select(j => (long)(j * (k + 1))).ToArray()).ToArray();
        var aggregate = Sum(Scheme, federation.Key, inputs);
        var expected = ExpectedSum(inputs);
        for (var missing = 0; missing < 4; missing++)
        {
            var result = Decrypt(Scheme, aggregate, federation.Secrets.Where((_, i) => i != missing));
            var matches = result.Zip(expected).Count(p => p.First == p.Second);
            Assert.True(matches <= 1, $"{matches} of 1000 values survived without party {missing}'s share");
            // And the values look uniform on 64 bits, not like a perturbed sum.
            Assert.True(result.Count(v => Math.Abs(v) > (1L << 60)) > 800);
        }
    }

    [Fact]
    public void A_share_from_a_party_outside_the_key_yields_noise_not_the_sum()
    {
        var federation = Setup(Scheme, 3);
        var outsider = Scheme.GenerateSecret();
        var inputs = Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 100).Select(j => (long)j).ToArray()).ToArray();
        var aggregate = Sum(Scheme, federation.Key, inputs);
        var result = Decrypt(Scheme, aggregate, [federation.Secrets[0], federation.Secrets[1], outsider]);
        Assert.NotEqual(ExpectedSum(inputs), result);
    }

    [Fact]
    public void The_public_key_share_is_e_minus_a_times_s_as_documented()
    {
        var p = TestParameters.SmallRing(64);
        var ring = p.Ring;
        var secret = SecretKey.Generate(p);
        var protocol = new PublicKeyGenProtocol(p);
        var crp = protocol.SampleCrp(new byte[32]);
        var share = protocol.AllocateShare();
        protocol.GenShare(secret, crp, share);
        // p_i + a·s_i = e_i must be Gaussian-small.
        var aS = ring.NewPoly();
        ring.MulCoeffs(crp.Value, secret.Ntt, aS);
        var e = ring.NewPoly();
        ring.Add(share.Value, aS, e);
        ring.InverseNtt(e);
        for (var i = 0; i < ring.Levels; i++)
        {
            Assert.All(e.Level(i).ToArray(), r => Assert.InRange(TestParameters.Centered(r, ring.Moduli[i].Value), -19, 19));
        }
    }

    [Fact]
    public void Single_key_encryption_round_trips_every_64_bit_pattern()
    {
        var p = RlweParameters.Default;
        var secret = SecretKey.Generate(p);
        var key = PublicKey.Generate(secret);
        var rng = new Random(3);
        var plaintext = Enumerable.Range(0, p.N).Select(j => j switch { 0 => 0UL, 1 => ulong.MaxValue, 2 => 1UL << 63, 3 => (1UL << 63) - 1, _ => (ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 63) }).ToArray();
        var ct = new Encryptor(key).Encrypt(plaintext);
        var output = new ulong[p.N];
        new Decryptor(secret).Decrypt(ct, output);
        Assert.Equal(plaintext, output);
    }

    [Fact]
    public void Sums_wrap_modulo_2_to_the_64_as_the_plaintext_space_does()
    {
        var federation = Setup(Scheme, 2);
        var inputs = new[] { new[] { long.MaxValue, -1L }, new[] { 1L, long.MinValue } };
        Assert.Equal(new[] { long.MinValue, long.MaxValue }, Decrypt(Scheme, Sum(Scheme, federation.Key, inputs), federation.Secrets));
    }

    [Fact]
    public void An_exported_secret_imports_to_the_same_key()
    {
        var federation = Setup(Scheme, 2);
        var restored = federation.Secrets.Select(s => Scheme.ImportSecret(s.Export())).ToArray();
        var inputs = new[] { new long[] { 7, 8 }, new long[] { -1, 1 } };
        Assert.Equal(new long[] { 6, 9 }, Decrypt(Scheme, Sum(Scheme, federation.Key, inputs), restored));
    }

    [Fact]
    public void Aggregating_the_same_shares_gives_the_same_key_bytes_so_a_node_can_check_it()
    {
        var seed = Scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, 3).Select(_ => Scheme.GenerateSecret()).ToArray();
        var shares = secrets.Select(s => (ReadOnlyMemory<byte>)Scheme.GeneratePublicKeyShare(s, seed)).ToArray();
        Assert.Equal(Scheme.AggregatePublicKey(seed, shares), Scheme.AggregatePublicKey(seed, shares.Reverse().ToArray()));
        Assert.NotEqual(Scheme.AggregatePublicKey(seed, shares), Scheme.AggregatePublicKey(seed, shares[..2]));
    }

    [Fact]
    public void Summing_the_same_submissions_gives_the_same_aggregate_bytes_so_a_node_can_check_it()
    {
        var federation = Setup(Scheme, 2);
        var a = Scheme.Encrypt(federation.Key, [1, 2, 3]);
        var b = Scheme.Encrypt(federation.Key, [4, 5, 6]);
        var s1 = Scheme.NewSum(3);
        s1.Add(a);
        s1.Add(b);
        var s2 = Scheme.NewSum(3);
        s2.Add(b);
        s2.Add(a);
        Assert.Equal(s1.ToBytes(), s2.ToBytes());
        Assert.Equal(2, s1.Count);
    }

    [Fact]
    public void A_vector_of_another_length_cannot_be_added_to_a_sum()
    {
        var federation = Setup(Scheme, 1);
        var sum = Scheme.NewSum(3);
        Assert.Throws<FederatedTwin.Crypto.Serialization.CryptoFormatException>(() => sum.Add(Scheme.Encrypt(federation.Key, [1, 2])));
    }
}
