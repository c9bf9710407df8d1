using System.Buffers.Binary;
using System.IO.Hashing;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Crypto.Serialization;

/// <summary>What a serialized cryptographic object is.</summary>
public enum CryptoObjectKind : byte
{
    Ciphertext = 1,
    EncryptedVector = 2,
    PublicKeyShare = 3,
    CollectivePublicKey = 4,
    DecryptionShare = 5,
    SecretKey = 6,

    /// <summary>One Shamir share f_i(α_j) of a dealer's secret (ShamirSharing); the value count is the point α_j.</summary>
    ShamirShare = 7,

    /// <summary>A committee member's threshold secret s'_j = Σ_i f_i(α_j); the value count is the member's point α_j.</summary>
    CommitteeSecret = 8,
}

/// <summary>Why bytes were refused. Every refusal says which of these it is.</summary>
public enum CryptoFormatError
{
    Truncated,
    NotACryptoObject,
    UnsupportedVersion,
    ParameterSetMismatch,
    WrongKind,
    ChecksumMismatch,
    ResidueOutOfRange,
    LengthMismatch,
    InvalidValue,

    /// <summary>More values than one collective key may decrypt (<see cref="RlweParameters.MaxValuesPerDecryption"/>; docs/crypto.md §7).</summary>
    TooManyValues,
}

/// <summary>Bytes that are not a well-formed object of the expected kind under the expected parameter set.</summary>
public sealed class CryptoFormatException : FormatException
{
    public CryptoFormatException(CryptoFormatError error, string message)
        : base($"{error}: {message}")
    {
        Error = error;
    }

    public CryptoFormatException()
    {
    }

    public CryptoFormatException(string message)
        : base(message)
    {
    }

    public CryptoFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public CryptoFormatError Error { get; }
}

/// <summary>
/// The one binary layout of every cryptographic object (little-endian):
/// <code>
/// 0  'F' 'T'        magic
/// 2  version        format version (1)
/// 3  parameter set  ParameterSetId
/// 4  kind           CryptoObjectKind
/// 5  uint32         value count (vectors and shares: how many plaintext values; else 0)
/// 9  uint32         polynomial count
/// 13 uint16         extra length E, then E bytes (the CRP seed of a collective key)
/// .. polynomials    each L·N residues, 60 bits each, two residues per 15 bytes
/// .. uint64         XxHash3 of everything before it
/// </code>
/// Packing residues in 60 bits rather than 64 makes a ciphertext 45 bytes per value. The checksum
/// catches accidental corruption; authenticity comes from the message signatures around it.
/// Readers accept only the exact counts of <see cref="CryptoObjectLayout"/> for the kind; writers
/// are this library's own code and are trusted to produce them.
/// </summary>
public static class CryptoFormat
{
    public const byte Version = 1;
    public const int HeaderLength = 15;
    public const int TrailerLength = 8;
    private const byte Magic0 = (byte)'F';
    private const byte Magic1 = (byte)'T';

    public static int PolyBytes(RlweParameters parameters) => PackedLength(parameters.N * parameters.Ring.Levels);

    public static int PackedLength(int residues) => ((residues + 1) / 2) * 15;

    public static int SerializedLength(RlweParameters parameters, int polyCount, int extraLength) =>
        HeaderLength + extraLength + (polyCount * PolyBytes(parameters)) + TrailerLength;

    public static byte[] Write(RlweParameters parameters, CryptoObjectKind kind, int valueCount, ReadOnlySpan<byte> extra, IReadOnlyList<RnsPoly> polys)
    {
        var polyBytes = PolyBytes(parameters);
        var output = new byte[SerializedLength(parameters, polys.Count, extra.Length)];
        var span = output.AsSpan();
        span[0] = Magic0;
        span[1] = Magic1;
        span[2] = Version;
        span[3] = parameters.Id.Value;
        span[4] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(span[5..], (uint)valueCount);
        BinaryPrimitives.WriteUInt32LittleEndian(span[9..], (uint)polys.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(span[13..], checked((ushort)extra.Length));
        extra.CopyTo(span[HeaderLength..]);
        var at = HeaderLength + extra.Length;
        foreach (var p in polys)
        {
            Pack60(p.Coefficients, span.Slice(at, polyBytes));
            at += polyBytes;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[at..], XxHash3.HashToUInt64(span[..at]));
        return output;
    }

    /// <summary>The parsed header of a serialized object; polynomials are read on demand.</summary>
    public readonly ref struct Reader
    {
        private readonly ReadOnlySpan<byte> _bytes;
        private readonly RlweParameters _parameters;

        internal Reader(ReadOnlySpan<byte> bytes, RlweParameters parameters, int valueCount, int polyCount, int extraLength)
        {
            _bytes = bytes;
            _parameters = parameters;
            ValueCount = valueCount;
            PolyCount = polyCount;
            ExtraLength = extraLength;
        }

        public int ValueCount { get; }

        public int PolyCount { get; }

        private int ExtraLength { get; }

        public ReadOnlySpan<byte> Extra => _bytes.Slice(HeaderLength, ExtraLength);

        /// <summary>
        /// Unpacks polynomial k into output, refusing any residue that is not reduced. k comes from
        /// the caller's own loop over <see cref="PolyCount"/>, never from the bytes, so an index out
        /// of range is a bug in the caller, not malformed input.
        /// </summary>
        public void ReadPoly(int k, RnsPoly output)
        {
            if ((uint)k >= (uint)PolyCount)
            {
                throw new ArgumentOutOfRangeException(nameof(k));
            }

            var polyBytes = PolyBytes(_parameters);
            var at = HeaderLength + ExtraLength + (k * polyBytes);
            Unpack60(_bytes.Slice(at, polyBytes), output.Coefficients);
            if (!_parameters.Ring.IsReduced(output))
            {
                throw new CryptoFormatException(CryptoFormatError.ResidueOutOfRange, $"Polynomial {k} holds a residue not reduced modulo its prime: the bytes are corrupted or were not produced under parameter set {_parameters.Id}.");
            }
        }

        public RnsPoly ReadPoly(int k)
        {
            var p = _parameters.Ring.NewPoly();
            ReadPoly(k, p);
            return p;
        }
    }

    /// <summary>
    /// Checks magic, version, parameter set, kind, the kind's exact counts (<see cref="CryptoObjectLayout"/>),
    /// length and checksum, in that order, and returns a reader. Every refusal is a
    /// <see cref="CryptoFormatException"/>; the counts are checked from the header alone, before
    /// anything is hashed or allocated from them.
    /// </summary>
    public static Reader Open(ReadOnlySpan<byte> bytes, RlweParameters parameters, CryptoObjectKind expected)
    {
        if (bytes.Length < HeaderLength + TrailerLength)
        {
            throw new CryptoFormatException(CryptoFormatError.Truncated, $"Expected a serialized {expected} of at least {HeaderLength + TrailerLength} bytes, got {bytes.Length}.");
        }

        if (bytes[0] != Magic0 || bytes[1] != Magic1)
        {
            throw new CryptoFormatException(CryptoFormatError.NotACryptoObject, $"The bytes do not start with the FederatedTwin crypto magic; expected a serialized {expected}.");
        }

        if (bytes[2] != Version)
        {
            throw new CryptoFormatException(CryptoFormatError.UnsupportedVersion, $"Crypto format version {bytes[2]} is not supported (this build reads version {Version}).");
        }

        if (bytes[3] != parameters.Id.Value)
        {
            throw new CryptoFormatException(CryptoFormatError.ParameterSetMismatch, $"The object was made under parameter set 0x{bytes[3]:X2}, but parameter set {parameters.Id} ({parameters.Name}) is in use.");
        }

        if (bytes[4] != (byte)expected)
        {
            var actual = Enum.IsDefined(typeof(CryptoObjectKind), bytes[4]) ? ((CryptoObjectKind)bytes[4]).ToString() : $"unknown kind {bytes[4]}";
            throw new CryptoFormatException(CryptoFormatError.WrongKind, $"Expected a serialized {expected}, got {actual}.");
        }

        var valueCount = BinaryPrimitives.ReadUInt32LittleEndian(bytes[5..]);
        var polyCount = BinaryPrimitives.ReadUInt32LittleEndian(bytes[9..]);
        var extraLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes[13..]);
        var layout = CryptoObjectLayout.For(parameters, expected, valueCount);
        if (polyCount != layout.PolyCount)
        {
            throw new CryptoFormatException(CryptoFormatError.LengthMismatch, $"A {expected} declaring {valueCount} values holds exactly {layout.PolyCount} polynomials; this one declares {polyCount}.");
        }

        if (extraLength != layout.ExtraLength)
        {
            throw new CryptoFormatException(CryptoFormatError.LengthMismatch, $"A {expected} carries exactly {layout.ExtraLength} extra bytes; this one declares {extraLength}.");
        }

        var expectedLength = (long)HeaderLength + extraLength + (polyCount * (long)PolyBytes(parameters)) + TrailerLength;
        if (expectedLength != bytes.Length)
        {
            throw new CryptoFormatException(
                expectedLength > bytes.Length ? CryptoFormatError.Truncated : CryptoFormatError.LengthMismatch,
                $"A {expected} with {polyCount} polynomials is {expectedLength} bytes under parameter set {parameters.Id}; got {bytes.Length}.");
        }

        var body = bytes[..^TrailerLength];
        if (XxHash3.HashToUInt64(body) != BinaryPrimitives.ReadUInt64LittleEndian(bytes[^TrailerLength..]))
        {
            throw new CryptoFormatException(CryptoFormatError.ChecksumMismatch, $"The {expected}'s checksum does not match its content: the bytes were corrupted.");
        }

        // Both counts are now bounded by the layout (at most MaxValuesPerDecryption ≤ 2^30 values).
        return new Reader(bytes, parameters, (int)valueCount, layout.PolyCount, extraLength);
    }

    /// <summary>Two 60-bit residues per 15 bytes, little-endian.</summary>
    internal static void Pack60(ReadOnlySpan<ulong> residues, Span<byte> output)
    {
        Span<byte> tmp = stackalloc byte[16];
        var o = 0;
        var i = 0;
        for (; i + 1 < residues.Length; i += 2)
        {
            var pair = residues[i] | ((UInt128)residues[i + 1] << 60);
            BinaryPrimitives.WriteUInt128LittleEndian(tmp, pair);
            tmp[..15].CopyTo(output.Slice(o, 15));
            o += 15;
        }

        if (i < residues.Length)
        {
            BinaryPrimitives.WriteUInt128LittleEndian(tmp, residues[i]);
            tmp[..15].CopyTo(output.Slice(o, 15));
        }
    }

    internal static void Unpack60(ReadOnlySpan<byte> input, Span<ulong> residues)
    {
        const ulong mask = (1UL << 60) - 1;
        Span<byte> tmp = stackalloc byte[16];
        tmp.Clear();
        var o = 0;
        var i = 0;
        for (; i + 1 < residues.Length; i += 2)
        {
            input.Slice(o, 15).CopyTo(tmp);
            var pair = BinaryPrimitives.ReadUInt128LittleEndian(tmp);
            residues[i] = (ulong)pair & mask;
            residues[i + 1] = (ulong)(pair >> 60) & mask;
            o += 15;
        }

        if (i < residues.Length)
        {
            input.Slice(o, 15).CopyTo(tmp);
            residues[i] = (ulong)BinaryPrimitives.ReadUInt128LittleEndian(tmp) & mask;
        }
    }
}
