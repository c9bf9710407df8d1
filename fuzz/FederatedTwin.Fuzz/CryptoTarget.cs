using System.Buffers.Binary;
using System.IO.Hashing;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Serialization;

namespace FederatedTwin.Fuzz;

/// <summary>
/// The crypto wire format as the coordinator and the nodes read it from each other: an encrypted vector added to a sum, a public
/// key share aggregated, a sum a node decrypts its share of, a decryption share combined. The interface promises that malformed
/// bytes are refused with <see cref="CryptoFormatException"/> only, whichever method reads them (IAdditiveThresholdScheme).
/// Random bytes stop at the magic or the XxHash3 trailer, so by default an input is a patch of a real object (its first byte picks
/// the object, the second the mode, then (offset, value) pairs), optionally with the trailer recomputed so the mutation reaches
/// the header's counts, the polynomials' residues and the arithmetic behind them.
/// </summary>
internal static class CryptoTarget
{
    private const int Values = 3;

    private static readonly Lazy<Objects> Real = new(Make);

    public static void Warm() => _ = Real.Value;

    public static void Run(byte[] data)
    {
        if (data.Length < 2)
        {
            return;
        }

        var real = Real.Value;
        var op = data[0] % 4;
        var mode = data[1];
        var bytes = (mode & 1) != 0 ? data[2..] : Patch(op switch { 0 => real.Vector, 1 => real.Share, 2 => real.Sum, _ => real.DecryptionShare }, data, mode);
        var scheme = RlweThresholdScheme.Default;
        try
        {
            switch (op)
            {
                case 0:
                    var sum = scheme.NewSum(Values);
                    sum.Add(real.Vector);
                    sum.Add(bytes);
                    _ = sum.ToBytes();
                    break;
                case 1:
                    _ = scheme.AggregatePublicKey(real.Seed, [real.Share, bytes]);
                    break;
                case 2:
                    _ = scheme.GenerateDecryptionShare(real.Secret, bytes);
                    break;
                default:
                    _ = scheme.CombineDecryptionShares(real.Sum, [real.DecryptionShare, bytes]);
                    break;
            }
        }
        catch (CryptoFormatException)
        {
        }
    }

    /// <summary>A copy of <paramref name="template"/> with the input's (offset, value) pairs written in; bit 2 of the mode resizes it, bit 1 re-seals the trailer.</summary>
    private static byte[] Patch(byte[] template, byte[] data, byte mode)
    {
        var length = template.Length;
        if ((mode & 4) != 0 && data.Length > 2)
        {
            length = Math.Max(0, length + (sbyte)data[2]);
        }

        var bytes = new byte[length];
        template.AsSpan(0, Math.Min(length, template.Length)).CopyTo(bytes);
        for (var i = 3; i + 5 <= data.Length && length > 0; i += 5)
        {
            var at = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(i));
            // Half the patches land in the 15-byte header and the extra bytes after it, where the counts are.
            var offset = (at & 0x8000_0000) == 0 ? (int)(at % (uint)Math.Min(length, 64)) : (int)(at % (uint)length);
            bytes[offset] = data[i + 4];
        }

        if ((mode & 2) != 0 && length >= CryptoFormat.TrailerLength)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(length - CryptoFormat.TrailerLength), XxHash3.HashToUInt64(bytes.AsSpan(0, length - CryptoFormat.TrailerLength)));
        }

        return bytes;
    }

    private sealed record Objects(byte[] Seed, ThresholdSecret Secret, byte[] Share, byte[] Vector, byte[] Sum, byte[] DecryptionShare);

    private static Objects Make()
    {
        var scheme = RlweThresholdScheme.Default;
        var seed = scheme.NewCrpSeed();
        var secret = scheme.GenerateSecret();
        var share = scheme.GeneratePublicKeyShare(secret, seed);
        var key = scheme.AggregatePublicKey(seed, [share]);
        var vector = scheme.Encrypt(key, [1, -2, 3]);
        var sum = scheme.NewSum(Values);
        sum.Add(vector);
        var sumBytes = sum.ToBytes();
        return new Objects(seed, secret, share, vector, sumBytes, scheme.GenerateDecryptionShare(secret, sumBytes));
    }
}
