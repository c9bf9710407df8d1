namespace FederatedTwin.Crypto;

/// <summary>
/// t-of-n decryption beside <see cref="IAdditiveThresholdScheme"/> (Mouchet, Bertrand and Hubaux, J. Cryptology 2023; docs/crypto.md
/// §13): each key holder deals Shamir shares of its secret to the others (<see cref="DealShares"/>), each sums what it was dealt into its
/// committee secret (<see cref="CombineShamirShares"/>), and any t of them decrypt with <see cref="GenerateCommitteeDecryptionShare"/>;
/// <see cref="IAdditiveThresholdScheme.CombineDecryptionShares"/> combines those shares as it combines n-of-n ones. Members are named by
/// their evaluation point α (1 to MaxParties, distinct; the protocol uses 1 + the member's index in the attempt's sorted key set).
/// Bytes are the scheme's versioned format; malformed bytes are refused with <c>CryptoFormatException</c>.
/// </summary>
public interface ICommitteeThresholdScheme
{
    /// <summary>Length in bytes of one serialized Shamir share.</summary>
    int ShamirShareLength { get; }

    /// <summary>
    /// f(α) for each point, f(X) = s + a_1·X + … + a_{t−1}·X^{t−1} with s the dealer's secret and each a_k uniform in R_Q. The a_k are
    /// derived from the secret and <paramref name="context"/> (a pseudorandom function keyed by the secret, as RFC 6979 derives its
    /// nonces), so a dealer that crashed and deals again for the same context deals the same shares, never a second polynomial. The
    /// polynomial does not depend on which points are asked (a dealer re-derives its own share alone).
    /// </summary>
    IReadOnlyList<byte[]> DealShares(ThresholdSecret secret, int threshold, IReadOnlyList<int> points, ReadOnlySpan<byte> context);

    /// <summary>s'_α = Σ f_i(α) over every dealer's share for <paramref name="point"/> (each share must name that point): the member's committee secret.</summary>
    ThresholdSecret CombineShamirShares(int point, IReadOnlyList<ReadOnlyMemory<byte>> shares);

    /// <summary>Whether a secret is a committee secret (decrypts only with a decrypting set) rather than a dealer's own secret.</summary>
    bool IsCommitteeSecret(ThresholdSecret secret);

    /// <summary>
    /// The member's decryption share as one of <paramref name="decryptingPoints"/>: c1·λ(T)·s' plus the same smudging noise as an
    /// n-of-n share; the shares of every member of T combine to the plaintext. Same per-key budget as an n-of-n share.
    /// </summary>
    byte[] GenerateCommitteeDecryptionShare(ThresholdSecret committeeSecret, IReadOnlyList<int> decryptingPoints, ReadOnlySpan<byte> encryptedSum);
}
