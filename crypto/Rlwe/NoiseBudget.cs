using System.Numerics;

namespace FederatedTwin.Crypto.Rlwe;

/// <summary>
/// The two worst-case bounds a parameter set must meet (docs/crypto.md §6 and §7), computed exactly
/// with integers so a parameter set that misses either cannot be built.
/// <para>
/// The noise of a sum of K fresh ciphertexts under the key of P parties, every bound attained at
/// once (B the Gaussian cut, ‖e‖∞ ≤ P·B for the collective key error, ‖s‖∞ ≤ P for the collective
/// secret, u ternary): per ciphertext ‖e·u + e0 + e1·s‖∞ ≤ N·P·B + B + N·B·P, plus at most 1/2 of
/// encoding rounding (⌊Q·m/t⌉ against Q·m/t), so X = K·(2·N·P·B + B) + K/2 per coefficient.
/// </para>
/// <para>
/// Exact decryption (Fan–Vercauteren, ePrint 2012/144, §4): P·2^b + X &lt; Q/(2t), with P shares
/// each smudged in [−2^b, 2^b).
/// </para>
/// <para>
/// Smudging: for e uniform on the 2^(b+1) integers of [−2^b, 2^b) and an integer x, e and e + x
/// overlap on 2^(b+1) − |x| values, so their statistical distance is |x|/2^(b+1) — the smudging
/// lemma of Asharov, Jain, López-Alt, Tromer, Vaikuntanathan and Wichs (EUROCRYPT 2012) made exact.
/// A share smudges its N coefficients independently, so one ciphertext costs at most
/// δ = N·X/2^(b+1); shares of distinct ciphertexts use independent smudging, so distances add, and
/// a collective key may decrypt at most ⌊2^-40/δ⌋ ciphertexts, rounded down to a power of two.
/// </para>
/// </summary>
public static class NoiseBudget
{
    /// <summary>A collective key's decryption leaks at most 2^-40 in statistical distance (docs/crypto.md §7).</summary>
    public const int DistanceBitsPerKey = 40;

    /// <summary>
    /// Value counts are 32-bit on the wire and in the API, and a vector holds 2·⌈v/N⌉ polynomials:
    /// capping a key's values at 2^30 keeps every count derived from them inside an int.
    /// </summary>
    private const int MaxValuesCeiling = 1 << 30;

    /// <summary>2X: twice the worst-case noise per coefficient of a sum of <paramref name="summedCiphertexts"/> fresh ciphertexts (twice, so K/2 stays an integer).</summary>
    public static BigInteger TwiceWorstCaseCiphertextNoise(int n, int errorBound, int parties, int summedCiphertexts)
    {
        var fresh = (2 * (BigInteger)n * parties * errorBound) + errorBound;
        return (2 * summedCiphertexts * fresh) + summedCiphertexts;
    }

    /// <summary>log2 of δ = N·X/2^(b+1), the worst-case statistical distance one decrypted ciphertext costs.</summary>
    public static double Log2DistancePerCiphertext(int n, int errorBound, int parties, int summedCiphertexts, int smudgingBits) =>
        BigInteger.Log(n * TwiceWorstCaseCiphertextNoise(n, errorBound, parties, summedCiphertexts), 2) - (smudgingBits + 2);

    /// <summary>
    /// The largest power of two c with c·δ ≤ 2^-40, i.e. c·N·2X ≤ 2^(b+2−40); 0 when even one
    /// ciphertext exceeds it. Capped so that c·N ≤ 2^30.
    /// </summary>
    public static int MaxCiphertextsPerKey(int n, int errorBound, int parties, int summedCiphertexts, int smudgingBits)
    {
        var exponent = smudgingBits + 2 - DistanceBitsPerKey;
        if (exponent < 0)
        {
            return 0;
        }

        var largest = (BigInteger.One << exponent) / (n * TwiceWorstCaseCiphertextNoise(n, errorBound, parties, summedCiphertexts));
        var ceiling = Math.Max(1, MaxValuesCeiling / n); // a power of two, as N is
        if (largest >= ceiling)
        {
            return ceiling;
        }

        return largest.IsZero ? 0 : 1 << (int)(largest.GetBitLength() - 1);
    }

    /// <summary>Whether P·2^b + X &lt; Q/(2t) with t = 2^plaintextBits, i.e. t·(2·P·2^b + 2X) &lt; Q: decryption of the sum is exact.</summary>
    public static bool DecryptionIsExact(BigInteger q, int plaintextBits, int n, int errorBound, int parties, int summedCiphertexts, int smudgingBits)
    {
        var twiceNoise = (2 * (BigInteger)parties << smudgingBits) + TwiceWorstCaseCiphertextNoise(n, errorBound, parties, summedCiphertexts);
        return (twiceNoise << plaintextBits) < q;
    }
}
