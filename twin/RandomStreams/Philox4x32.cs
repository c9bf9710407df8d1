using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FederatedTwin.Twin.RandomStreams;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
/// as easy as 1, 2, 3", SC'11 (doi:10.1145/2063384.2063405). Output is a pure function of a 128-bit counter
/// and a 64-bit key, so any draw can be computed independently: the twin keys it by (seed, replicate) and
/// counts by (person, year, outcome), which gives baseline and scenario the same draws (common random numbers).
/// Verified against the Random123 distribution's kat_vectors (tests/FederatedTwin.Twin.Tests/PhiloxTests.cs).
/// <see cref="Uniforms"/> computes sixteen (AVX-512F) or eight (AVX2) counters at once: integer arithmetic and exact
/// conversions only, so bit-identical to <see cref="Generate"/> (a test checks it).
/// </summary>
public static class Philox4x32
{
    // Multipliers and Weyl key increments from Salmon et al. SC'11, Table 2 / Random123 philox.h.
    private const uint M0 = 0xD2511F53;
    private const uint M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9;
    private const uint W1 = 0xBB67AE85;

    /// <summary>Ten rounds of the Philox S-box over counter (c0..c3) with key (k0,k1); returns the four output words.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static PhiloxBlock Generate(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (var round = 0; round < 10; round++)
        {
            // Key schedule: round i uses key + i*W, bumped after each round (Random123 order).
            if (round > 0)
            {
                k0 += W0;
                k1 += W1;
            }

            var p0 = (ulong)M0 * c0;
            var p1 = (ulong)M1 * c2;
            var hi0 = (uint)(p0 >> 32);
            var lo0 = (uint)p0;
            var hi1 = (uint)(p1 >> 32);
            var lo1 = (uint)p1;
            var n0 = hi1 ^ c1 ^ k0;
            var n2 = hi0 ^ c3 ^ k1;
            c0 = n0;
            c1 = lo1;
            c2 = n2;
            c3 = lo0;
        }

        return new PhiloxBlock(c0, c1, c2, c3);
    }

    /// <summary>
    /// For each j: the block of counter (c0s[j], c1, c2, 0) and key (k0, k1), its words written as uniforms (x + 0.5)/2^32
    /// to u0[j]..u3[j] (the same values as <see cref="PhiloxBlock.Word01"/>).
    /// </summary>
    public static void Uniforms(ReadOnlySpan<int> c0s, uint c1, uint c2, uint k0, uint k1, Span<double> u0, Span<double> u1, Span<double> u2, Span<double> u3)
    {
        var n = c0s.Length;
        if (u0.Length < n || u1.Length < n || u2.Length < n || u3.Length < n)
        {
            throw new ArgumentException("output spans shorter than the counters");
        }

        var j = 0;
        if (Avx512F.IsSupported)
        {
            for (; j + 16 <= n; j += 16)
            {
                Uniforms16(c0s, j, c1, c2, k0, k1, u0, u1, u2, u3);
            }
        }

        if (Avx2.IsSupported)
        {
            for (; j + 8 <= n; j += 8)
            {
                Uniforms8(c0s, j, c1, c2, k0, k1, u0, u1, u2, u3);
            }
        }

        for (; j < n; j++)
        {
            var b = Generate((uint)c0s[j], c1, c2, 0, k0, k1);
            u0[j] = b.Word01(0);
            u1[j] = b.Word01(1);
            u2[j] = b.Word01(2);
            u3[j] = b.Word01(3);
        }
    }

    private static void Uniforms8(ReadOnlySpan<int> c0s, int j, uint c1, uint c2, uint k0, uint k1, Span<double> u0, Span<double> u1, Span<double> u2, Span<double> u3)
    {
        var x0 = Vector256.LoadUnsafe(ref Unsafe.As<int, uint>(ref MemoryMarshal.GetReference(c0s)), (nuint)j);
        var x1 = Vector256.Create(c1);
        var x2 = Vector256.Create(c2);
        var x3 = Vector256<uint>.Zero;
        var key0 = Vector256.Create(k0);
        var key1 = Vector256.Create(k1);
        var m0 = Vector256.Create(M0);
        var m1 = Vector256.Create(M1);
        var w0 = Vector256.Create(W0);
        var w1 = Vector256.Create(W1);
        for (var round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                key0 += w0;
                key1 += w1;
            }

            var (hi0, lo0) = MulHiLo(x0, m0);
            var (hi1, lo1) = MulHiLo(x2, m1);
            var n0 = hi1 ^ x1 ^ key0;
            var n2 = hi0 ^ x3 ^ key1;
            x0 = n0;
            x1 = lo1;
            x2 = n2;
            x3 = lo0;
        }

        Store(x0, u0, j);
        Store(x1, u1, j);
        Store(x2, u2, j);
        Store(x3, u3, j);
    }

    private static void Uniforms16(ReadOnlySpan<int> c0s, int j, uint c1, uint c2, uint k0, uint k1, Span<double> u0, Span<double> u1, Span<double> u2, Span<double> u3)
    {
        var x0 = Vector512.LoadUnsafe(ref Unsafe.As<int, uint>(ref MemoryMarshal.GetReference(c0s)), (nuint)j);
        var x1 = Vector512.Create(c1);
        var x2 = Vector512.Create(c2);
        var x3 = Vector512<uint>.Zero;
        var key0 = Vector512.Create(k0);
        var key1 = Vector512.Create(k1);
        var m0 = Vector512.Create(M0);
        var m1 = Vector512.Create(M1);
        var w0 = Vector512.Create(W0);
        var w1 = Vector512.Create(W1);
        for (var round = 0; round < 10; round++)
        {
            if (round > 0)
            {
                key0 += w0;
                key1 += w1;
            }

            var (hi0, lo0) = MulHiLo(x0, m0);
            var (hi1, lo1) = MulHiLo(x2, m1);
            var n0 = hi1 ^ x1 ^ key0;
            var n2 = hi0 ^ x3 ^ key1;
            x0 = n0;
            x1 = lo1;
            x2 = n2;
            x3 = lo0;
        }

        Store(x0, u0, j);
        Store(x1, u1, j);
        Store(x2, u2, j);
        Store(x3, u3, j);
    }

    /// <summary>Sixteen-lane <see cref="MulHiLo(Vector256{uint}, Vector256{uint})"/> (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<uint> Hi, Vector512<uint> Lo) MulHiLo(Vector512<uint> a, Vector512<uint> m)
    {
        var even = Avx512F.Multiply(a, m);
        var odd = Avx512F.Multiply(Avx512F.ShiftRightLogical(a.AsUInt64(), 32).AsUInt32(), m);
        var low = Vector512.Create(0x0000_0000_FFFF_FFFFUL);
        var lo = (even & low) | Avx512F.ShiftLeftLogical(odd, 32);
        var hi = Avx512F.ShiftRightLogical(even, 32) | Vector512.AndNot(odd, low);
        return (hi.AsUInt32(), lo.AsUInt32());
    }

    /// <summary>(x + 0.5) / 2^32 for sixteen words (vcvtudq2pd is exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<uint> words, Span<double> dst, int j)
    {
        var half = Vector512.Create(0.5);
        var scale = Vector512.Create(1.0 / 4294967296.0);
        ref var d = ref MemoryMarshal.GetReference(dst);
        ((Avx512F.ConvertToVector512Double(words.GetLower()) + half) * scale).StoreUnsafe(ref d, (nuint)j);
        ((Avx512F.ConvertToVector512Double(words.GetUpper()) + half) * scale).StoreUnsafe(ref d, (nuint)(j + 8));
    }

    /// <summary>Full 32x32→64-bit products of eight lanes, split into high and low words (vpmuludq on even and odd lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<uint> Hi, Vector256<uint> Lo) MulHiLo(Vector256<uint> a, Vector256<uint> m)
    {
        var even = Avx2.Multiply(a, m);
        var odd = Avx2.Multiply(Avx2.ShiftRightLogical(a.AsUInt64(), 32).AsUInt32(), m);
        var lo = Avx2.Blend(even.AsUInt32(), Avx2.ShiftLeftLogical(odd, 32).AsUInt32(), 0b1010_1010);
        var hi = Avx2.Blend(Avx2.ShiftRightLogical(even, 32).AsUInt32(), odd.AsUInt32(), 0b1010_1010);
        return (hi, lo);
    }

    /// <summary>(x + 0.5) / 2^32 for eight words: x − 2^31 is an exact int32, converted exactly, then shifted back.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<uint> words, Span<double> dst, int j)
    {
        var signed = (words ^ Vector256.Create(0x80000000u)).AsInt32();
        var offset = Vector256.Create(2147483648.5);
        var scale = Vector256.Create(1.0 / 4294967296.0);
        ref var d = ref MemoryMarshal.GetReference(dst);
        ((Avx.ConvertToVector256Double(signed.GetLower()) + offset) * scale).StoreUnsafe(ref d, (nuint)j);
        ((Avx.ConvertToVector256Double(signed.GetUpper()) + offset) * scale).StoreUnsafe(ref d, (nuint)(j + 4));
    }
}
