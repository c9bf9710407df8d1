using System.Buffers.Binary;
using System.Numerics;

namespace FederatedTwin.Protocol.Crypto.Ring;

/// <summary>Uniform secrets in {−1, 0, 1}, as every RLWE secret and the encryption ephemeral u.</summary>
public sealed class TernarySampler(RnsRing ring, RandomSource random)
{
    /// <summary>Writes a fresh ternary polynomial (coefficient form) into output and returns the signed coefficients.</summary>
    public void Sample(RnsPoly output, Span<sbyte> signedOut = default)
    {
        var n = ring.N;
        var bytes = new byte[n + (n / 64) + 16];
        random.Fill(bytes);
        var used = 0;
        Span<byte> one = stackalloc byte[1];
        for (var j = 0; j < n; j++)
        {
            int b;
            do
            {
                if (used < bytes.Length)
                {
                    b = bytes[used++];
                }
                else
                {
                    random.Fill(one);
                    b = one[0];
                }
            }
            while (b == 255); // 255 = 3·85: reject so that b mod 3 is exactly uniform

            var v = (b % 3) - 1;
            if (!signedOut.IsEmpty)
            {
                signedOut[j] = (sbyte)v;
            }

            for (var i = 0; i < ring.Levels; i++)
            {
                var q = ring.Moduli[i].Value;
                output.Coefficients[(i * n) + j] = v switch { 1 => 1UL, -1 => q - 1, _ => 0UL };
            }
        }
    }
}

/// <summary>
/// Discrete Gaussian of parameter σ, cut at ⌊kσ⌋, by inversion of a 64-bit cumulative table
/// (CDT). The table is exact to double precision (≈ 2^-53), far finer than the statistics any
/// party can observe. Not constant-time: the samples stay inside the node that draws them.
/// </summary>
public sealed class GaussianSampler
{
    private readonly RnsRing _ring;
    private readonly RandomSource _random;
    private readonly ulong[] _cdt;
    private readonly int _bound;

    public GaussianSampler(RnsRing ring, RandomSource random, double sigma, double cutInSigmas)
    {
        _ring = ring;
        _random = random;
        Sigma = sigma;
        _bound = (int)Math.Floor(sigma * cutInSigmas);
        var weights = new double[(2 * _bound) + 1];
        double total = 0;
        for (var x = -_bound; x <= _bound; x++)
        {
            var w = Math.Exp(-(double)x * x / (2 * sigma * sigma));
            weights[x + _bound] = w;
            total += w;
        }

        _cdt = new ulong[weights.Length];
        double cumulative = 0;
        for (var k = 0; k < weights.Length; k++)
        {
            cumulative += weights[k] / total;
            _cdt[k] = cumulative >= 1.0 ? ulong.MaxValue : (ulong)(cumulative * 18446744073709551616.0);
        }

        _cdt[^1] = ulong.MaxValue;
    }

    public double Sigma { get; }

    /// <summary>The largest magnitude a sample can take.</summary>
    public int Bound => _bound;

    /// <summary>Writes fresh noise (coefficient form) into output, or adds it when accumulate is true.</summary>
    public void Sample(RnsPoly output, bool accumulate = false, Span<int> signedOut = default)
    {
        var n = _ring.N;
        var bytes = new byte[n * 8];
        _random.Fill(bytes);
        for (var j = 0; j < n; j++)
        {
            var u = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(j * 8, 8));
            var v = SampleOne(u);
            if (!signedOut.IsEmpty)
            {
                signedOut[j] = v;
            }

            for (var i = 0; i < _ring.Levels; i++)
            {
                var m = _ring.Moduli[i];
                var residue = v >= 0 ? (ulong)v : m.Value - (ulong)(-v);
                ref var slot = ref output.Coefficients[(i * n) + j];
                slot = accumulate ? m.Add(slot, residue) : residue;
            }
        }
    }

    internal int SampleOne(ulong u)
    {
        var lo = 0;
        var hi = _cdt.Length - 1;
        while (lo < hi)
        {
            var mid = (lo + hi) >> 1;
            if (u < _cdt[mid])
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo - _bound;
    }
}

/// <summary>Uniform residues mod each q_i by rejection sampling on masked 64-bit words.</summary>
public sealed class UniformSampler(RnsRing ring, RandomSource random)
{
    public void Sample(RnsPoly output)
    {
        var n = ring.N;
        var buffer = new byte[n * 8];
        for (var i = 0; i < ring.Levels; i++)
        {
            var q = ring.Moduli[i].Value;
            var mask = (1UL << (BitOperations.Log2(q) + 1)) - 1;
            random.Fill(buffer);
            var level = output.Level(i);
            var used = 0;
            for (var j = 0; j < n; j++)
            {
                ulong v;
                do
                {
                    if (used + 8 <= buffer.Length)
                    {
                        v = BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(used, 8)) & mask;
                        used += 8;
                    }
                    else
                    {
                        v = random.NextUInt64() & mask;
                    }
                }
                while (v >= q);

                level[j] = v;
            }
        }
    }
}
