using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace FederatedTwin.Crypto.Ring;

/// <summary>
/// The ring R_Q = Z_Q[X]/(X^N + 1) with Q = q_1·…·q_L held in RNS. Every operation acts level
/// by level on 64-bit residues; nothing here needs multi-precision integers. Read-only after
/// construction and safe to share between threads.
/// </summary>
public sealed class RnsRing
{
    public RnsRing(int n, IReadOnlyList<ulong> primes)
    {
        if (primes.Count == 0)
        {
            throw new ArgumentException("At least one prime is required.", nameof(primes));
        }

        if (primes.Distinct().Count() != primes.Count)
        {
            throw new ArgumentException("RNS primes must be distinct.", nameof(primes));
        }

        N = n;
        var moduli = new Modulus[primes.Count];
        var ntts = new NegacyclicNtt[primes.Count];
        for (var i = 0; i < primes.Count; i++)
        {
            if (!Primality.IsPrime(primes[i]))
            {
                throw new ArgumentException($"RNS modulus {primes[i]} is not prime.", nameof(primes));
            }

            moduli[i] = new Modulus(primes[i]);
            ntts[i] = new NegacyclicNtt(moduli[i], n);
        }

        Moduli = moduli;
        Ntts = ntts;
    }

    public int N { get; }

    public int Levels => Moduli.Count;

    public IReadOnlyList<Modulus> Moduli { get; }

    public IReadOnlyList<NegacyclicNtt> Ntts { get; }

    public RnsPoly NewPoly() => new(N, Levels);

    public void Ntt(RnsPoly p)
    {
        for (var i = 0; i < Levels; i++)
        {
            Ntts[i].Forward(p.Level(i));
        }
    }

    public void InverseNtt(RnsPoly p)
    {
        for (var i = 0; i < Levels; i++)
        {
            Ntts[i].Inverse(p.Level(i));
        }
    }

    /// <summary>out = a + b.</summary>
    public void Add(RnsPoly a, RnsPoly b, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            AddLevel(a.ReadLevel(i), b.ReadLevel(i), output.Level(i), Moduli[i].Value);
        }
    }

    /// <summary>out = a − b.</summary>
    public void Sub(RnsPoly a, RnsPoly b, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            var x = a.ReadLevel(i);
            var y = b.ReadLevel(i);
            var o = output.Level(i);
            for (var j = 0; j < x.Length; j++)
            {
                o[j] = m.Sub(x[j], y[j]);
            }
        }
    }

    /// <summary>out = −a.</summary>
    public void Neg(RnsPoly a, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            var x = a.ReadLevel(i);
            var o = output.Level(i);
            for (var j = 0; j < x.Length; j++)
            {
                o[j] = m.Neg(x[j]);
            }
        }
    }

    /// <summary>out = a ⊙ b, coefficient-wise (a product of polynomials when both are in NTT form).</summary>
    public void MulCoeffs(RnsPoly a, RnsPoly b, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            var x = a.ReadLevel(i);
            var y = b.ReadLevel(i);
            var o = output.Level(i);
            for (var j = 0; j < x.Length; j++)
            {
                o[j] = m.Mul(x[j], y[j]);
            }
        }
    }

    /// <summary>Shoup companions of a fixed multiplicand, for <see cref="MulCoeffsShoupAdd"/>.</summary>
    public RnsPoly ShoupCompanions(RnsPoly fixedOperand)
    {
        var companions = NewPoly();
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            var x = fixedOperand.ReadLevel(i);
            var o = companions.Level(i);
            for (var j = 0; j < x.Length; j++)
            {
                o[j] = m.ShoupCompanion(x[j]);
            }
        }

        return companions;
    }

    /// <summary>out = out + a ⊙ w, where w is fixed and wShoup its companions (hot path of encryption and decryption shares).</summary>
    public void MulCoeffsShoupAdd(RnsPoly a, RnsPoly w, RnsPoly wShoup, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            var q = m.Value;
            ref var x = ref a.Coefficients[i * N];
            ref var wv = ref w.Coefficients[i * N];
            ref var ws = ref wShoup.Coefficients[i * N];
            ref var o = ref output.Coefficients[i * N];
            for (var j = 0; j < N; j++)
            {
                var p = m.MulShoup(Unsafe.Add(ref x, j), Unsafe.Add(ref wv, j), Unsafe.Add(ref ws, j));
                Unsafe.Add(ref o, j) = NegacyclicNtt.ReduceOnce(Unsafe.Add(ref o, j) + p, q);
            }
        }
    }

    /// <summary>out = a ⊙ w with w fixed (see <see cref="ShoupCompanions"/>).</summary>
    public void MulCoeffsShoup(RnsPoly a, RnsPoly w, RnsPoly wShoup, RnsPoly output)
    {
        for (var i = 0; i < Levels; i++)
        {
            var m = Moduli[i];
            ref var x = ref a.Coefficients[i * N];
            ref var wv = ref w.Coefficients[i * N];
            ref var ws = ref wShoup.Coefficients[i * N];
            ref var o = ref output.Coefficients[i * N];
            for (var j = 0; j < N; j++)
            {
                Unsafe.Add(ref o, j) = m.MulShoup(Unsafe.Add(ref x, j), Unsafe.Add(ref wv, j), Unsafe.Add(ref ws, j));
            }
        }
    }

    /// <summary>
    /// acc = acc + b with both reduced. Vectorized: for residues below 2^63, min(s, s − q) over
    /// unsigned lanes is the reduced sum, because s − q wraps above s exactly when s &lt; q.
    /// </summary>
    public static void AddLevel(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Span<ulong> output, ulong q)
    {
        var j = 0;
        if (Vector512.IsHardwareAccelerated && a.Length >= Vector512<ulong>.Count)
        {
            var qv = Vector512.Create(q);
            for (; j <= a.Length - Vector512<ulong>.Count; j += Vector512<ulong>.Count)
            {
                var s = Vector512.Create(a.Slice(j, Vector512<ulong>.Count)) + Vector512.Create(b.Slice(j, Vector512<ulong>.Count));
                Vector512.Min(s, s - qv).CopyTo(output.Slice(j, Vector512<ulong>.Count));
            }
        }
        else if (Vector256.IsHardwareAccelerated && a.Length >= Vector256<ulong>.Count)
        {
            var qv = Vector256.Create(q);
            for (; j <= a.Length - Vector256<ulong>.Count; j += Vector256<ulong>.Count)
            {
                var s = Vector256.Create(a.Slice(j, Vector256<ulong>.Count)) + Vector256.Create(b.Slice(j, Vector256<ulong>.Count));
                // Residues are < 2^60, so signed comparison is exact and AVX2 has it natively.
                var ge = Vector256.GreaterThanOrEqual(s.AsInt64(), qv.AsInt64()).AsUInt64();
                (s - (qv & ge)).CopyTo(output.Slice(j, Vector256<ulong>.Count));
            }
        }

        for (; j < a.Length; j++)
        {
            var s = a[j] + b[j];
            output[j] = s >= q ? s - q : s;
        }
    }

    /// <summary>True when every residue of p is reduced modulo its prime.</summary>
    public bool IsReduced(RnsPoly p)
    {
        for (var i = 0; i < Levels; i++)
        {
            var q = Moduli[i].Value;
            foreach (var r in p.ReadLevel(i))
            {
                if (r >= q)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>log2 of Q, for documentation and start-up checks.</summary>
    public double LogQ => Moduli.Sum(m => Math.Log2(m.Value));

    public static bool IsPowerOfTwo(int n) => BitOperations.IsPow2(n);
}
