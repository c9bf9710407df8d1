using System.Numerics;
using System.Runtime.CompilerServices;

namespace FederatedTwin.Crypto.Ring;

/// <summary>
/// Negacyclic number-theoretic transform over Z_q[X]/(X^N + 1) for one prime q = 1 mod 2N.
/// Forward: Cooley–Tukey with merged ψ-twisting, output in bit-reversed order; inverse:
/// Gentleman–Sande, input in bit-reversed order (Longa and Naehrig, "Speeding up the NTT for
/// RLWE-based cryptography", CANS 2016, Algorithms 1–2). Butterflies use Harvey's lazy reduction
/// (values kept in [0, 4q) forward and [0, 2q) inverse), which is why moduli are capped at 60 bits.
/// The twiddle tables and their Shoup companions are computed once and are read-only, so one
/// instance is safe to share between threads.
/// </summary>
public sealed class NegacyclicNtt
{
    private readonly ulong[] _psiRev;
    private readonly ulong[] _psiRevShoup;
    private readonly ulong[] _psiInvRev;
    private readonly ulong[] _psiInvRevShoup;
    private readonly ulong _nInv;
    private readonly ulong _nInvShoup;

    public NegacyclicNtt(Modulus modulus, int n)
    {
        if (n < 2 || !BitOperations.IsPow2(n))
        {
            throw new ArgumentOutOfRangeException(nameof(n), "Ring degree must be a power of two.");
        }

        var q = modulus.Value;
        if ((q - 1) % (2 * (ulong)n) != 0)
        {
            throw new ArgumentException($"Modulus {q} is not 1 mod 2N for N = {n}: no negacyclic NTT exists.", nameof(modulus));
        }

        Modulus = modulus;
        N = n;
        var psi = FindPrimitive2NthRoot(modulus, n);
        var psiInv = modulus.Inverse(psi);
        var logN = BitOperations.Log2((uint)n);
        _psiRev = new ulong[n];
        _psiInvRev = new ulong[n];
        _psiRevShoup = new ulong[n];
        _psiInvRevShoup = new ulong[n];
        ulong power = 1;
        ulong powerInv = 1;
        for (var i = 0; i < n; i++)
        {
            var r = (int)BitReverse((uint)i, logN);
            _psiRev[r] = power;
            _psiInvRev[r] = powerInv;
            power = modulus.Mul(power, psi);
            powerInv = modulus.Mul(powerInv, psiInv);
        }

        for (var i = 0; i < n; i++)
        {
            _psiRevShoup[i] = modulus.ShoupCompanion(_psiRev[i]);
            _psiInvRevShoup[i] = modulus.ShoupCompanion(_psiInvRev[i]);
        }

        _nInv = modulus.Inverse((ulong)n);
        _nInvShoup = modulus.ShoupCompanion(_nInv);
        Psi = psi;
    }

    public Modulus Modulus { get; }

    public int N { get; }

    /// <summary>The primitive 2N-th root of unity the tables were built from.</summary>
    public ulong Psi { get; }

    /// <summary>In place; input coefficients in [0, q), output evaluations in [0, q), bit-reversed.</summary>
    public void Forward(Span<ulong> a)
    {
        if (a.Length != N)
        {
            throw new ArgumentException($"Expected {N} coefficients.", nameof(a));
        }

        var q = Modulus.Value;
        var twoQ = Modulus.TwoQ;
        ref var a0 = ref a[0];
        var t = N;
        for (var m = 1; m < N; m <<= 1)
        {
            t >>= 1;
            for (var i = 0; i < m; i++)
            {
                var w = _psiRev[m + i];
                var wShoup = _psiRevShoup[m + i];
                var j1 = 2 * i * t;
                var j2 = j1 + t;
                for (var j = j1; j < j2; j++)
                {
                    ref var x = ref Unsafe.Add(ref a0, j);
                    ref var y = ref Unsafe.Add(ref a0, j + t);
                    var u = ReduceOnce(x, twoQ);
                    var v = unchecked((y * w) - (MulHigh(y, wShoup) * q));
                    x = u + v;
                    y = u - v + twoQ;
                }
            }
        }

        for (var j = 0; j < N; j++)
        {
            ref var x = ref Unsafe.Add(ref a0, j);
            x = ReduceOnce(ReduceOnce(x, twoQ), q);
        }
    }

    /// <summary>In place; input evaluations in [0, q) bit-reversed, output coefficients in [0, q).</summary>
    public void Inverse(Span<ulong> a)
    {
        if (a.Length != N)
        {
            throw new ArgumentException($"Expected {N} coefficients.", nameof(a));
        }

        var q = Modulus.Value;
        var twoQ = Modulus.TwoQ;
        ref var a0 = ref a[0];
        var t = 1;
        for (var m = N; m > 1; m >>= 1)
        {
            var h = m >> 1;
            var j1 = 0;
            for (var i = 0; i < h; i++)
            {
                var w = _psiInvRev[h + i];
                var wShoup = _psiInvRevShoup[h + i];
                var j2 = j1 + t;
                for (var j = j1; j < j2; j++)
                {
                    ref var x = ref Unsafe.Add(ref a0, j);
                    ref var y = ref Unsafe.Add(ref a0, j + t);
                    var u = x;
                    var v = y;
                    x = ReduceOnce(u + v, twoQ);
                    var d = u - v + twoQ;
                    y = unchecked((d * w) - (MulHigh(d, wShoup) * q));
                }

                j1 += t << 1;
            }

            t <<= 1;
        }

        for (var j = 0; j < N; j++)
        {
            ref var x = ref Unsafe.Add(ref a0, j);
            x = ReduceOnce(unchecked((x * _nInv) - (MulHigh(x, _nInvShoup) * q)), q);
        }
    }

    /// <summary>x − m if x ≥ m, else x, without a branch: random residues would mispredict half the time.
    /// Valid for x &lt; 2m &lt; 2^63, where x − m is negative exactly when it wraps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong ReduceOnce(ulong x, ulong m)
    {
        var r = unchecked(x - m);
        return r + (m & (ulong)((long)r >> 63));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static ulong MulHigh(ulong a, ulong b) => (ulong)(((UInt128)a * b) >> 64);

    private static uint BitReverse(uint x, int bits) => (uint)(ReverseBits(x) >> (32 - bits));

    private static uint ReverseBits(uint x)
    {
        x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
        x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
        x = ((x >> 4) & 0x0F0F0F0Fu) | ((x & 0x0F0F0F0Fu) << 4);
        x = ((x >> 8) & 0x00FF00FFu) | ((x & 0x00FF00FFu) << 8);
        return (x >> 16) | (x << 16);
    }

    /// <summary>The smallest-generator primitive 2N-th root: deterministic, so every party builds the same tables.</summary>
    private static ulong FindPrimitive2NthRoot(Modulus modulus, int n)
    {
        var q = modulus.Value;
        var exponent = (q - 1) / (2 * (ulong)n);
        for (ulong g = 2; g < q; g++)
        {
            var candidate = modulus.Pow(g, exponent);
            // candidate has order dividing 2N; it is primitive iff candidate^N = -1.
            if (modulus.Pow(candidate, (ulong)n) == q - 1)
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"No primitive {2 * n}-th root of unity modulo {q}.");
    }
}
