using System.Numerics;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// Exact samplers built from uniform random words and integer arithmetic only, after Canonne, Kamath
/// and Steinke 2020, "The Discrete Gaussian for Differential Privacy", Algorithms 1 and 2. No
/// floating point appears anywhere: rounded floating-point noise leaks through the gaps between
/// representable values (Mironov 2012), while these return exactly the stated distribution.
/// The integer type is generic so the same code runs on ulong/UInt128 where the numbers fit and on
/// BigInteger where they do not; every width consumes the random stream identically.
/// </summary>
public static class ExactSampling
{
    /// <summary>
    /// Uniform on {0, …, bound−1} by rejection: draw ⌈L/64⌉ words (low word first), where L is the bit
    /// length of bound−1, keep the low L bits and retry if the value is ≥ bound (success probability &gt; ½).
    /// </summary>
    public static T UniformBelow<T>(T bound, IRandomBitSource random)
        where T : IBinaryInteger<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        if (bound <= T.One)
        {
            return bound == T.One ? T.Zero : throw new ArgumentOutOfRangeException(nameof(bound), "bound must be positive");
        }

        int bits = int.CreateChecked(T.Log2(bound - T.One)) + 1;
        int words = (bits + 63) / 64;
        int topBits = bits - (64 * (words - 1));
        ulong topMask = topBits == 64 ? ulong.MaxValue : (1UL << topBits) - 1;
        Span<ulong> drawn = words <= 16 ? stackalloc ulong[words] : new ulong[words];
        while (true)
        {
            for (int i = 0; i < words; i++)
            {
                drawn[i] = random.NextUInt64();
            }

            T value = T.CreateTruncating(drawn[words - 1] & topMask);
            for (int i = words - 2; i >= 0; i--)
            {
                value = (value << 64) | T.CreateTruncating(drawn[i]);
            }

            if (value < bound)
            {
                return value;
            }
        }
    }

    /// <summary>Bernoulli(numerator/denominator) for 0 ≤ numerator ≤ denominator: a uniform draw below the denominator.</summary>
    public static bool Bernoulli<T>(T numerator, T denominator, IRandomBitSource random)
        where T : IBinaryInteger<T>
    {
        if (denominator <= T.Zero || numerator < T.Zero || numerator > denominator)
        {
            throw new ArgumentOutOfRangeException(nameof(numerator), "need 0 <= numerator <= denominator, denominator > 0");
        }

        return UniformBelow(denominator, random) < numerator;
    }

    /// <summary>
    /// Bernoulli(exp(−γ)) for γ = numerator/denominator ≥ 0 (Canonne, Kamath and Steinke 2020, Algorithm 1):
    /// for γ &gt; 1 one Bernoulli(exp(−1)) per whole unit of γ, stopping at the first failure, then the
    /// fractional part; for γ ≤ 1 the alternating-series trick returns 1 iff the first failing trial of
    /// Bernoulli(γ/k), k = 1, 2, …, has an odd index.
    /// </summary>
    public static bool BernoulliExpMinus<T>(T numerator, T denominator, IRandomBitSource random)
        where T : IBinaryInteger<T>
    {
        ArgumentNullException.ThrowIfNull(random);
        if (denominator <= T.Zero || numerator < T.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(numerator), "need numerator >= 0 and denominator > 0");
        }

        var (whole, fraction) = T.DivRem(numerator, denominator);
        for (T k = T.Zero; k < whole; k++)
        {
            if (!BernoulliExpMinusOne(random))
            {
                return false;
            }
        }

        return BernoulliExpMinusFraction(fraction, denominator, random);
    }

    /// <summary>
    /// Discrete Laplace with scale t/s: P(Y = y) ∝ exp(−|y|·s/t) (Canonne, Kamath and Steinke 2020,
    /// Algorithm 2). A geometric count of whole units of t plus a uniform remainder accepted with
    /// probability exp(−U/t) gives X ~ Geometric(1 − e^{−1/t}); dividing by s and a random sign (rejecting
    /// "−0" so zero is not counted twice) gives the two-sided distribution.
    /// </summary>
    public static long DiscreteLaplace(ulong scaleNumerator, ulong scaleDenominator, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfZero(scaleNumerator);
        ArgumentOutOfRangeException.ThrowIfZero(scaleDenominator);
        ulong t = scaleNumerator;
        ulong s = scaleDenominator;
        while (true)
        {
            ulong u = UniformBelow(t, random);
            if (!BernoulliExpMinusFraction(u, t, random))
            {
                continue;
            }

            ulong v = 0;
            while (BernoulliExpMinusOne(random))
            {
                v++;
            }

            // Overflow needs V > 2^64/t consecutive successes of probability e^{-1}: never, but checked.
            ulong x = checked(u + (t * v));
            ulong y = x / s;
            bool negative = (random.NextUInt64() & 1) == 1;
            if (negative && y == 0)
            {
                continue;
            }

            long magnitude = checked((long)y);
            return negative ? -magnitude : magnitude;
        }
    }

    /// <summary>Bernoulli(exp(−1)): Algorithm 1 at γ = 1, where each trial is Bernoulli(1/k).</summary>
    internal static bool BernoulliExpMinusOne(IRandomBitSource random)
    {
        ulong k = 1;
        while (UniformBelow(k, random) == 0)
        {
            k++;
        }

        return (k & 1) == 1;
    }

    /// <summary>
    /// Bernoulli(exp(−n/d)) for 0 ≤ n &lt; d. Trial k is Bernoulli(n/(d·k)), drawn as the product of the
    /// independent Bernoulli(n/d) and Bernoulli(1/k), so d·k never has to be formed and cannot overflow.
    /// </summary>
    internal static bool BernoulliExpMinusFraction<T>(T numerator, T denominator, IRandomBitSource random)
        where T : IBinaryInteger<T>
    {
        if (numerator == T.Zero)
        {
            return true;
        }

        ulong k = 1;
        while (UniformBelow(denominator, random) < numerator && UniformBelow(k, random) == 0)
        {
            k++;
        }

        return (k & 1) == 1;
    }
}
