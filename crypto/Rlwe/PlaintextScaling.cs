using System.Runtime.CompilerServices;
using FederatedTwin.Crypto.Ring;

namespace FederatedTwin.Crypto.Rlwe;

/// <summary>
/// Moves plaintexts between Z_t (t = 2^64) and R_Q. Encoding puts m at round(Q·m/t); decoding
/// computes round(t·x/Q) mod t from the RNS residues of x without reconstructing x.
/// </summary>
internal static class PlaintextScaling
{
    /// <summary>
    /// output[i][j] = round(Q·m_j / 2^64) mod q_i (coefficient form), added to what output holds when accumulate is set.
    /// Q·m/t = Δ·m + r·m/t with Δ = ⌊Q/t⌋ and r = Q mod t, so the rounding is one 64×64 high product per coefficient.
    /// </summary>
    public static void AddScaled(RlweParameters parameters, ReadOnlySpan<ulong> plaintext, RnsPoly output)
    {
        var ring = parameters.Ring;
        var n = ring.N;
        if (plaintext.Length > n)
        {
            throw new ArgumentException($"A plaintext holds at most {n} values.", nameof(plaintext));
        }

        var r = parameters.QModT;
        for (var i = 0; i < ring.Levels; i++)
        {
            var m = ring.Moduli[i];
            var delta = parameters.DeltaResidues[i];
            var deltaShoup = parameters.DeltaShoup[i];
            var level = output.Level(i);
            for (var j = 0; j < plaintext.Length; j++)
            {
                var value = plaintext[j];
                var high = Math.BigMul(r, value, out var low);
                var rounding = high + (low >> 63); // round(r·m / 2^64) < 2^64
                var scaled = m.Add(m.MulShoup(value, delta, deltaShoup), m.Reduce(rounding));
                level[j] = m.Add(level[j], scaled);
            }
        }
    }

    /// <summary>plaintext_j = round(2^64 · x_j / Q) mod 2^64 for x in coefficient form (Halevi–Polyakov–Shoup).</summary>
    public static void ScaleDown(RlweParameters parameters, RnsPoly x, Span<ulong> plaintext)
    {
        var n = parameters.N;
        var levels = parameters.Ring.Levels;
        var ints = parameters.ScaleIntegerParts;
        var fracHigh = parameters.ScaleFractionHigh;
        var fracLow = parameters.ScaleFractionLow;
        var count = Math.Min(plaintext.Length, n);
        for (var j = 0; j < count; j++)
        {
            ulong integer = 0;
            UInt128 fraction = 0; // units of 2^-64
            for (var i = 0; i < levels; i++)
            {
                var xi = x.Coefficients[(i * n) + j];
                integer = unchecked(integer + (xi * ints[i]));
                var high = Math.BigMul(xi, fracHigh[i], out var low);
                integer = unchecked(integer + high);
                fraction += low;
                fraction += Math.BigMul(xi, fracLow[i], out _);
            }

            plaintext[j] = unchecked(integer + (ulong)(fraction >> 64) + (((ulong)fraction >> 63) & 1));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ToSigned(ulong v) => unchecked((long)v);
}
