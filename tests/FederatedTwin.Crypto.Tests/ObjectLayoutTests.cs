using System.Buffers.Binary;
using System.IO.Hashing;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Serialization;

namespace FederatedTwin.Crypto.Tests;

/// <summary>
/// Exact counts per object kind (docs/crypto.md §9), refused through the public surface that reads
/// each kind, with a valid checksum so the count rule — not the checksum — is what refuses.
/// </summary>
public class ObjectLayoutTests
{
    private static readonly RlweThresholdScheme Scheme = RlweThresholdScheme.Default;
    private static readonly RlweParameters P = Scheme.Parameters;
    private static readonly Lazy<Federation> Shared = new(() => Federation.Create(2));

    /// <summary>kind, declared value count, polynomial count, extra length, the expected refusal.</summary>
    public static TheoryData<CryptoObjectKind, long, int, int, CryptoFormatError> Malformed => new()
    {
        { CryptoObjectKind.PublicKeyShare, 0, 0, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.PublicKeyShare, 0, 2, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.PublicKeyShare, 1, 1, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.PublicKeyShare, int.MaxValue, 1, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.PublicKeyShare, 0, 1, 32, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.CollectivePublicKey, 2, 0, 32, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.CollectivePublicKey, 2, 2, 32, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.CollectivePublicKey, 0, 1, 32, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.CollectivePublicKey, 1001, 1, 32, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.CollectivePublicKey, int.MaxValue, 1, 32, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.CollectivePublicKey, 2, 1, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.CollectivePublicKey, 2, 1, 31, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.CollectivePublicKey, 2, 1, 33, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.Ciphertext, 8192, 0, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.Ciphertext, 8192, 1, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.Ciphertext, 8192, 3, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.Ciphertext, 0, 2, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.Ciphertext, int.MaxValue, 2, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.Ciphertext, 8192, 2, 1, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.EncryptedVector, 3, 0, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.EncryptedVector, 3, 1, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.EncryptedVector, 3, 4, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.EncryptedVector, 8193, 2, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.EncryptedVector, 0, 2, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.EncryptedVector, 262_145, 2, 0, CryptoFormatError.TooManyValues },
        { CryptoObjectKind.EncryptedVector, int.MaxValue, 2, 0, CryptoFormatError.TooManyValues },
        { CryptoObjectKind.EncryptedVector, 3, 2, 1, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.DecryptionShare, 3, 0, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.DecryptionShare, 3, 2, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.DecryptionShare, 8193, 1, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.DecryptionShare, 0, 1, 0, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.DecryptionShare, int.MaxValue, 1, 0, CryptoFormatError.TooManyValues },
        { CryptoObjectKind.DecryptionShare, 3, 1, 1, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.SecretKey, 0, 1, 2048, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.SecretKey, 0, 0, 0, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.SecretKey, 0, 0, 2047, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.SecretKey, 0, 0, 2049, CryptoFormatError.LengthMismatch },
        { CryptoObjectKind.SecretKey, 1, 0, 2048, CryptoFormatError.InvalidValue },
        { CryptoObjectKind.SecretKey, int.MaxValue, 0, 2048, CryptoFormatError.InvalidValue },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Wrong_counts_for_the_kind_are_refused_with_the_documented_error_by_every_reader(CryptoObjectKind kind, long valueCount, int polyCount, int extraLength, CryptoFormatError expected)
    {
        var forged = Forge(kind, (uint)valueCount, polyCount, extraLength);
        foreach (var read in Shared.Value.Readers(kind))
        {
            var e = Assert.Throws<CryptoFormatException>(() => read(forged));
            Assert.Equal(expected, e.Error);
        }
    }

    [Theory]
    [InlineData(CryptoObjectKind.EncryptedVector)]
    [InlineData(CryptoObjectKind.DecryptionShare)]
    public void A_header_claiming_billions_of_values_and_polynomials_is_refused_from_its_header_alone(CryptoObjectKind kind)
    {
        // 15 header bytes and a trailer: nothing to hash or allocate from; the counts alone refuse it.
        var bytes = new byte[CryptoFormat.HeaderLength + CryptoFormat.TrailerLength];
        "FT"u8.CopyTo(bytes);
        bytes[2] = CryptoFormat.Version;
        bytes[3] = P.Id.Value;
        bytes[4] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), uint.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(9), uint.MaxValue);
        foreach (var read in Shared.Value.Readers(kind))
        {
            Assert.Equal(CryptoFormatError.TooManyValues, Assert.Throws<CryptoFormatException>(() => read(bytes)).Error);
        }
    }

    [Fact]
    public void Well_formed_objects_of_every_kind_pass_every_reader()
    {
        var federation = Shared.Value;
        foreach (var (kind, bytes) in federation.Valid())
        {
            foreach (var read in federation.Readers(kind))
            {
                read(bytes);
            }
        }
    }

    [Fact]
    public void The_lengths_the_scheme_announces_are_the_lengths_it_writes()
    {
        // Services size what they accept on the wire by these (the coordinator's body limits, the node's response limits).
        var federation = Shared.Value;
        Assert.Equal(federation.PublicKeyShare.Length, Scheme.PublicKeyShareLength);
        Assert.Equal(federation.Sum.Length, Scheme.EncryptedVectorLength(3));
        Assert.Equal(federation.Shares[0].Length, Scheme.DecryptionShareLength(3));
        Assert.Equal(CryptoFormat.SerializedLength(P, 2 * P.MaxCiphertextsPerKey, 0), Scheme.EncryptedVectorLength(Scheme.MaxValuesPerDecryption));
        Assert.Equal(Scheme.EncryptedVectorLength(P.N), Scheme.EncryptedVectorLength(1));
        Assert.True(Scheme.EncryptedVectorLength(P.N + 1) > Scheme.EncryptedVectorLength(P.N));
        Assert.Throws<ArgumentOutOfRangeException>(() => Scheme.EncryptedVectorLength(Scheme.MaxValuesPerDecryption + 1));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(262_145)]
    [InlineData(int.MaxValue)]
    public void A_sum_of_no_values_or_more_than_a_key_may_decrypt_cannot_be_started(int valueCount)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Scheme.NewSum(valueCount));
        Assert.Equal("valueCount", e.ParamName);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(262_145)]
    public void Encrypting_no_values_or_more_than_a_key_may_decrypt_is_refused(int length)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Scheme.Encrypt(Shared.Value.Key, new long[length]));
        Assert.Equal("values", e.ParamName);
    }

    [Fact]
    public void A_collective_key_of_more_shares_than_the_parameters_are_sized_for_is_refused()
    {
        var share = (ReadOnlyMemory<byte>)Shared.Value.PublicKeyShare;
        var shares = Enumerable.Repeat(share, Scheme.MaxParties + 1).ToArray();
        Assert.Throws<ArgumentException>(() => Scheme.AggregatePublicKey(Shared.Value.Seed, shares));
    }

    [Fact]
    public void Relabelled_counts_with_a_consistent_body_never_escape_as_anything_but_a_format_error()
    {
        // Every boundary value count × 0–4 polynomials × three extra lengths, each with a body of
        // exactly the declared length and a recomputed checksum, so that only the count rules stand
        // between the header and the code that allocates and indexes from it.
        var federation = Shared.Value;
        foreach (var (kind, valid) in federation.Valid())
        {
            var validExtra = BinaryPrimitives.ReadUInt16LittleEndian(valid.AsSpan(13));
            foreach (var valueCount in Interesting)
            {
                for (var polyCount = 0; polyCount <= 4; polyCount++)
                {
                    foreach (var extraLength in new[] { 0, validExtra, validExtra + 1 }.Distinct())
                    {
                        AssertOnlyFormatErrors(federation, kind, Relabel(valid, valueCount, polyCount, extraLength), $"v={valueCount}, polys={polyCount}, extra={extraLength}");
                    }
                }
            }
        }
    }

    [Fact]
    public void Mutated_headers_of_valid_objects_never_escape_as_anything_but_a_format_error()
    {
        // Deterministic seeds. Half the mutations recompute the checksum, and some relabel the counts
        // with a body of the declared length, so that the counts, not the checksum or the length,
        // must refuse them. An object still well formed after a mutation (a vector of 3 values
        // relabelled as 5) may be accepted; any exception must be a format error.
        var federation = Shared.Value;
        foreach (var (kind, valid) in federation.Valid())
        {
            for (var seed = 0; seed < 300; seed++)
            {
                var rng = new Random((seed * 31) + (int)kind);
                AssertOnlyFormatErrors(federation, kind, Mutate(valid, rng), $"seed {seed}");
            }
        }
    }

    private static readonly uint[] Interesting = [0, 1, 2, 3, 1000, 1001, 8191, 8192, 8193, 16_385, 262_144, 262_145, int.MaxValue, (uint)int.MaxValue + 1, uint.MaxValue];

    private static void AssertOnlyFormatErrors(Federation federation, CryptoObjectKind kind, byte[] bytes, string what)
    {
        foreach (var read in federation.Readers(kind))
        {
            try
            {
                read(bytes);
            }
            catch (CryptoFormatException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{kind}, {what}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private static byte[] Mutate(byte[] valid, Random rng)
    {
        var bytes = (byte[])valid.Clone();
        switch (rng.Next(5))
        {
            case 0: // random header bytes
                for (var k = rng.Next(1, 4); k > 0; k--)
                {
                    bytes[rng.Next(CryptoFormat.HeaderLength)] = (byte)rng.Next(256);
                }

                break;
            case 1: // one count field set to a boundary value, the body left as it was
                var value = Interesting[rng.Next(Interesting.Length)];
                switch (rng.Next(3))
                {
                    case 0: BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), value); break;
                    case 1: BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(9), value); break;
                    default: BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(13), unchecked((ushort)value)); break;
                }

                break;
            case 2: // counts relabelled, with a body of the declared length
                return Relabel(valid, Interesting[rng.Next(Interesting.Length)], rng.Next(5), rng.Next(3) switch { 0 => 0, 1 => 32, _ => 2048 });
            case 3: // truncated or extended body
                Array.Resize(ref bytes, Math.Max(0, bytes.Length + rng.Next(-1000, 1000)));
                break;
            default: // a byte of the extra or of the first polynomial
                bytes[CryptoFormat.HeaderLength + rng.Next(Math.Min(64, bytes.Length - CryptoFormat.HeaderLength - CryptoFormat.TrailerLength))] = (byte)rng.Next(256);
                break;
        }

        if (rng.Next(2) == 0 && bytes.Length >= CryptoFormat.HeaderLength + CryptoFormat.TrailerLength)
        {
            Rehash(bytes);
        }

        return bytes;
    }

    /// <summary>
    /// The valid object's header with the given counts, its extra cut or zero-padded to the given
    /// length, its polynomials repeated (or zero) up to the given count, and a valid checksum.
    /// </summary>
    private static byte[] Relabel(byte[] valid, uint valueCount, int polyCount, int extraLength)
    {
        var polyBytes = CryptoFormat.PolyBytes(P);
        var validExtra = BinaryPrimitives.ReadUInt16LittleEndian(valid.AsSpan(13));
        var validPolys = valid.AsSpan(CryptoFormat.HeaderLength + validExtra, valid.Length - CryptoFormat.HeaderLength - validExtra - CryptoFormat.TrailerLength);
        var bytes = new byte[CryptoFormat.SerializedLength(P, polyCount, extraLength)];
        valid.AsSpan(0, CryptoFormat.HeaderLength).CopyTo(bytes);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), valueCount);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(9), (uint)polyCount);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(13), (ushort)extraLength);
        valid.AsSpan(CryptoFormat.HeaderLength, Math.Min(validExtra, extraLength)).CopyTo(bytes.AsSpan(CryptoFormat.HeaderLength));
        for (var k = 0; k < polyCount && !validPolys.IsEmpty; k++)
        {
            var from = k * polyBytes % validPolys.Length;
            validPolys.Slice(from, polyBytes).CopyTo(bytes.AsSpan(CryptoFormat.HeaderLength + extraLength + (k * polyBytes)));
        }

        Rehash(bytes);
        return bytes;
    }

    private static void Rehash(byte[] bytes) =>
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(bytes.Length - CryptoFormat.TrailerLength), XxHash3.HashToUInt64(bytes.AsSpan(0, bytes.Length - CryptoFormat.TrailerLength)));

    /// <summary>An object of the kind with the given header counts, zero polynomials, zero extra bytes and a valid checksum.</summary>
    private static byte[] Forge(CryptoObjectKind kind, uint valueCount, int polyCount, int extraLength)
    {
        var zero = P.Ring.NewPoly();
        var bytes = CryptoFormat.Write(P, kind, 0, new byte[extraLength], Enumerable.Repeat(zero, polyCount).ToArray());
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), valueCount);
        Rehash(bytes);
        return bytes;
    }

    /// <summary>A 2-party federation with one valid object of every kind and, per kind, the public calls that read it.</summary>
    private sealed record Federation(ThresholdSecret[] Secrets, byte[] Seed, byte[] PublicKeyShare, byte[] Key, byte[] Ciphertext, byte[] Sum, byte[][] Shares)
    {
        public static Federation Create(int parties)
        {
            var seed = Scheme.NewCrpSeed();
            var secrets = Enumerable.Range(0, parties).Select(_ => Scheme.GenerateSecret()).ToArray();
            var keyShares = secrets.Select(s => Scheme.GeneratePublicKeyShare(s, seed)).ToArray();
            var key = Scheme.AggregatePublicKey(seed, keyShares.Select(b => (ReadOnlyMemory<byte>)b).ToArray());
            var sum = Scheme.NewSum(3);
            sum.Add(Scheme.Encrypt(key, [1, 2, 3]));
            sum.Add(Scheme.Encrypt(key, [4, 5, 6]));
            var aggregate = sum.ToBytes();
            var ciphertext = Scheme.WriteCiphertext(new Encryptor(Scheme.ReadPublicKey(key)).Encrypt([7UL]));
            return new Federation(secrets, seed, keyShares[0], key, ciphertext, aggregate, [.. secrets.Select(s => Scheme.GenerateDecryptionShare(s, aggregate))]);
        }

        public IEnumerable<(CryptoObjectKind Kind, byte[] Bytes)> Valid() =>
        [
            (CryptoObjectKind.PublicKeyShare, PublicKeyShare),
            (CryptoObjectKind.CollectivePublicKey, Key),
            (CryptoObjectKind.Ciphertext, Ciphertext),
            (CryptoObjectKind.EncryptedVector, Sum),
            (CryptoObjectKind.DecryptionShare, Shares[0]),
            (CryptoObjectKind.SecretKey, Secrets[0].Export()),
        ];

        /// <summary>Every public call that parses an object of the kind from a peer's bytes.</summary>
        public IReadOnlyList<Action<byte[]>> Readers(CryptoObjectKind kind) => kind switch
        {
            CryptoObjectKind.PublicKeyShare => [b => Scheme.AggregatePublicKey(Seed, [b])],
            CryptoObjectKind.CollectivePublicKey => [b => Scheme.Encrypt(b, [1, 2, 3])],
            CryptoObjectKind.Ciphertext => [b => Scheme.ReadCiphertext(b)],
            CryptoObjectKind.EncryptedVector =>
            [
                b => Scheme.NewSum(3).Add(b),
                b => Scheme.GenerateDecryptionShare(Secrets[0], b),
                b => Scheme.CombineDecryptionShares(b, [Shares[0], Shares[1]]),
            ],
            CryptoObjectKind.DecryptionShare => [b => Scheme.CombineDecryptionShares(Sum, [b, Shares[1]])],
            CryptoObjectKind.SecretKey => [b => Scheme.ImportSecret(b)],
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
    }
}
