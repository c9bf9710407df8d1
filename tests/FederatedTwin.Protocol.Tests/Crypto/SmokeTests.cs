using FederatedTwin.Protocol.Crypto;

namespace FederatedTwin.Protocol.Tests.Crypto;

public class SmokeTests
{
    [Fact]
    public void Three_party_sum_decrypts_exactly()
    {
        var scheme = RlweThresholdScheme.Default;
        var seed = scheme.NewCrpSeed();
        var secrets = Enumerable.Range(0, 3).Select(_ => scheme.GenerateSecret()).ToArray();
        var shares = secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray();
        var pk = scheme.AggregatePublicKey(seed, shares);
        var inputs = new[] { new long[] { 1, -2, 3, long.MaxValue / 1000 }, new long[] { 10, 20, -30, 5 }, new long[] { 100, 200, 300, -7 } };
        var sum = scheme.NewSum(4);
        foreach (var v in inputs)
        {
            sum.Add(scheme.Encrypt(pk, v));
        }

        var agg = sum.ToBytes();
        var dshares = secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, agg)).ToArray();
        var result = scheme.CombineDecryptionShares(agg, dshares);
        Assert.Equal(new long[] { 111, 218, 273, (long.MaxValue / 1000) - 2 }, result);
    }
}
