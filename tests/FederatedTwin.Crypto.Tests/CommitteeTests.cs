using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto.Tests;

/// <summary>t-of-n decryption over Shamir shares of the collective secret (ICommitteeThresholdScheme, docs/crypto.md §13).</summary>
public class CommitteeTests
{
    private static readonly RlweThresholdScheme Small = new(TestParameters.SmallRing(1024));

    private sealed record Committee(byte[] Key, ThresholdSecret[] Members, int[] Points);

    /// <summary>n parties make a collective key, each deals Shamir shares to all (itself included) at points 1..n, each sums its shares.</summary>
    private static Committee Setup(RlweThresholdScheme scheme, int n, int t)
    {
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, n).Select(_ => scheme.GenerateSecret()).ToArray();
        var key = scheme.AggregatePublicKey(seed, [.. secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed))]);
        var points = Enumerable.Range(1, n).ToArray();
        var dealt = secrets.Select(s => scheme.DealShares(s, t, points, seed)).ToArray();
        var members = points.Select((p, j) => scheme.CombineShamirShares(p, [.. dealt.Select(d => (ReadOnlyMemory<byte>)d[j])])).ToArray();
        return new Committee(key, members, points);
    }

    private static (byte[] Aggregate, long[] Expected) Encrypt(RlweThresholdScheme scheme, byte[] key, int parties, int length, int seed)
    {
        var rng = new Random(seed);
        var limit = long.MaxValue / scheme.MaxParties;
        var inputs = Enumerable.Range(0, parties).Select(_ => Enumerable.Range(0, length).Select(_ => rng.NextInt64(-limit, limit)).ToArray()).ToArray();
        var sum = scheme.NewSum(length);
        foreach (var v in inputs)
        {
            sum.Add(scheme.Encrypt(key, v));
        }

        return (sum.ToBytes(), [.. Enumerable.Range(0, length).Select(j => inputs.Sum(v => v[j]))]);
    }

    private static long[] Decrypt(RlweThresholdScheme scheme, Committee committee, byte[] aggregate, IReadOnlyList<int> indices)
    {
        var points = indices.Select(i => committee.Points[i]).ToArray();
        var shares = indices.Select(i => (ReadOnlyMemory<byte>)scheme.GenerateCommitteeDecryptionShare(committee.Members[i], points, aggregate)).ToArray();
        return scheme.CombineDecryptionShares(aggregate, shares);
    }

    private static IEnumerable<int[]> Subsets(int n, int size) =>
        size == 0 ? [[]] : Enumerable.Range(0, n).SelectMany(first => Subsets(n, size - 1).Where(rest => rest.All(r => r > first)).Select(rest => (int[])[first, .. rest]));

    [Fact]
    public void Every_3_of_5_decrypts_exactly_under_the_default_parameters_and_so_do_4_and_5()
    {
        var scheme = RlweThresholdScheme.Default;
        var committee = Setup(scheme, 5, 3);
        var (aggregate, expected) = Encrypt(scheme, committee.Key, 5, 9000, 1); // two ciphertexts
        var sets = Subsets(5, 3).Concat(Subsets(5, 4)).Append([0, 1, 2, 3, 4]).ToList();
        Assert.Equal(10 + 5 + 1, sets.Count);
        foreach (var set in sets)
        {
            Assert.Equal(expected, Decrypt(scheme, committee, aggregate, set));
        }
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(4, 3)]
    [InlineData(7, 4)]
    [InlineData(10, 10)]
    [InlineData(12, 5)]
    public void Any_t_of_n_decrypt_and_t_minus_1_leave_noise(int n, int t)
    {
        var committee = Setup(Small, n, t);
        var (aggregate, expected) = Encrypt(Small, committee.Key, n, 700, n * 31 + t);
        var rng = new Random(n + (100 * t));
        for (var trial = 0; trial < 3; trial++)
        {
            var set = Enumerable.Range(0, n).OrderBy(_ => rng.Next()).Take(t).Order().ToArray();
            Assert.Equal(expected, Decrypt(Small, committee, aggregate, set));
            if (t > 1)
            {
                // t − 1 members, each weighting its secret for the smaller set: Lagrange over t − 1 points of a degree t − 1
                // polynomial is not F(0), so the result is uniform noise.
                AssertNoise(expected, Decrypt(Small, committee, aggregate, set[..^1]));
            }
        }
    }

    [Fact]
    public void A_member_that_weights_for_another_set_or_a_missing_share_leaves_noise()
    {
        var committee = Setup(Small, 5, 3);
        var (aggregate, expected) = Encrypt(Small, committee.Key, 5, 500, 7);
        int[] set = [0, 2, 4];
        var points = set.Select(i => committee.Points[i]).ToArray();
        var shares = set.Select(i => (ReadOnlyMemory<byte>)Small.GenerateCommitteeDecryptionShare(committee.Members[i], points, aggregate)).ToList();
        Assert.Equal(expected, Small.CombineDecryptionShares(aggregate, shares));

        // Member 4 weights its secret for {1, 3, 5} instead of {1, 3, 5}'s actual members {0, 2, 4} → {1, 2, 5}: wrong λ.
        shares[2] = Small.GenerateCommitteeDecryptionShare(committee.Members[4], [1, 2, 5], aggregate);
        AssertNoise(expected, Small.CombineDecryptionShares(aggregate, shares));
        AssertNoise(expected, Small.CombineDecryptionShares(aggregate, shares.Take(2).ToList()));
    }

    [Fact]
    public void A_dealer_that_deals_an_inconsistent_share_makes_decryption_fail_not_leak()
    {
        var scheme = Small;
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, 4).Select(_ => scheme.GenerateSecret()).ToArray();
        var key = scheme.AggregatePublicKey(seed, [.. secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed))]);
        int[] points = [1, 2, 3, 4];
        var dealt = secrets.Select(s => scheme.DealShares(s, 2, points, seed).ToArray()).ToArray();
        // Dealer 0 gives member 1 the share of another polynomial (dealt under another context).
        dealt[0][1] = scheme.DealShares(secrets[0], 2, points, [1, 2, 3])[1];
        var members = points.Select((p, j) => scheme.CombineShamirShares(p, [.. dealt.Select(d => (ReadOnlyMemory<byte>)d[j])])).ToArray();
        var committee = new Committee(key, members, points);
        var (aggregate, expected) = Encrypt(scheme, key, 4, 300, 3);
        Assert.Equal(expected, Decrypt(scheme, committee, aggregate, [2, 3]));
        AssertNoise(expected, Decrypt(scheme, committee, aggregate, [0, 1]));
    }

    [Fact]
    public void Dealing_is_derived_from_the_secret_and_the_context()
    {
        var secret = Small.GenerateSecret();
        int[] points = [1, 2, 3];
        var once = Small.DealShares(secret, 2, points, [9, 9]);
        var again = Small.DealShares(Small.ImportSecret(secret.Export()), 2, points, [9, 9]);
        Assert.Equal(once, again);
        Assert.NotEqual(once[0], Small.DealShares(secret, 2, points, [9, 8])[0]);
        Assert.NotEqual(once[0], Small.DealShares(Small.GenerateSecret(), 2, points, [9, 9])[0]);
        Assert.All(once, s => Assert.Equal(Small.ShamirShareLength, s.Length));
    }

    [Fact]
    public void A_committee_secret_survives_sealing_and_is_told_apart_from_a_dealer_secret()
    {
        var committee = Setup(Small, 3, 2);
        var (aggregate, expected) = Encrypt(Small, committee.Key, 3, 100, 5);
        var reimported = committee.Members.Select(m => Small.ImportSecret(m.Export())).ToArray();
        Assert.All(reimported, m => Assert.True(Small.IsCommitteeSecret(m)));
        Assert.False(Small.IsCommitteeSecret(Small.GenerateSecret()));
        Assert.Equal(expected, Decrypt(Small, committee with { Members = reimported }, aggregate, [0, 2]));
        // A committee secret cannot make an n-of-n share (it would be weighted by nothing), nor deal.
        Assert.Throws<ArgumentException>(() => Small.GenerateDecryptionShare(reimported[0], aggregate));
        Assert.Throws<ArgumentException>(() => Small.DealShares(reimported[0], 2, [1, 2, 3], []));
        // The share is the size of an n-of-n share: the combiner is the same.
        Assert.Equal(Small.DecryptionShareLength(100), Small.GenerateCommitteeDecryptionShare(reimported[0], [1, 3], aggregate).Length);
    }

    [Fact]
    public void Points_and_thresholds_out_of_range_are_refused()
    {
        var secret = Small.GenerateSecret();
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.DealShares(secret, 2, [0, 1, 2], []));
        Assert.Throws<ArgumentException>(() => Small.DealShares(secret, 2, [1, 1, 2], []));
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.DealShares(secret, 1001, [1, 2, 3], []));
        Assert.Equal(Small.DealShares(secret, 3, [1, 2, 3], [7])[1], Small.DealShares(secret, 3, [2], [7])[0]); // the polynomial does not depend on the points asked
        Assert.Throws<ArgumentOutOfRangeException>(() => Small.DealShares(secret, 0, [1, 2, 3], []));
        var share = Small.DealShares(secret, 2, [1, 2, 3], [])[1];
        var e = Assert.Throws<CryptoFormatException>(() => Small.CombineShamirShares(3, [share]));
        Assert.Equal(CryptoFormatError.InvalidValue, e.Error);
        share[5] = 0; // point 0 in the header
        share[6] = 0;
        Assert.Equal(CryptoFormatError.InvalidValue, Assert.Throws<CryptoFormatException>(() => Small.CombineShamirShares(2, [share])).Error);
        Assert.Throws<ArgumentException>(() => ShamirSharing.LagrangeAtZero(Small.Parameters.Ring, 4, [1, 2, 3]));
    }

    [Fact]
    public void Lagrange_coefficients_interpolate_a_constant_and_sum_to_one()
    {
        var ring = Small.Parameters.Ring;
        foreach (int[] set in (int[][])[[1, 2], [1, 3, 5], [2, 4, 6, 8, 10], [7, 100, 999]])
        {
            for (var i = 0; i < ring.Levels; i++)
            {
                var m = ring.Moduli[i];
                var total = set.Aggregate(0UL, (acc, p) => m.Add(acc, ShamirSharing.LagrangeAtZero(ring, p, set)[i]));
                Assert.Equal(1UL, total); // Σ λ_j·f(α_j) = f(0) for f = 1
                var linear = set.Aggregate(0UL, (acc, p) => m.Add(acc, m.Mul(ShamirSharing.LagrangeAtZero(ring, p, set)[i], (ulong)p)));
                Assert.Equal(0UL, linear); // … and = 0 for f = X
            }
        }
    }

    private static void AssertNoise(long[] expected, long[] result)
    {
        var matches = result.Zip(expected).Count(p => p.First == p.Second);
        Assert.True(matches <= 1, $"{matches} of {expected.Length} values survived");
        Assert.True(result.Count(v => Math.Abs(v) > (1L << 60)) > result.Length * 8 / 10, "the result does not look uniform on 64 bits");
    }
}
