using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// TEST DOUBLE: a deterministic, seeded stream (xoshiro256** seeded by SplitMix64; Blackman and Vigna 2018)
/// so statistical tests are reproducible. Predictable by design: never use it to noise real data.
/// </summary>
internal sealed class SeededTestRandomBits : IRandomBitSource
{
    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;

    public SeededTestRandomBits(ulong seed)
    {
        _s0 = SplitMix(ref seed);
        _s1 = SplitMix(ref seed);
        _s2 = SplitMix(ref seed);
        _s3 = SplitMix(ref seed);
    }

    public long Draws { get; private set; }

    public ulong NextUInt64()
    {
        Draws++;
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    private static ulong SplitMix(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
