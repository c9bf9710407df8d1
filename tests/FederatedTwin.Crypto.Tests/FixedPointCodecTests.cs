using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FsCheck.Xunit;

namespace FederatedTwin.Crypto.Tests;

public class FixedPointCodecTests
{
    [Property(MaxTest = 300)]
    public bool Encoding_then_decoding_is_within_half_a_resolution_step(double value)
    {
        var codec = FixedPointCodec.Uniform(1, 1e6, 1000);
        if (double.IsNaN(value) || Math.Abs(value) > codec.MaxValue(codec.Blocks[0]))
        {
            return true;
        }

        var decoded = codec.Decode(codec.Encode([value]))[0];
        return Math.Abs(decoded - value) <= (0.5 / 1e6) + (Math.Abs(value) * 1e-15);
    }

    [Fact]
    public void Blocks_use_their_own_scales()
    {
        var codec = new FixedPointCodec([new FixedPointBlock("gradient", 2, 1e9), new FixedPointBlock("hessian", 1, 1e3)], 1000);
        Assert.Equal(new long[] { 1_500_000_000, -2_000_000_000, 123_457 }, codec.Encode([1.5, -2.0, 123.4567]));
        Assert.Equal("hessian", codec.BlockOf(2).Name);
    }

    [Fact]
    public void The_headroom_is_sized_from_the_maximum_number_of_parties()
    {
        var codec = FixedPointCodec.Uniform(1, 1, 1000);
        Assert.Equal(long.MaxValue / 1000, codec.MaxEncodedMagnitude);
        var max = codec.MaxValue(codec.Blocks[0]);
        Assert.InRange(codec.Encode([max])[0], (long.MaxValue / 1000) - 4096, long.MaxValue / 1000);
        Assert.Throws<FixedPointOverflowException>(() => codec.Encode([Math.BitIncrement(max) + 2048]));
        Assert.Equal(long.MaxValue, FixedPointCodec.Uniform(1, 1, 1).MaxEncodedMagnitude);
    }

    [Fact]
    public void A_value_that_could_make_the_sum_wrap_is_refused_naming_its_index_and_block()
    {
        var codec = new FixedPointCodec([new FixedPointBlock("counts", 3, 1), new FixedPointBlock("costs", 2, 100)], 1000);
        var tooLarge = (codec.MaxValue(codec.Blocks[1]) * 1.01) + 1;
        var error = Assert.Throws<FixedPointOverflowException>(() => codec.Encode([1, 2, 3, 4, tooLarge]));
        Assert.Equal(4, error.Index);
        Assert.Equal("costs", error.Block);
        Assert.Contains("index 4", error.Message);
        Assert.Contains("costs", error.Message);
        // The message names the limit, never the offending value.
        Assert.DoesNotContain(tooLarge.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), error.Message);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Non_finite_values_are_refused(double value) =>
        Assert.Throws<FixedPointOverflowException>(() => FixedPointCodec.Uniform(1, 1, 10).Encode([value]));

    [Fact]
    public void Values_at_the_limit_of_1000_parties_sum_exactly_through_the_encryption()
    {
        var scheme = RlweThresholdScheme.Default;
        var codec = FixedPointCodec.Uniform(2, 1e4, scheme.MaxParties);
        var seed = scheme.NewCrpSeed();
        var secrets = new[] { scheme.GenerateSecret(), scheme.GenerateSecret() };
        var key = scheme.AggregatePublicKey(seed, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed)).ToArray());
        var max = codec.MaxValue(codec.Blocks[0]);
        var sum = scheme.NewSum(2);
        sum.Add(scheme.Encrypt(key, codec.Encode([max, -max])));
        sum.Add(scheme.Encrypt(key, codec.Encode([max, 0.25])));
        var aggregate = sum.ToBytes();
        var decoded = codec.Decode(scheme.CombineDecryptionShares(aggregate, secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, aggregate)).ToArray()));
        Assert.Equal(2 * codec.Encode([max, 0])[0] / 1e4, decoded[0], 6);
        Assert.Equal(-max + 0.25, decoded[1], 3);
    }

    [Fact]
    public void A_vector_of_the_wrong_length_is_refused() =>
        Assert.Throws<ArgumentException>(() => FixedPointCodec.Uniform(3, 1, 10).Encode([1, 2]));
}
