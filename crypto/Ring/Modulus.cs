using System.Numerics;
using System.Runtime.CompilerServices;

namespace FederatedTwin.Crypto.Ring;

/// <summary>
/// One RNS prime q &lt; 2^60 with the constants its hot loops need. All reductions use
/// Shoup's precomputed-quotient multiplication (Shoup, NTL; Harvey, "Faster arithmetic for
/// number-theoretic transforms", J. Symb. Comp. 2014): for a fixed w &lt; q and w' = floor(w·2^64/q),
/// x·w mod q is one high multiply, one low multiply and a subtraction for any 64-bit x.
/// </summary>
public sealed class Modulus
{
    /// <summary>The largest modulus bit size the lazy NTT and 60-bit packing allow.</summary>
    public const int MaxBits = 60;

    public Modulus(ulong value)
    {
        if (value < 3 || BitOperations.Log2(value) + 1 > MaxBits)
        {
            throw new ArgumentOutOfRangeException(nameof(value), $"Modulus must be an odd number of at most {MaxBits} bits.");
        }

        Value = value;
        TwoQ = value << 1;
        OneShoup = ShoupCompanion(1);
        var twoTo64ModQ = (ulong)(((UInt128)1 << 64) % value);
        TwoTo64ModQ = twoTo64ModQ;
        TwoTo64ModQShoup = ShoupCompanion(twoTo64ModQ);
    }

    public ulong Value { get; }

    internal ulong TwoQ { get; }

    internal ulong OneShoup { get; }

    internal ulong TwoTo64ModQ { get; }

    internal ulong TwoTo64ModQShoup { get; }

    /// <summary>floor(w·2^64 / q) for w &lt; q: the companion of a fixed multiplicand.</summary>
    public ulong ShoupCompanion(ulong w)
    {
        if (w >= Value)
        {
            throw new ArgumentOutOfRangeException(nameof(w), "Shoup multiplicand must be reduced.");
        }

        return (ulong)(((UInt128)w << 64) / Value);
    }

    /// <summary>x·w mod q in [0, 2q), for any x &lt; 2^64 and w &lt; q with companion wShoup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong MulShoupLazy(ulong x, ulong w, ulong wShoup)
    {
        var quotient = NegacyclicNtt.MulHigh(x, wShoup);
        return unchecked((x * w) - (quotient * Value));
    }

    /// <summary>x·w mod q in [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong MulShoup(ulong x, ulong w, ulong wShoup)
    {
        return NegacyclicNtt.ReduceOnce(MulShoupLazy(x, w, wShoup), Value);
    }

    /// <summary>x mod q for any 64-bit x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Reduce(ulong x) => MulShoup(x, 1, OneShoup);

    /// <summary>(hi·2^64 + lo) mod q, for any 128-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Reduce128(ulong hi, ulong lo)
    {
        var a = MulShoupLazy(hi, TwoTo64ModQ, TwoTo64ModQShoup);
        var b = MulShoupLazy(lo, 1, OneShoup);
        var s = a + b; // < 4q < 2^62
        return NegacyclicNtt.ReduceOnce(NegacyclicNtt.ReduceOnce(s, TwoQ), Value);
    }

    /// <summary>a·b mod q for reduced a and b, without a precomputed companion.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Mul(ulong a, ulong b)
    {
        var hi = Math.BigMul(a, b, out var lo);
        return Reduce128(hi, lo);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Add(ulong a, ulong b)
    {
        return NegacyclicNtt.ReduceOnce(a + b, Value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Sub(ulong a, ulong b) => NegacyclicNtt.ReduceOnce(a + Value - b, Value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Neg(ulong a) => a == 0 ? 0 : Value - a;

    /// <summary>A signed integer as its residue.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong FromSigned(long v) => v >= 0 ? Reduce((ulong)v) : Neg(Reduce((ulong)(-(v + 1)) + 1));

    public ulong Pow(ulong b, ulong e)
    {
        ulong result = 1;
        b %= Value;
        while (e > 0)
        {
            if ((e & 1) != 0)
            {
                result = Mul(result, b);
            }

            b = Mul(b, b);
            e >>= 1;
        }

        return result;
    }

    /// <summary>Inverse by Fermat's little theorem: q is prime.</summary>
    public ulong Inverse(ulong a)
    {
        if (a % Value == 0)
        {
            throw new ArgumentException("Zero has no inverse.", nameof(a));
        }

        return Pow(a, Value - 2);
    }

    public override string ToString() => Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
