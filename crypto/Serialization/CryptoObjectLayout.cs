using FederatedTwin.Crypto.Rlwe;
using FederatedTwin.Crypto.Threshold;

namespace FederatedTwin.Crypto.Serialization;

/// <summary>
/// The exact shape an object of each kind has under a parameter set: which value counts it may
/// declare, and for that count exactly how many polynomials and extra bytes it holds. The one place
/// these rules live: <see cref="CryptoFormat.Open"/> applies them right after the kind byte, before
/// the length, the checksum, or any allocation a caller makes from the counts, so a header that
/// claims 2^31 values or four billion polynomials is refused from its 15 bytes alone.
/// <list type="table">
/// <item><term>PublicKeyShare</term><description>value count 0; 1 polynomial (p_i); no extra.</description></item>
/// <item><term>CollectivePublicKey</term><description>value count = shares aggregated, 1 to MaxParties; 1 polynomial (Σ p_i); the CRP seed (32 bytes) as extra.</description></item>
/// <item><term>Ciphertext</term><description>value count N; 2 polynomials (c0, c1); no extra.</description></item>
/// <item><term>EncryptedVector</term><description>v values, 1 ≤ v ≤ MaxValuesPerDecryption; 2·⌈v/N⌉ polynomials; no extra.</description></item>
/// <item><term>DecryptionShare</term><description>v values, same bound; ⌈v/N⌉ polynomials; no extra.</description></item>
/// <item><term>SecretKey</term><description>value count 0; no polynomial; N/4 bytes of 2-bit coefficients as extra.</description></item>
/// <item><term>ShamirShare</term><description>value count = the evaluation point α, 1 to MaxParties; 1 polynomial (f_i(α), NTT form); no extra.</description></item>
/// <item><term>CommitteeSecret</term><description>value count = the member's point α, 1 to MaxParties; 1 polynomial (s'_j, NTT form); no extra.</description></item>
/// </list>
/// The upper bound on v is the per-key smudging budget (docs/crypto.md §7): a vector no key may
/// decrypt is of no use to anyone, and refusing it here bounds every allocation that follows.
/// </summary>
public readonly record struct CryptoObjectLayout(int PolyCount, int ExtraLength)
{
    /// <summary>The layout of a <paramref name="kind"/> declaring <paramref name="valueCount"/> values, or a refusal naming what is wrong.</summary>
    public static CryptoObjectLayout For(RlweParameters parameters, CryptoObjectKind kind, uint valueCount) => kind switch
    {
        CryptoObjectKind.PublicKeyShare => Fixed(kind, valueCount, 0, new(1, 0)),
        CryptoObjectKind.CollectivePublicKey => valueCount >= 1 && valueCount <= (uint)parameters.MaxParties
            ? new(1, CommonReferencePolynomial.SeedLength)
            : throw new CryptoFormatException(CryptoFormatError.InvalidValue, $"A collective public key aggregates 1 to {parameters.MaxParties} shares; this one declares {valueCount}."),
        CryptoObjectKind.Ciphertext => Fixed(kind, valueCount, (uint)parameters.N, new(2, 0)),
        CryptoObjectKind.EncryptedVector => new(2 * CiphertextCount(parameters, kind, valueCount), 0),
        CryptoObjectKind.DecryptionShare => new(CiphertextCount(parameters, kind, valueCount), 0),
        CryptoObjectKind.SecretKey => Fixed(kind, valueCount, 0, new(0, parameters.N / 4)),
        CryptoObjectKind.ShamirShare or CryptoObjectKind.CommitteeSecret => valueCount >= 1 && valueCount <= (uint)parameters.MaxParties
            ? new(1, 0)
            : throw new CryptoFormatException(CryptoFormatError.InvalidValue, $"A {kind} names an evaluation point 1 to {parameters.MaxParties}; this one declares {valueCount}."),
        _ => throw new CryptoFormatException(CryptoFormatError.WrongKind, $"Unknown object kind {(byte)kind}."),
    };

    /// <summary>⌈v/N⌉ ciphertexts for a vector or share of v values, 1 ≤ v ≤ MaxValuesPerDecryption.</summary>
    private static int CiphertextCount(RlweParameters parameters, CryptoObjectKind kind, uint valueCount)
    {
        if (valueCount == 0)
        {
            throw new CryptoFormatException(CryptoFormatError.InvalidValue, $"A {kind} holds at least one value.");
        }

        if (valueCount > (uint)parameters.MaxValuesPerDecryption)
        {
            throw new CryptoFormatException(CryptoFormatError.TooManyValues, $"A {kind} of {valueCount} values exceeds the {parameters.MaxValuesPerDecryption} values one collective key may decrypt ({parameters.MaxCiphertextsPerKey} ciphertexts; docs/crypto.md §7).");
        }

        return (int)((valueCount + (uint)parameters.N - 1) / (uint)parameters.N);
    }

    private static CryptoObjectLayout Fixed(CryptoObjectKind kind, uint valueCount, uint required, CryptoObjectLayout layout) =>
        valueCount == required
            ? layout
            : throw new CryptoFormatException(CryptoFormatError.InvalidValue, $"A {kind} declares {required} values, not {valueCount}.");
}
