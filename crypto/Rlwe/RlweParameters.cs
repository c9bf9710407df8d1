using System.Numerics;
using FederatedTwin.Crypto.Ring;

namespace FederatedTwin.Crypto.Rlwe;

/// <summary>
/// A parameter set of the additive RLWE scheme (BFV-style encoding with plaintext modulus
/// t = 2^64; Fan and Vercauteren, ePrint 2012/144, restricted to encryption and addition).
/// Every number that the security and noise arguments of docs/crypto.md rely on lives here and is
/// checked when the set is built: primes, q_i = 1 mod 2N, 60-bit moduli. The scaling constants
/// are computed once with BigInteger; nothing per coefficient ever uses it.
/// </summary>
public sealed class RlweParameters
{
    /// <summary>The three 60-bit NTT-friendly primes (q_i = 1 mod 2^14, so a negacyclic NTT of degree 8192 exists; docs/crypto.md §2).</summary>
    public static readonly IReadOnlyList<ulong> DefaultPrimes = [1152921504606830593UL, 1152921504606748673UL, 1152921504606683137UL];

    private static readonly Lazy<RlweParameters> DefaultSet = new(() => new RlweParameters(
        ParameterSetId.Default, "FT-RLWE-N8192-Q180-T64", 8192, DefaultPrimes, sigma: 3.2, gaussianCutInSigmas: 6, smudgingBits: 96, maxParties: 1000));

    public RlweParameters(
        ParameterSetId id,
        string name,
        int n,
        IReadOnlyList<ulong> primes,
        double sigma,
        double gaussianCutInSigmas,
        int smudgingBits,
        int maxParties)
    {
        if (!RnsRing.IsPowerOfTwo(n))
        {
            throw new ArgumentOutOfRangeException(nameof(n), "Ring degree must be a power of two.");
        }

        if (smudgingBits is < 1 or > 120)
        {
            throw new ArgumentOutOfRangeException(nameof(smudgingBits));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxParties, 1);

        Id = id;
        Name = name;
        Ring = new RnsRing(n, primes);
        Sigma = sigma;
        GaussianCutInSigmas = gaussianCutInSigmas;
        SmudgingBits = smudgingBits;
        MaxParties = maxParties;

        var q = BigInteger.One;
        foreach (var p in primes)
        {
            q *= p;
        }

        Q = q;
        var t = BigInteger.One << 64;
        var delta = q / t;
        DeltaResidues = primes.Select(p => (ulong)(delta % p)).ToArray();
        DeltaShoup = DeltaResidues.Select((d, i) => Ring.Moduli[i].ShoupCompanion(d)).ToArray();
        QModT = (ulong)(q % t);

        // Halevi–Polyakov–Shoup (CT-RSA 2019, §2.3): t·x/Q = Σ_i x_i · (t·[(Q/q_i)^-1]_{q_i} / q_i) mod t.
        // Each factor is split into an integer part mod 2^64 and a 128-bit binary fraction.
        var integerParts = new ulong[primes.Count];
        var fractionHigh = new ulong[primes.Count];
        var fractionLow = new ulong[primes.Count];
        for (var i = 0; i < primes.Count; i++)
        {
            BigInteger qi = primes[i];
            var qHat = q / qi;
            var qHatInv = BigInteger.ModPow(qHat % qi, qi - 2, qi);
            var numerator = qHatInv * t;
            integerParts[i] = (ulong)((numerator / qi) % t);
            var remainder = numerator % qi;
            var fraction = (remainder << 128) / qi;
            fractionHigh[i] = (ulong)(fraction >> 64);
            fractionLow[i] = (ulong)(fraction & ulong.MaxValue);
        }

        ScaleIntegerParts = integerParts;
        ScaleFractionHigh = fractionHigh;
        ScaleFractionLow = fractionLow;
        LogQ = BigInteger.Log(q, 2);

        // The worst cases of docs/crypto.md §6 and §7, checked here so a set that misses either cannot start.
        ErrorBound = (int)Math.Floor(sigma * gaussianCutInSigmas);
        if (!NoiseBudget.DecryptionIsExact(q, PlaintextBits, n, ErrorBound, maxParties, MaxSummedCiphertexts, smudgingBits))
        {
            throw new ArgumentOutOfRangeException(nameof(smudgingBits), $"{maxParties} shares smudged in ±2^{smudgingBits} plus the noise of {maxParties} ciphertexts can exceed Q/(2t): decryption would not be exact.");
        }

        MaxCiphertextsPerKey = NoiseBudget.MaxCiphertextsPerKey(n, ErrorBound, maxParties, MaxSummedCiphertexts, smudgingBits);
        if (MaxCiphertextsPerKey == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(smudgingBits), $"Smudging in ±2^{smudgingBits} cannot hide one ciphertext's noise at {maxParties} parties to within 2^-{NoiseBudget.DistanceBitsPerKey}.");
        }

        Log2DistancePerCiphertext = NoiseBudget.Log2DistancePerCiphertext(n, ErrorBound, maxParties, MaxSummedCiphertexts, smudgingBits);
    }

    /// <summary>
    /// N = 8192, Q = q1·q2·q3 (≈ 2^180), t = 2^64, σ = 3.2 cut at 6σ, smudging ±2^96, up to 1,000 parties.
    /// Smudging at 2^96 rather than 2^90: one decrypted ciphertext then costs at most 2^-45.8 in
    /// statistical distance at 1,000 parties (2^-39.8 at 2^90), while 1,000 shares still add up to
    /// 2^106 of noise, 9 bits under Q/(2t) = 2^115 (docs/crypto.md §6, §7).
    /// </summary>
    public static RlweParameters Default => DefaultSet.Value;

    public ParameterSetId Id { get; }

    public string Name { get; }

    public RnsRing Ring { get; }

    public int N => Ring.N;

    public double Sigma { get; }

    public double GaussianCutInSigmas { get; }

    /// <summary>Decryption shares carry uniform noise in [−2^b, 2^b).</summary>
    public int SmudgingBits { get; }

    /// <summary>The largest number of parties whose sums the noise budget and the codec's headroom are sized for.</summary>
    public int MaxParties { get; }

    /// <summary>
    /// K, the most fresh ciphertexts a decrypted sum adds up: one submission per participant, so
    /// <see cref="MaxParties"/> (the codec's headroom makes the same assumption).
    /// </summary>
    public int MaxSummedCiphertexts => MaxParties;

    /// <summary>B = ⌊σ·cut⌋, the largest magnitude of a Gaussian error coefficient (19 by default).</summary>
    public int ErrorBound { get; }

    /// <summary>
    /// The most ciphertexts one collective key may decrypt: the largest power of two c with
    /// c·δ ≤ 2^-40, δ the worst-case statistical distance one decrypted ciphertext costs at
    /// <see cref="MaxParties"/> parties and <see cref="MaxSummedCiphertexts"/> summed ciphertexts
    /// (<see cref="NoiseBudget"/>; 32 by default, δ = 2^-45.8). A node issues one decryption share per
    /// attempt and every attempt has its own key, so this bounds what a key's shares ever reveal.
    /// </summary>
    public int MaxCiphertextsPerKey { get; }

    /// <summary><see cref="MaxCiphertextsPerKey"/> × N: the most values one decryption may cover (262,144 by default).</summary>
    public int MaxValuesPerDecryption => MaxCiphertextsPerKey * N;

    /// <summary>log2 δ, the worst-case statistical distance one decrypted ciphertext costs (−45.82 by default).</summary>
    public double Log2DistancePerCiphertext { get; }

    public BigInteger Q { get; }

    public double LogQ { get; }

    /// <summary>Plaintext modulus bits: t = 2^64.</summary>
    public static int PlaintextBits => 64;

    internal ulong[] DeltaResidues { get; }

    internal ulong[] DeltaShoup { get; }

    internal ulong QModT { get; }

    internal ulong[] ScaleIntegerParts { get; }

    internal ulong[] ScaleFractionHigh { get; }

    internal ulong[] ScaleFractionLow { get; }
}

/// <summary>The one-byte identity of a parameter set, written into every serialized object.</summary>
public readonly record struct ParameterSetId(byte Value)
{
    public static ParameterSetId Default => new(1);

    public override string ToString() => $"0x{Value:X2}";
}
