using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto;

/// <summary>The t-of-n committee over Shamir shares of the collective secret (<see cref="ICommitteeThresholdScheme"/>, <see cref="ShamirSharing"/>).</summary>
public sealed partial class RlweThresholdScheme
{
    private static readonly byte[] DealingSalt = Encoding.ASCII.GetBytes("FederatedTwin/v1/shamir-dealing");

    public int ShamirShareLength => SerializedLength(CryptoObjectKind.ShamirShare, 1);

    public IReadOnlyList<byte[]> DealShares(ThresholdSecret secret, int threshold, IReadOnlyList<int> points, ReadOnlySpan<byte> context)
    {
        ArgumentNullException.ThrowIfNull(points);
        var key = SecretKeyOf(secret);
        ShamirSharing.CheckPoints(Parameters.Ring, points);
        // A dealer may evaluate its polynomial at fewer points than t (a member re-deriving its own share): the polynomial depends on
        // the secret, the context and t only, never on which points are asked.
        if (threshold < 1 || threshold > MaxParties || points.Count > MaxParties)
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, $"A threshold is 1 to {MaxParties}, for at most {MaxParties} points.");
        }

        // The coefficients' seed: HKDF-SHA256 (RFC 5869) keyed by the secret's own bytes, bound to the context (the attempt) and the
        // threshold; then SHAKE-256 expands it as the CRP is expanded. Uniform to anyone who does not hold the secret.
        var ikm = secret.Export();
        var info = new byte[context.Length + 5];
        context.CopyTo(info);
        info[^5] = Parameters.Id.Value;
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(info.AsSpan(^4), threshold);
        var seed = HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, 32, DealingSalt, info);
        CryptographicOperations.ZeroMemory(ikm);
        var ring = Parameters.Ring;
        var xof = new XofStream(seed, DealingSalt, ring.N * 8 * ring.Levels * Math.Max(1, threshold - 1));
        CryptographicOperations.ZeroMemory(seed);
        var sampler = new UniformSampler(ring, xof);
        var coefficients = new RnsPoly[threshold - 1];
        for (var k = 0; k < coefficients.Length; k++)
        {
            coefficients[k] = ring.NewPoly();
            sampler.Sample(coefficients[k]); // uniform residues are uniform in either form: read as NTT form
        }

        var shares = ShamirSharing.Evaluate(ring, key.Ntt, coefficients, points);
        foreach (var c in coefficients)
        {
            c.Clear();
        }

        return [.. shares.Select((s, i) => CryptoFormat.Write(Parameters, CryptoObjectKind.ShamirShare, points[i], default, [s]))];
    }

    public ThresholdSecret CombineShamirShares(int point, IReadOnlyList<ReadOnlyMemory<byte>> shares)
    {
        ArgumentNullException.ThrowIfNull(shares);
        ShamirSharing.CheckPoints(Parameters.Ring, [point]);
        if (shares.Count == 0 || shares.Count > MaxParties)
        {
            throw new ArgumentException($"A committee secret sums 1 to {MaxParties} dealers' shares, not {shares.Count}.", nameof(shares));
        }

        var ring = Parameters.Ring;
        var sum = ring.NewPoly();
        var scratch = ring.NewPoly();
        foreach (var bytes in shares)
        {
            var reader = CryptoFormat.Open(bytes.Span, Parameters, CryptoObjectKind.ShamirShare);
            if (reader.ValueCount != point)
            {
                throw new CryptoFormatException(CryptoFormatError.InvalidValue, $"A Shamir share for point {reader.ValueCount} cannot join the committee secret of point {point}.");
            }

            reader.ReadPoly(0, scratch);
            ring.Add(sum, scratch, sum);
        }

        scratch.Clear();
        return new CommitteeSecret(this, point, sum);
    }

    public bool IsCommitteeSecret(ThresholdSecret secret) => secret is CommitteeSecret c && c.Scheme.Parameters.Id == Parameters.Id;

    public byte[] GenerateCommitteeDecryptionShare(ThresholdSecret committeeSecret, IReadOnlyList<int> decryptingPoints, ReadOnlySpan<byte> encryptedSum)
    {
        ArgumentNullException.ThrowIfNull(decryptingPoints);
        var member = committeeSecret is CommitteeSecret c && c.Scheme.Parameters.Id == Parameters.Id
            ? c
            : throw new ArgumentException("Not a committee secret of this scheme and parameter set.", nameof(committeeSecret));
        var ring = Parameters.Ring;
        var lambda = ShamirSharing.LagrangeAtZero(ring, member.Point, decryptingPoints);
        var (valueCount, cts) = ReadVector(encryptedSum);
        if (cts.Length > Parameters.MaxCiphertextsPerKey)
        {
            throw new CryptoFormatException(CryptoFormatError.TooManyValues, $"A decryption share may cover at most {Parameters.MaxCiphertextsPerKey} ciphertexts ({Parameters.MaxValuesPerDecryption} values) per collective key; this sum holds {cts.Length} ({valueCount} values).");
        }

        var weighted = ring.NewPoly();
        ShamirSharing.MulScalar(ring, member.Value, lambda, weighted);
        var weightedShoup = ring.ShoupCompanions(weighted);
        var protocol = new ThresholdDecryptionProtocol(Parameters);
        var polys = new RnsPoly[cts.Length];
        for (var k = 0; k < cts.Length; k++)
        {
            var share = protocol.AllocateShare();
            protocol.GenShare(weighted, weightedShoup, cts[k], share);
            polys[k] = share.Value;
        }

        weighted.Clear();
        weightedShoup.Clear();
        return CryptoFormat.Write(Parameters, CryptoObjectKind.DecryptionShare, valueCount, default, polys);
    }

    private CommitteeSecret ImportCommitteeSecret(ReadOnlySpan<byte> exported)
    {
        // The layout guarantees one polynomial and a point 1..MaxParties.
        var reader = CryptoFormat.Open(exported, Parameters, CryptoObjectKind.CommitteeSecret);
        return new CommitteeSecret(this, reader.ValueCount, reader.ReadPoly(0));
    }

    /// <summary>A committee member's s'_j (NTT form) and its point α_j; exports only to be sealed at rest.</summary>
    private sealed class CommitteeSecret(RlweThresholdScheme scheme, int point, RnsPoly value) : ThresholdSecret
    {
        public RlweThresholdScheme Scheme { get; } = scheme;

        public int Point { get; } = point;

        public RnsPoly Value { get; } = value;

        public override byte[] Export() => CryptoFormat.Write(Scheme.Parameters, CryptoObjectKind.CommitteeSecret, Point, default, [Value]);
    }
}
