using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto;

/// <summary>
/// <see cref="IAdditiveThresholdScheme"/> over our RLWE layers: N-of-N threshold among a round's
/// participants, or t-of-n through Shamir shares of the collective secret (<see cref="ICommitteeThresholdScheme"/>,
/// RlweThresholdScheme.Committee.cs).
/// Thread-safe: every call builds its own samplers and scratch space over shared read-only tables.
/// </summary>
public sealed partial class RlweThresholdScheme : IAdditiveThresholdScheme, ICommitteeThresholdScheme
{
    public RlweThresholdScheme(RlweParameters parameters)
    {
        Parameters = parameters;
    }

    public static RlweThresholdScheme Default { get; } = new(RlweParameters.Default);

    public RlweParameters Parameters { get; }

    public string Name => Parameters.Name;

    public byte ParameterSetId => Parameters.Id.Value;

    public int ValuesPerCiphertext => Parameters.N;

    public int MaxParties => Parameters.MaxParties;

    public int MaxValuesPerDecryption => Parameters.MaxValuesPerDecryption;

    public int CrpSeedLength => CommonReferencePolynomial.SeedLength;

    public int PublicKeyShareLength => SerializedLength(CryptoObjectKind.PublicKeyShare, 0);

    public int EncryptedVectorLength(int valueCount) => SerializedLength(CryptoObjectKind.EncryptedVector, CheckValueCount(valueCount));

    public int DecryptionShareLength(int valueCount) => SerializedLength(CryptoObjectKind.DecryptionShare, CheckValueCount(valueCount));

    /// <summary>The exact length <see cref="CryptoFormat"/> writes for an object of the kind and count (<see cref="CryptoObjectLayout"/>).</summary>
    private int SerializedLength(CryptoObjectKind kind, int valueCount)
    {
        var layout = CryptoObjectLayout.For(Parameters, kind, (uint)valueCount);
        return CryptoFormat.SerializedLength(Parameters, layout.PolyCount, layout.ExtraLength);
    }

    /// <summary>⌈valueCount/N⌉: how many ciphertexts a vector of valueCount values (1 to <see cref="MaxValuesPerDecryption"/>) takes.</summary>
    public int CiphertextCount(int valueCount) => (CheckValueCount(valueCount) + Parameters.N - 1) / Parameters.N;

    public byte[] NewCrpSeed() => CommonReferencePolynomial.NewSeed();

    public ThresholdSecret GenerateSecret() => new RlweSecret(SecretKey.Generate(Parameters));

    public ThresholdSecret ImportSecret(ReadOnlySpan<byte> exported)
    {
        if (exported.Length > 4 && exported[4] == (byte)CryptoObjectKind.CommitteeSecret)
        {
            return ImportCommitteeSecret(exported);
        }

        // The layout guarantees exactly N/4 bytes of 2-bit coefficients and no polynomial.
        var packed = CryptoFormat.Open(exported, Parameters, CryptoObjectKind.SecretKey).Extra;
        var coefficients = new sbyte[Parameters.N];
        for (var j = 0; j < coefficients.Length; j++)
        {
            var code = (packed[j >> 2] >> ((j & 3) * 2)) & 3;
            coefficients[j] = code switch
            {
                0 => 0,
                1 => 1,
                2 => -1,
                _ => throw new CryptoFormatException(CryptoFormatError.InvalidValue, "A secret key coefficient is not ternary."),
            };
        }

        return new RlweSecret(SecretKey.FromCoefficients(Parameters, coefficients));
    }

    public byte[] GeneratePublicKeyShare(ThresholdSecret secret, ReadOnlySpan<byte> crpSeed)
    {
        var protocol = new PublicKeyGenProtocol(Parameters);
        var crp = protocol.SampleCrp(crpSeed);
        var share = protocol.AllocateShare();
        protocol.GenShare(SecretKeyOf(secret), crp, share);
        return CryptoFormat.Write(Parameters, CryptoObjectKind.PublicKeyShare, 0, default, [share.Value]);
    }

    public byte[] AggregatePublicKey(ReadOnlySpan<byte> crpSeed, IReadOnlyList<ReadOnlyMemory<byte>> publicKeyShares)
    {
        if (publicKeyShares.Count == 0)
        {
            throw new ArgumentException("A collective key needs at least one share.", nameof(publicKeyShares));
        }

        if (publicKeyShares.Count > MaxParties)
        {
            throw new ArgumentException($"The noise and smudging budgets are sized for at most {MaxParties} key shares, not {publicKeyShares.Count}.", nameof(publicKeyShares));
        }

        if (crpSeed.Length != CrpSeedLength)
        {
            throw new ArgumentException($"A CRP seed is {CrpSeedLength} bytes.", nameof(crpSeed));
        }

        var protocol = new PublicKeyGenProtocol(Parameters);
        var aggregate = protocol.AllocateShare();
        var share = protocol.AllocateShare();
        foreach (var bytes in publicKeyShares)
        {
            // The layout guarantees exactly one polynomial.
            CryptoFormat.Open(bytes.Span, Parameters, CryptoObjectKind.PublicKeyShare).ReadPoly(0, share.Value);
            protocol.AggregateShares(aggregate, share, aggregate);
        }

        // The key's p1 is the CRP itself; only its seed travels.
        return CryptoFormat.Write(Parameters, CryptoObjectKind.CollectivePublicKey, publicKeyShares.Count, crpSeed, [aggregate.Value]);
    }

    /// <summary>Parses a collective key, re-expanding a from its seed.</summary>
    public PublicKey ReadPublicKey(ReadOnlySpan<byte> collectivePublicKey)
    {
        // The layout guarantees one polynomial and a seed of exactly CrpSeedLength bytes.
        var reader = CryptoFormat.Open(collectivePublicKey, Parameters, CryptoObjectKind.CollectivePublicKey);
        var crp = CommonReferencePolynomial.Expand(Parameters, reader.Extra);
        return new PublicKey(Parameters, reader.ReadPoly(0), crp.Value);
    }

    public byte[] Encrypt(ReadOnlySpan<byte> collectivePublicKey, ReadOnlySpan<long> values)
    {
        CheckValueCount(values.Length, nameof(values));
        return WriteVector(values.Length, EncryptToCiphertexts(ReadPublicKey(collectivePublicKey), values));
    }

    /// <summary>Encrypts any number of values into ⌈values/N⌉ ciphertexts (at least one); the benchmark times 1,000,000 values this way.</summary>
    public IReadOnlyList<Ciphertext> EncryptToCiphertexts(PublicKey key, ReadOnlySpan<long> values)
    {
        var encryptor = new Encryptor(key);
        var n = Parameters.N;
        var count = Math.Max(1, (values.Length + n - 1) / n);
        var output = new Ciphertext[count];
        var plaintext = new ulong[n];
        for (var k = 0; k < count; k++)
        {
            Array.Clear(plaintext);
            var chunk = values.Slice(k * n, Math.Min(n, values.Length - (k * n)));
            for (var j = 0; j < chunk.Length; j++)
            {
                plaintext[j] = unchecked((ulong)chunk[j]);
            }

            output[k] = encryptor.Encrypt(plaintext.AsSpan(0, chunk.Length));
        }

        return output;
    }

    public byte[] WriteVector(int valueCount, IReadOnlyList<Ciphertext> ciphertexts)
    {
        var polys = new List<Ring.RnsPoly>(ciphertexts.Count * 2);
        foreach (var ct in ciphertexts)
        {
            polys.Add(ct.C0);
            polys.Add(ct.C1);
        }

        return CryptoFormat.Write(Parameters, CryptoObjectKind.EncryptedVector, valueCount, default, polys);
    }

    public byte[] WriteCiphertext(Ciphertext ciphertext) =>
        CryptoFormat.Write(Parameters, CryptoObjectKind.Ciphertext, Parameters.N, default, [ciphertext.C0, ciphertext.C1]);

    public Ciphertext ReadCiphertext(ReadOnlySpan<byte> bytes)
    {
        // The layout guarantees exactly two polynomials.
        var reader = CryptoFormat.Open(bytes, Parameters, CryptoObjectKind.Ciphertext);
        return new Ciphertext(Parameters, reader.ReadPoly(0), reader.ReadPoly(1));
    }

    public (int ValueCount, Ciphertext[] Ciphertexts) ReadVector(ReadOnlySpan<byte> bytes)
    {
        // The layout guarantees 1 ≤ v ≤ MaxValuesPerDecryption and exactly 2·⌈v/N⌉ polynomials.
        var reader = CryptoFormat.Open(bytes, Parameters, CryptoObjectKind.EncryptedVector);
        var expected = reader.PolyCount / 2;
        var cts = new Ciphertext[expected];
        for (var k = 0; k < expected; k++)
        {
            cts[k] = new Ciphertext(Parameters, reader.ReadPoly(2 * k), reader.ReadPoly((2 * k) + 1));
        }

        return (reader.ValueCount, cts);
    }

    public IEncryptedSum NewSum(int valueCount) => new EncryptedSum(this, CheckValueCount(valueCount, nameof(valueCount)));

    public byte[] GenerateDecryptionShare(ThresholdSecret secret, ReadOnlySpan<byte> encryptedSum)
    {
        var key = SecretKeyOf(secret);
        var (valueCount, cts) = ReadVector(encryptedSum);

        // The per-key smudging budget (docs/crypto.md §7): this share is the only one this key will
        // issue, and it must not cover more ciphertexts than the budget allows. The wire format's
        // bound on a vector's value count enforces the same; this check holds even if that one moves.
        if (cts.Length > Parameters.MaxCiphertextsPerKey)
        {
            throw new CryptoFormatException(CryptoFormatError.TooManyValues, $"A decryption share may cover at most {Parameters.MaxCiphertextsPerKey} ciphertexts ({Parameters.MaxValuesPerDecryption} values) per collective key; this sum holds {cts.Length} ({valueCount} values).");
        }

        var protocol = new ThresholdDecryptionProtocol(Parameters);
        var polys = new Ring.RnsPoly[cts.Length];
        for (var k = 0; k < cts.Length; k++)
        {
            var share = protocol.AllocateShare();
            protocol.GenShare(key, cts[k], share);
            polys[k] = share.Value;
        }

        return CryptoFormat.Write(Parameters, CryptoObjectKind.DecryptionShare, valueCount, default, polys);
    }

    public long[] CombineDecryptionShares(ReadOnlySpan<byte> encryptedSum, IReadOnlyList<ReadOnlyMemory<byte>> decryptionShares)
    {
        if (decryptionShares.Count == 0)
        {
            throw new ArgumentException("Decryption needs the shares of every key holder.", nameof(decryptionShares));
        }

        var (valueCount, cts) = ReadVector(encryptedSum);
        var protocol = new ThresholdDecryptionProtocol(Parameters);
        var aggregates = new DecryptionShare[cts.Length];
        for (var k = 0; k < cts.Length; k++)
        {
            aggregates[k] = protocol.AllocateShare();
        }

        var scratch = protocol.AllocateShare();
        foreach (var bytes in decryptionShares)
        {
            // Same value count, so by the layout the same number of polynomials as the sum's ciphertexts.
            var reader = CryptoFormat.Open(bytes.Span, Parameters, CryptoObjectKind.DecryptionShare);
            if (reader.ValueCount != valueCount)
            {
                throw new CryptoFormatException(CryptoFormatError.LengthMismatch, $"A decryption share for {reader.ValueCount} values does not match a sum of {valueCount} values.");
            }

            for (var k = 0; k < cts.Length; k++)
            {
                reader.ReadPoly(k, scratch.Value);
                protocol.AggregateShares(aggregates[k], scratch, aggregates[k]);
            }
        }

        var result = new long[valueCount];
        var plaintext = new ulong[Parameters.N];
        for (var k = 0; k < cts.Length; k++)
        {
            protocol.Decrypt(cts[k], aggregates[k], plaintext);
            var take = Math.Min(Parameters.N, valueCount - (k * Parameters.N));
            for (var j = 0; j < take; j++)
            {
                result[(k * Parameters.N) + j] = unchecked((long)plaintext[j]);
            }
        }

        return result;
    }

    /// <summary>
    /// A caller's value count must lie in 1..<see cref="MaxValuesPerDecryption"/>: a vector of no
    /// values has no layout, and one of more could never be decrypted under one key (docs/crypto.md §7).
    /// </summary>
    private int CheckValueCount(int valueCount, string name = "valueCount")
    {
        if (valueCount < 1 || valueCount > MaxValuesPerDecryption)
        {
            throw new ArgumentOutOfRangeException(name, valueCount, $"A vector holds 1 to {MaxValuesPerDecryption} values (the most one collective key may decrypt).");
        }

        return valueCount;
    }

    internal SecretKey SecretKeyOf(ThresholdSecret secret) =>
        secret is RlweSecret s && s.Key.Parameters.Id == Parameters.Id
            ? s.Key
            : throw new ArgumentException(secret is CommitteeSecret
                ? "A committee secret decrypts only with its decrypting set (ICommitteeThresholdScheme.GenerateCommitteeDecryptionShare)."
                : "The secret was not made by this scheme and parameter set.", nameof(secret));

    private sealed class RlweSecret(SecretKey key) : ThresholdSecret
    {
        public SecretKey Key { get; } = key;

        public override byte[] Export()
        {
            var packed = new byte[Key.Parameters.N / 4];
            for (var j = 0; j < Key.Coefficients.Length; j++)
            {
                var code = Key.Coefficients[j] switch { 1 => 1, -1 => 2, _ => 0 };
                packed[j >> 2] |= (byte)(code << ((j & 3) * 2));
            }

            return CryptoFormat.Write(Key.Parameters, CryptoObjectKind.SecretKey, 0, packed, []);
        }
    }

    private sealed class EncryptedSum : IEncryptedSum
    {
        private readonly RlweThresholdScheme _scheme;
        private readonly Ciphertext[] _accumulator;

        public EncryptedSum(RlweThresholdScheme scheme, int valueCount)
        {
            _scheme = scheme;
            ValueCount = valueCount;
            _accumulator = new Ciphertext[scheme.CiphertextCount(valueCount)];
            for (var k = 0; k < _accumulator.Length; k++)
            {
                _accumulator[k] = new Ciphertext(scheme.Parameters);
            }
        }

        public int ValueCount { get; }

        public int Count { get; private set; }

        public void Add(ReadOnlySpan<byte> encryptedVector)
        {
            // Same value count, so by the layout exactly two polynomials per accumulator ciphertext.
            var reader = CryptoFormat.Open(encryptedVector, _scheme.Parameters, CryptoObjectKind.EncryptedVector);
            if (reader.ValueCount != ValueCount)
            {
                throw new CryptoFormatException(CryptoFormatError.LengthMismatch, $"An encrypted vector of {reader.ValueCount} values cannot be added to a sum of {ValueCount} values.");
            }

            var c0 = _scheme.Parameters.Ring.NewPoly();
            var c1 = _scheme.Parameters.Ring.NewPoly();
            var ct = new Ciphertext(_scheme.Parameters, c0, c1);
            for (var k = 0; k < _accumulator.Length; k++)
            {
                reader.ReadPoly(2 * k, c0);
                reader.ReadPoly((2 * k) + 1, c1);
                Evaluator.AddInPlace(_accumulator[k], ct);
            }

            Count++;
        }

        public byte[] ToBytes() => _scheme.WriteVector(ValueCount, _accumulator);
    }
}
