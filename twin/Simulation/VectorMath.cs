using System.Numerics;
using System.Runtime.CompilerServices;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// exp, log, log1p, softplus and the normal quantile on <see cref="Vector{T}"/> lanes, built only from IEEE +, −, ×, ÷,
/// √, fused multiply-add (one rounding, IEEE 754-2008; emulated exactly where the CPU lacks it), comparisons, min/max
/// of non-NaN values and integer bit operations, so every lane's result is the same on any vector width and any CPU
/// (and the scalar APIs that call these on a broadcast vector agree bit for bit with the yearly step).
/// </summary>
internal static class VectorMath
{
    // 1.5 * 2^52: adding and subtracting it rounds a double with |x| < 2^51 to the nearest integer, and the low bits of
    // the sum's representation are that integer (the classic "magic number" conversion).
    private const double Magic = 6755399441055744.0;
    private const long MagicBits = 0x4338000000000000;

    // fdlibm e_exp.c / e_log.c: ln 2 split so that n * Ln2Hi is exact for |n| < 2^11.
    private const double Ln2Hi = 6.93147180369123816490e-01;
    private const double Ln2Lo = 1.90821492927058770002e-10;
    private const double Log2E = 1.44269504088896338700e+00;

    /// <summary>e^x, x clamped to [−708, 709] (results stay normal). Relative error about 2e-16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Exp(Vector<double> x)
    {
        x = Vector.MinNative(Vector.MaxNative(x, new Vector<double>(-708.0)), new Vector<double>(709.0));
        var shifted = (x * new Vector<double>(Log2E)) + new Vector<double>(Magic);
        var n = shifted - new Vector<double>(Magic);
        var r = Vector.FusedMultiplyAdd(n, new Vector<double>(-Ln2Lo), Vector.FusedMultiplyAdd(n, new Vector<double>(-Ln2Hi), x));

        // |r| <= ln2/2: Taylor series to r^12/12!; the first omitted term is below 0.3466^13/13! ~ 1.7e-16.
        var p = new Vector<double>(1.0 / 479001600.0);
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 39916800.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 3628800.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 362880.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 40320.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 5040.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 720.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 120.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 24.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(1.0 / 6.0));
        p = Vector.FusedMultiplyAdd(p, r, new Vector<double>(0.5));
        p = Vector.FusedMultiplyAdd(p, r, Vector<double>.One);
        p = Vector.FusedMultiplyAdd(p, r, Vector<double>.One);

        var k = Vector.AsVectorInt64(shifted) - new Vector<long>(MagicBits);
        var scale = Vector.AsVectorDouble(Vector.ShiftLeft(k + new Vector<long>(1023), 52));
        return p * scale;
    }

    /// <summary>Natural log of positive, normal, finite x. Relative error a few 1e-16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Log(Vector<double> x)
    {
        var bits = Vector.AsVectorInt64(x);
        var e = Vector.ShiftRightArithmetic(bits, 52) - new Vector<long>(1023);
        var m = Vector.AsVectorDouble((bits & new Vector<long>(0x000FFFFFFFFFFFFF)) | new Vector<long>(0x3FF0000000000000));
        var big = Vector.GreaterThan(m, new Vector<double>(1.4142135623730951));
        m = Vector.ConditionalSelect(big, m * new Vector<double>(0.5), m);
        e -= big; // big lanes are all ones (-1): exponent + 1
        var ed = Vector.AsVectorDouble(e + new Vector<long>(MagicBits)) - new Vector<double>(Magic);

        // log m = 2 atanh(s), s = (m - 1)/(m + 1), |s| <= 0.1716: 2s (1 + z/3 + z^2/5 + ... + z^10/21), z = s^2.
        var f = m - Vector<double>.One;
        var s = f / (new Vector<double>(2.0) + f);
        var z = s * s;
        var q = new Vector<double>(1.0 / 21);
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 19));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 17));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 15));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 13));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 11));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 9));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 7));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 5));
        q = Vector.FusedMultiplyAdd(q, z, new Vector<double>(1.0 / 3));
        var twoS = s + s;
        var logM = Vector.FusedMultiplyAdd(twoS, q * z, twoS);
        return Vector.FusedMultiplyAdd(ed, new Vector<double>(Ln2Hi), Vector.FusedMultiplyAdd(ed, new Vector<double>(Ln2Lo), logM));
    }

    /// <summary>log(1 + t) for t &gt;= 0, accurate for tiny t (Goldberg: log(u) · t/(u − 1) with u = 1 + t).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Log1p(Vector<double> t)
    {
        var u = Vector<double>.One + t;
        var d = u - Vector<double>.One;
        var isOne = Vector.Equals(d, Vector<double>.Zero);
        var safeD = Vector.ConditionalSelect(isOne, Vector<double>.One, d);
        return Vector.ConditionalSelect(isOne, t, Log(u) * (t / safeD));
    }

    /// <summary>log(1 + e^x) = max(x, 0) + log1p(e^−|x|).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Softplus(Vector<double> x) =>
        Vector.MaxNative(x, Vector<double>.Zero) + Log1p(Exp(-Vector.Abs(x)));

    /// <summary>1 / (1 + e^−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> Logistic(Vector<double> x) => Vector<double>.One / (Vector<double>.One + Exp(-x));

    // P. J. Acklam's rational approximation of the inverse normal CDF (relative error < 1.15e-9), coefficients as published
    // with the algorithm ("An algorithm for computing the inverse normal cumulative distribution function", 2003).
    private const double A0 = -3.969683028665376e+01, A1 = 2.209460984245205e+02, A2 = -2.759285104469687e+02, A3 = 1.383577518672690e+02, A4 = -3.066479806614716e+01, A5 = 2.506628277459239e+00;
    private const double B0 = -5.447609879822406e+01, B1 = 1.615858368580409e+02, B2 = -1.556989798598866e+02, B3 = 6.680131188771972e+01, B4 = -1.328068155288572e+01;
    private const double C0 = -7.784894002430293e-03, C1 = -3.223964580411365e-01, C2 = -2.400758277161838e+00, C3 = -2.549732539343734e+00, C4 = 4.374664141464968e+00, C5 = 2.938163982698783e+00;
    private const double D0 = 7.784695709041462e-03, D1 = 3.224671290700398e-01, D2 = 2.445134137142996e+00, D3 = 3.754408661907416e+00;
    private const double TailBelow = 0.02425;

    /// <summary>Φ⁻¹(p) for p in (0, 1): Acklam's central rational function, or the tail one below 0.02425 / above 0.97575.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<double> NormalQuantile(Vector<double> p)
    {
        var q = p - new Vector<double>(0.5);
        var r = q * q;
        var num = Horner5(r, A0, A1, A2, A3, A4, A5);
        var den = Horner5(r, B0, B1, B2, B3, B4, 1.0);
        var central = num * q / den;
        var pt = Vector.MinNative(p, Vector<double>.One - p);
        var inTail = Vector.LessThan(pt, new Vector<double>(TailBelow));
        if (Vector.EqualsAll(inTail, Vector<long>.Zero))
        {
            // No lane in a tail (about 80% of vectors of four): the tail branch would be discarded anyway.
            return central;
        }

        var t = Vector.SquareRoot(new Vector<double>(-2.0) * Log(pt));
        var tail = Horner5(t, C0, C1, C2, C3, C4, C5) / Horner5(t, 0.0, D0, D1, D2, D3, 1.0);
        tail = Vector.ConditionalSelect(Vector.GreaterThan(p, new Vector<double>(0.5)), -tail, tail);
        return Vector.ConditionalSelect(inTail, tail, central);
    }

    /// <summary>c0 x^5 + c1 x^4 + ... + c5 by Horner's rule with fused multiply-adds.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> Horner5(Vector<double> x, double c0, double c1, double c2, double c3, double c4, double c5)
    {
        var acc = Vector.FusedMultiplyAdd(new Vector<double>(c0), x, new Vector<double>(c1));
        acc = Vector.FusedMultiplyAdd(acc, x, new Vector<double>(c2));
        acc = Vector.FusedMultiplyAdd(acc, x, new Vector<double>(c3));
        acc = Vector.FusedMultiplyAdd(acc, x, new Vector<double>(c4));
        return Vector.FusedMultiplyAdd(acc, x, new Vector<double>(c5));
    }

    /// <summary>Lane 0 of f applied to a broadcast of x: the scalar twin of a vector function, bit-identical to its lanes.</summary>
    public static double Scalar(Func<Vector<double>, Vector<double>> f, double x) => f(new Vector<double>(x))[0];
}
