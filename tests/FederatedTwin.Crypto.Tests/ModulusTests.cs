using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;
using FsCheck.Xunit;

namespace FederatedTwin.Crypto.Tests;

public class ModulusTests
{
    private static readonly Modulus Q1 = new(RlweParameters.DefaultPrimes[0]);

    [Property(MaxTest = 500)]
    public bool Shoup_multiplication_equals_the_128_bit_reference(ulong x, ulong w)
    {
        w %= Q1.Value;
        return Q1.MulShoup(x, w, Q1.ShoupCompanion(w)) == (ulong)((UInt128)x * w % Q1.Value);
    }

    [Property(MaxTest = 500)]
    public bool Reduce128_equals_the_128_bit_reference(ulong hi, ulong lo) =>
        Q1.Reduce128(hi, lo) == (ulong)((((UInt128)hi << 64) | lo) % Q1.Value);

    [Property(MaxTest = 500)]
    public bool Add_sub_and_neg_stay_reduced_and_agree(ulong a, ulong b)
    {
        a %= Q1.Value;
        b %= Q1.Value;
        var sum = Q1.Add(a, b);
        return sum < Q1.Value && Q1.Sub(sum, b) == a && Q1.Add(a, Q1.Neg(a)) == 0;
    }

    [Property(MaxTest = 200)]
    public bool FromSigned_maps_negative_values_to_q_minus_magnitude(long v)
    {
        var expected = v >= 0 ? (ulong)((UInt128)(ulong)v % Q1.Value) : (ulong)((Q1.Value - ((UInt128)(ulong)(-(Int128)v) % Q1.Value)) % Q1.Value);
        return Q1.FromSigned(v) == expected;
    }

    [Fact]
    public void The_default_primes_are_prime_60_bit_and_one_mod_2N()
    {
        foreach (var q in RlweParameters.DefaultPrimes)
        {
            Assert.True(Primality.IsPrime(q));
            Assert.Equal(60, 64 - System.Numerics.BitOperations.LeadingZeroCount(q));
            Assert.Equal(1UL, q % (2 * 8192));
        }
    }

    [Theory]
    [InlineData(2UL, true)]
    [InlineData(561UL, false)] // Carmichael number
    [InlineData(3215031751UL, false)] // strong pseudoprime to bases 2, 3, 5, 7
    [InlineData(18446744073709551557UL, true)] // largest 64-bit prime
    [InlineData(1152921504606846976UL, false)] // 2^60
    public void Primality_is_exact_on_known_cases(ulong n, bool prime) => Assert.Equal(prime, Primality.IsPrime(n));

    [Fact]
    public void A_ring_refuses_a_composite_modulus() =>
        Assert.Contains("not prime", Assert.Throws<ArgumentException>(() => new RnsRing(16, [1152921504606830593UL * 0 + 1152921504606830595UL])).Message);

    [Fact]
    public void A_ring_refuses_a_prime_that_is_not_one_mod_2N()
    {
        // 2^61 − 1 is prime, but 2^61 − 2 is not divisible by 2N = 32; it is also over 60 bits.
        Assert.Throws<ArgumentOutOfRangeException>(() => new RnsRing(16, [(1UL << 61) - 1]));
        // 1152921504606846883 is the largest prime below 2^60; it is not 1 mod 32.
        Assert.True(Primality.IsPrime(1152921504606846883UL));
        var error = Assert.Throws<ArgumentException>(() => new RnsRing(16, [1152921504606846883UL]));
        Assert.Contains("1 mod 2N", error.Message);
    }
}
