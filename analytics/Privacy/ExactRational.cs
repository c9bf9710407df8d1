using System.Numerics;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// A rational number kept in lowest terms with a positive denominator, so the exact samplers
/// (Canonne, Kamath and Steinke 2020) can compare probabilities without rounding.
/// </summary>
public readonly record struct ExactRational : IComparable<ExactRational>
{
    private ExactRational(BigInteger numerator, BigInteger denominator)
    {
        Numerator = numerator;
        Denominator = denominator;
    }

    public BigInteger Numerator { get; }

    public BigInteger Denominator { get; }

    public int Sign => Numerator.Sign;

    public static ExactRational Create(BigInteger numerator, BigInteger denominator)
    {
        if (denominator.IsZero)
        {
            throw new ArgumentOutOfRangeException(nameof(denominator), "denominator must be non-zero");
        }

        if (denominator.Sign < 0)
        {
            numerator = -numerator;
            denominator = -denominator;
        }

        var gcd = BigInteger.GreatestCommonDivisor(numerator, denominator);
        return gcd.IsOne || gcd.IsZero ? new(numerator, denominator) : new(numerator / gcd, denominator / gcd);
    }

    /// <summary>
    /// The exact value of a finite double. Every finite double is m·2^e with an integer m below 2^53,
    /// so it is the rational m·2^e (or m/2^−e) with no rounding at all: sampling with σ² = FromDouble(x)
    /// samples with exactly the variance parameter the double holds. Note that this is the binary
    /// value: 0.1 becomes 3602879701896397/2^55, not 1/10. Use <see cref="Create"/> for decimal fractions.
    /// </summary>
    public static ExactRational FromDouble(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new ArgumentOutOfRangeException(nameof(value), "only finite doubles have an exact rational value");
        }

        long bits = BitConverter.DoubleToInt64Bits(value);
        bool negative = bits < 0;
        int exponentField = (int)((bits >> 52) & 0x7FF);
        long fraction = bits & 0xF_FFFF_FFFF_FFFFL;
        long mantissa;
        int exponent;
        if (exponentField == 0)
        {
            mantissa = fraction;
            exponent = -1074;
        }
        else
        {
            mantissa = fraction | (1L << 52);
            exponent = exponentField - 1075;
        }

        if (mantissa == 0)
        {
            return new(BigInteger.Zero, BigInteger.One);
        }

        BigInteger numerator = negative ? -mantissa : mantissa;
        return exponent >= 0
            ? new(numerator << exponent, BigInteger.One)
            : Create(numerator, BigInteger.One << -exponent);
    }

    public static ExactRational operator *(ExactRational a, ExactRational b) =>
        Create(a.Numerator * b.Numerator, a.Denominator * b.Denominator);

    public static ExactRational Multiply(ExactRational a, ExactRational b) => a * b;

    public static ExactRational operator +(ExactRational a, ExactRational b) =>
        Create((a.Numerator * b.Denominator) + (b.Numerator * a.Denominator), a.Denominator * b.Denominator);

    public static ExactRational Add(ExactRational a, ExactRational b) => a + b;

    public static bool operator <(ExactRational a, ExactRational b) => a.CompareTo(b) < 0;

    public static bool operator >(ExactRational a, ExactRational b) => a.CompareTo(b) > 0;

    public static bool operator <=(ExactRational a, ExactRational b) => a.CompareTo(b) <= 0;

    public static bool operator >=(ExactRational a, ExactRational b) => a.CompareTo(b) >= 0;

    /// <summary>Exact order: denominators are positive, so a/b ≤ c/d ⇔ a·d ≤ c·b.</summary>
    public int CompareTo(ExactRational other) => (Numerator * other.Denominator).CompareTo(other.Numerator * Denominator);

    public override string ToString() => Denominator.IsOne ? $"{Numerator}" : $"{Numerator}/{Denominator}";
}
