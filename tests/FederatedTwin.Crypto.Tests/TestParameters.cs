using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Crypto.Tests;

/// <summary>Small rings for fast property tests, with real 60-bit NTT-friendly primes found by search.</summary>
internal static class TestParameters
{
    private static readonly Dictionary<int, RlweParameters> Small = [];
    private static readonly Lock Gate = new();

    /// <summary>The largest primes below 2^60 that are 1 mod 2N.</summary>
    public static ulong[] NttPrimes(int n, int count)
    {
        var primes = new List<ulong>();
        var step = 2UL * (ulong)n;
        var candidate = ((1UL << 60) / step * step) + 1;
        while (primes.Count < count)
        {
            candidate -= step;
            if (Primality.IsPrime(candidate))
            {
                primes.Add(candidate);
            }
        }

        return [.. primes];
    }

    /// <summary>A parameter set of degree n with three 60-bit primes, the default's smudging and party count, and a parameter-set id other than the default's.</summary>
    public static RlweParameters SmallRing(int n)
    {
        lock (Gate)
        {
            if (!Small.TryGetValue(n, out var p))
            {
                p = new RlweParameters(new ParameterSetId((byte)(0x40 + System.Numerics.BitOperations.Log2((uint)n))), $"test-N{n}", n, NttPrimes(n, 3), 3.2, 6, RlweParameters.Default.SmudgingBits, 1000);
                Small[n] = p;
            }

            return p;
        }
    }

    /// <summary>Centered representative of a residue modulo q, as a signed 128-bit integer.</summary>
    public static Int128 Centered(ulong residue, ulong q) => residue > q / 2 ? (Int128)residue - q : residue;
}
