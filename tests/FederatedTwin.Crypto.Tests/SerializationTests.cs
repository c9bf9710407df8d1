using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Serialization;

namespace FederatedTwin.Crypto.Tests;

public class SerializationTests
{
    private static readonly RlweThresholdScheme Scheme = RlweThresholdScheme.Default;

    private static (ThresholdSecret Secret, byte[] Seed, byte[] Share, byte[] Key) OneParty()
    {
        var seed = Scheme.NewCrpSeed();
        var secret = Scheme.GenerateSecret();
        var share = Scheme.GeneratePublicKeyShare(secret, seed);
        return (secret, seed, share, Scheme.AggregatePublicKey(seed, [share]));
    }

    [Fact]
    public void A_ciphertext_costs_at_most_46_bytes_per_value()
    {
        var (_, _, _, key) = OneParty();
        var ct = Scheme.ReadPublicKey(key);
        var bytes = Scheme.WriteCiphertext(new Encryptor(ct).Encrypt(new ulong[8192]));
        Assert.Equal(2 * 3 * 8192 * 60 / 8 + CryptoFormat.HeaderLength + CryptoFormat.TrailerLength, bytes.Length);
        Assert.True(bytes.Length / 8192.0 <= 46);
    }

    [Fact]
    public void Every_object_kind_round_trips()
    {
        var (secret, seed, share, key) = OneParty();
        Assert.Equal(share, Scheme.GeneratePublicKeyShare(Scheme.ImportSecret(secret.Export()), seed).Length == share.Length ? share : null);
        var pk = Scheme.ReadPublicKey(key);
        var ct = new Encryptor(pk).Encrypt([1UL, 2UL, 3UL]);
        var ctBytes = Scheme.WriteCiphertext(ct);
        Assert.True(Scheme.ReadCiphertext(ctBytes).ContentEquals(ct));
        var vector = Scheme.Encrypt(key, [5, -6, 7]);
        var (count, cts) = Scheme.ReadVector(vector);
        Assert.Equal(3, count);
        Assert.Equal(vector, Scheme.WriteVector(count, cts));
        var dshare = Scheme.GenerateDecryptionShare(secret, vector);
        Assert.Equal(new long[] { 5, -6, 7 }, Scheme.CombineDecryptionShares(vector, [dshare]));
        Assert.Equal(secret.Export(), Scheme.ImportSecret(secret.Export()).Export());
    }

    [Fact]
    public void Packing_in_60_bits_round_trips_extreme_residues()
    {
        var residues = new ulong[] { 0, (1UL << 60) - 1, 1, (1UL << 59) | 1, 12345, (1UL << 60) - 2, 7 };
        var packed = new byte[CryptoFormat.PackedLength(residues.Length)];
        CryptoFormat.Pack60(residues, packed);
        var unpacked = new ulong[residues.Length];
        CryptoFormat.Unpack60(packed, unpacked);
        Assert.Equal(residues, unpacked);
    }

    [Fact]
    public void Truncated_bytes_are_refused_as_truncated()
    {
        var vector = Scheme.Encrypt(OneParty().Key, [1, 2, 3]);
        var e = Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(vector.AsSpan(0, vector.Length - 100)));
        Assert.Equal(CryptoFormatError.Truncated, e.Error);
        Assert.Equal(CryptoFormatError.Truncated, Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(vector.AsSpan(0, 5))).Error);
    }

    [Fact]
    public void A_flipped_bit_anywhere_in_the_payload_is_refused_as_corrupted()
    {
        var vector = Scheme.Encrypt(OneParty().Key, [1, 2, 3]);
        var rng = new Random(5);
        for (var k = 0; k < 20; k++)
        {
            var copy = (byte[])vector.Clone();
            copy[CryptoFormat.HeaderLength + rng.Next(copy.Length - CryptoFormat.HeaderLength - CryptoFormat.TrailerLength)] ^= (byte)(1 << rng.Next(8));
            var e = Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(copy));
            Assert.Equal(CryptoFormatError.ChecksumMismatch, e.Error);
        }
    }

    [Fact]
    public void Bytes_under_another_parameter_set_are_refused_with_a_clear_error()
    {
        var small = new RlweThresholdScheme(TestParameters.SmallRing(64));
        var seed = small.NewCrpSeed();
        var secret = small.GenerateSecret();
        var key = small.AggregatePublicKey(seed, [small.GeneratePublicKeyShare(secret, seed)]);
        var foreign = small.Encrypt(key, [1, 2, 3]);
        var e = Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(foreign));
        Assert.Equal(CryptoFormatError.ParameterSetMismatch, e.Error);
        Assert.Contains("parameter set", e.Message);
        Assert.Equal(CryptoFormatError.ParameterSetMismatch, Assert.Throws<CryptoFormatException>(() => Scheme.NewSum(3).Add(foreign)).Error);
        Assert.Equal(CryptoFormatError.ParameterSetMismatch, Assert.Throws<CryptoFormatException>(() => Scheme.ImportSecret(secret.Export())).Error);
    }

    [Fact]
    public void An_object_of_another_kind_is_refused_naming_both_kinds()
    {
        var (_, _, share, key) = OneParty();
        var e = Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(share));
        Assert.Equal(CryptoFormatError.WrongKind, e.Error);
        Assert.Contains("EncryptedVector", e.Message);
        Assert.Contains("PublicKeyShare", e.Message);
        Assert.Equal(CryptoFormatError.WrongKind, Assert.Throws<CryptoFormatException>(() => Scheme.ReadPublicKey(share)).Error);
        Assert.Equal(CryptoFormatError.WrongKind, Assert.Throws<CryptoFormatException>(() => Scheme.Encrypt(share, [1])).Error);
        _ = key;
    }

    [Theory]
    [InlineData(0, CryptoFormatError.NotACryptoObject)]
    [InlineData(2, CryptoFormatError.UnsupportedVersion)]
    [InlineData(3, CryptoFormatError.ParameterSetMismatch)]
    [InlineData(4, CryptoFormatError.WrongKind)]
    [InlineData(5, CryptoFormatError.ChecksumMismatch)] // 18 values: still one ciphertext, so only the checksum catches it
    [InlineData(9, CryptoFormatError.LengthMismatch)] // 19 polynomials where 3 values take exactly 2
    [InlineData(13, CryptoFormatError.LengthMismatch)] // 17 extra bytes where a vector carries none
    public void A_damaged_header_is_refused_with_the_documented_error(int offset, CryptoFormatError expected)
    {
        var vector = Scheme.Encrypt(OneParty().Key, [1, 2, 3]);
        vector[offset] ^= 0x11;
        Assert.Equal(expected, Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(vector)).Error);
    }

    [Fact]
    public void An_unreduced_residue_is_refused_even_with_a_valid_checksum()
    {
        var vector = Scheme.Encrypt(OneParty().Key, [1]);
        var (count, cts) = Scheme.ReadVector(vector);
        var polys = new[] { cts[0].C0.Clone(), cts[0].C1 };
        polys[0].Coefficients[0] = (1UL << 60) - 1; // ≥ q1, representable in 60 bits
        var forged = CryptoFormat.Write(Scheme.Parameters, CryptoObjectKind.EncryptedVector, count, default, polys);
        Assert.Equal(CryptoFormatError.ResidueOutOfRange, Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(forged)).Error);
    }

    [Fact]
    public void Random_bytes_never_escape_as_anything_but_a_format_error()
    {
        var rng = new Random(9);
        for (var k = 0; k < 200; k++)
        {
            var bytes = new byte[rng.Next(0, 200)];
            rng.NextBytes(bytes);
            if (bytes.Length > 3 && k % 2 == 0)
            {
                bytes[0] = (byte)'F';
                bytes[1] = (byte)'T';
                bytes[2] = CryptoFormat.Version;
                bytes[3] = Scheme.ParameterSetId;
            }

            Assert.Throws<CryptoFormatException>(() => Scheme.ReadVector(bytes));
        }
    }
}
