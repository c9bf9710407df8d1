namespace FederatedTwin.Crypto;

/// <summary>
/// The additive threshold encryption the rest of the product uses, and the seam where a
/// SEAL-backed implementation could replace ours (docs/crypto.md). Everything that crosses the
/// wire is bytes in the implementation's own versioned format, so callers never see ring
/// elements; a party's secret is an opaque handle that exports to bytes only to be sealed at rest.
/// The flow of one round (Mouchet et al., PETS 2021):
/// <list type="number">
/// <item>the coordinator publishes a CRP seed (<see cref="NewCrpSeed"/>);</item>
/// <item>each party <see cref="GenerateSecret"/>s and publishes <see cref="GeneratePublicKeyShare"/>;</item>
/// <item>anyone folds the shares into the collective key (<see cref="AggregatePublicKey"/>), deterministically, so a party can check the key it is handed;</item>
/// <item>each party <see cref="Encrypt"/>s its update; the coordinator folds them with <see cref="NewSum"/>;</item>
/// <item>each party returns <see cref="GenerateDecryptionShare"/> for the sum; <see cref="CombineDecryptionShares"/> yields the plaintext sum, and only when every party's share is present.</item>
/// </list>
/// Bytes that are not a well-formed object of the expected kind — wrong counts for the kind, a
/// truncated body, a bad checksum — are refused with <c>CryptoFormatException</c> only, whichever
/// method reads them; <see cref="ArgumentException"/> is kept for the caller's own arguments (an
/// empty share list, a seed of the wrong length, a value count out of range).
/// </summary>
public interface IAdditiveThresholdScheme
{
    /// <summary>A human-readable name of the scheme and parameter set.</summary>
    string Name { get; }

    /// <summary>The identity of the parameter set, written into every serialized object.</summary>
    byte ParameterSetId { get; }

    /// <summary>How many plaintext values one ciphertext carries.</summary>
    int ValuesPerCiphertext { get; }

    /// <summary>The largest number of parties the noise budget and the codec headroom are sized for.</summary>
    int MaxParties { get; }

    /// <summary>
    /// The most values one decryption may cover: one collective key's decryption shares must not
    /// reveal more than 2^-40 (statistical distance) about the key shares (docs/crypto.md §7), and a
    /// node issues one share per attempt, under the attempt's own key. Services bound a request's
    /// value count by it; <see cref="GenerateDecryptionShare"/> refuses more.
    /// </summary>
    int MaxValuesPerDecryption { get; }

    /// <summary>Length in bytes of a CRP seed.</summary>
    int CrpSeedLength { get; }

    /// <summary>Length in bytes of a serialized public key share (what <see cref="GeneratePublicKeyShare"/> returns).</summary>
    int PublicKeyShareLength { get; }

    /// <summary>
    /// Length in bytes of a serialized encrypted vector of <paramref name="valueCount"/> values (1 to <see cref="MaxValuesPerDecryption"/>),
    /// as <see cref="Encrypt"/> and <see cref="IEncryptedSum.ToBytes"/> write it: services size what they accept on the wire by it.
    /// </summary>
    int EncryptedVectorLength(int valueCount);

    /// <summary>Length in bytes of a serialized decryption share of a sum of <paramref name="valueCount"/> values.</summary>
    int DecryptionShareLength(int valueCount);

    byte[] NewCrpSeed();

    ThresholdSecret GenerateSecret();

    ThresholdSecret ImportSecret(ReadOnlySpan<byte> exported);

    byte[] GeneratePublicKeyShare(ThresholdSecret secret, ReadOnlySpan<byte> crpSeed);

    /// <summary>The collective public key: the sum of the shares over the CRP expanded from the seed. Same inputs, same bytes.</summary>
    byte[] AggregatePublicKey(ReadOnlySpan<byte> crpSeed, IReadOnlyList<ReadOnlyMemory<byte>> publicKeyShares);

    /// <summary>Encrypts 1 to <see cref="MaxValuesPerDecryption"/> signed 64-bit values, split across ⌈count/N⌉ ciphertexts.</summary>
    byte[] Encrypt(ReadOnlySpan<byte> collectivePublicKey, ReadOnlySpan<long> values);

    /// <summary>
    /// A new, empty encrypted sum to which encrypted vectors of valueCount values are added.
    /// valueCount is the caller's own request's count, 1 to <see cref="MaxValuesPerDecryption"/>
    /// (<see cref="ArgumentOutOfRangeException"/> otherwise), never a count read from a peer's bytes.
    /// </summary>
    IEncryptedSum NewSum(int valueCount);

    /// <summary>This party's decryption share of an encrypted sum; refuses (<c>TooManyValues</c>) a sum of more than <see cref="MaxValuesPerDecryption"/> values.</summary>
    byte[] GenerateDecryptionShare(ThresholdSecret secret, ReadOnlySpan<byte> encryptedSum);

    /// <summary>The decrypted sum, modulo 2^64 read as signed: exact when every party's share is given and no sum wrapped.</summary>
    long[] CombineDecryptionShares(ReadOnlySpan<byte> encryptedSum, IReadOnlyList<ReadOnlyMemory<byte>> decryptionShares);
}

/// <summary>A running homomorphic sum of encrypted vectors of one length.</summary>
public interface IEncryptedSum
{
    int ValueCount { get; }

    /// <summary>How many encrypted vectors have been added.</summary>
    int Count { get; }

    void Add(ReadOnlySpan<byte> encryptedVector);

    byte[] ToBytes();
}

/// <summary>One party's secret key share, opaque to callers.</summary>
public abstract class ThresholdSecret
{
    /// <summary>The secret's bytes, to be sealed (DataProtection) before they touch a disk.</summary>
    public abstract byte[] Export();
}
