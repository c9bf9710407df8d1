using System.Buffers.Binary;
using System.Numerics;

namespace FederatedTwin.Crypto.Ring;

/// <summary>Uniform secrets in {−1, 0, 1}, as every RLWE secret and the encryption ephemeral u.</summary>
public sealed class TernarySampler(RnsRing ring, RandomSource random)
{
    /// <summary>Writes a fresh ternary polynomial (coefficient form) into output, and its signed coefficients into signedOut if given.</summary>
    public void Sample(RnsPoly output, Span<sbyte> signedOut = default)
    {
        var n = ring.N;
        var bytes = new byte[n + (n / 64) + 16];
        random.Fill(bytes);
        var used = 0;
        Span<byte> one = stackalloc byte[1];
        var values = new byte[n]; // v + 1, in {0, 1, 2}
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

            values[j] = (byte)(b % 3);
        }

        if (!signedOut.IsEmpty)
        {
            for (var j = 0; j < n; j++)
            {
                signedOut[j] = (sbyte)(values[j] - 1);
            }
        }

        Span<ulong> residues = stackalloc ulong[3];
        for (var i = 0; i < ring.Levels; i++)
        {
            var q = ring.Moduli[i].Value;
            residues[0] = q - 1;
            residues[1] = 0;
            residues[2] = 1;
            var level = output.Level(i);
            for (var j = 0; j < n; j++)
            {
                level[j] = residues[values[j]];
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
    private readonly ulong[][] _residues;
    private readonly sbyte[] _prefixTable;
    private const int PrefixBits = 12;

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
        _residues = ring.Moduli.Select(m => Enumerable.Range(-_bound, (2 * _bound) + 1)
            .Select(v => v >= 0 ? (ulong)v : m.Value - (ulong)(-v)).ToArray()).ToArray();
        _prefixTable = new sbyte[1 << PrefixBits];
        for (var prefix = 0; prefix < _prefixTable.Length; prefix++)
        {
            var low = (ulong)prefix << (64 - PrefixBits);
            var high = low | (ulong.MaxValue >> PrefixBits);
            var first = ScanIndex(low);
            _prefixTable[prefix] = first == ScanIndex(high) ? (sbyte)first : (sbyte)-1;
        }
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
        var indices = new int[n];
        for (var j = 0; j < n; j++)
        {
            indices[j] = SampleIndex(BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(j * 8, 8)));
        }

        if (!signedOut.IsEmpty)
        {
            for (var j = 0; j < n; j++)
            {
                signedOut[j] = indices[j] - _bound;
            }
        }

        for (var i = 0; i < _ring.Levels; i++)
        {
            var m = _ring.Moduli[i];
            var residues = _residues[i];
            var level = output.Level(i);
            for (var j = 0; j < n; j++)
            {
                var r = residues[indices[j]];
                level[j] = accumulate ? m.Add(level[j], r) : r;
            }
        }
    }

    internal int SampleOne(ulong u) => SampleIndex(u) - _bound;

    /// <summary>The number of CDT entries not above u, counted without branches (a binary search on random u mispredicts).</summary>
    /// <summary>
    /// The CDT index for u. The top 12 bits of u settle it through a 4 KiB table unless a CDT
    /// boundary falls inside that 2^52-wide interval (under 1% of draws), which the full scan resolves.
    /// </summary>
    private int SampleIndex(ulong u)
    {
        var fast = _prefixTable[(int)(u >> (64 - PrefixBits))];
        return fast >= 0 ? fast : ScanIndex(u);
    }

    private int ScanIndex(ulong u)
    {
        var count = 0;
        foreach (var c in _cdt)
        {
            count += u >= c ? 1 : 0;
        }

        // cdt[^1] = 2^64 − 1, so count ≤ 2·bound except for u = 2^64 − 1 (probability 2^-64), folded onto the top value.
        return Math.Min(count, _cdt.Length - 1);
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
