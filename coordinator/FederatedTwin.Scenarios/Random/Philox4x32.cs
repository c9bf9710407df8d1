using System.Runtime.CompilerServices;

namespace FederatedTwin.Scenarios.Random;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror and Shaw, "Parallel random numbers:
/// as easy as 1, 2, 3", SC'11 (doi:10.1145/2063384.2063405). Output is a pure function of a 128-bit counter
/// and a 64-bit key, so any draw can be computed independently: the twin keys it by (seed, replicate) and
/// counts by (person, year, outcome), which gives baseline and scenario the same draws (common random numbers).
/// Verified against the Random123 distribution's kat_vectors (tests/FederatedTwin.Scenarios.Tests/PhiloxTests.cs).
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
}

/// <summary>The 128 bits one Philox call produces.</summary>
public readonly record struct PhiloxBlock(uint X0, uint X1, uint X2, uint X3)
{
    /// <summary>A uniform double in the open interval (0, 1) from the first 53 bits (X0:X1), never exactly 0 or 1.</summary>
    public double Uniform01()
    {
        var bits = (((ulong)X0 << 32) | X1) >> 11;
        return (bits + 0.5) * (1.0 / (1UL << 53));
    }

    /// <summary>Word i (0..3) as a uniform in the open interval (0, 1): (x + 0.5) / 2^32.</summary>
    public double Word01(int i) => (i switch { 0 => X0, 1 => X1, 2 => X2, _ => X3 } + 0.5) * (1.0 / 4294967296.0);
}
