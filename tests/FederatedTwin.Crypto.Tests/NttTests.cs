using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;
using FsCheck.Xunit;

namespace FederatedTwin.Crypto.Tests;

public class NttTests
{
    private static ulong[] Schoolbook(ReadOnlySpan<ulong> a, ReadOnlySpan<ulong> b, Modulus m)
    {
        // Negacyclic: X^N = −1, so terms that wrap past degree N − 1 are subtracted.
        var n = a.Length;
        var c = new ulong[n];
        for (var i = 0; i < n; i++)
        {
            for (var j = 0; j < n; j++)
            {
                var p = m.Mul(a[i], b[j]);
                var k = i + j;
                c[k % n] = k < n ? m.Add(c[k % n], p) : m.Sub(c[k % n], p);
            }
        }

        return c;
    }

    private static ulong[] RandomPoly(Random rng, int n, ulong q) => Enumerable.Range(0, n).Select(_ => (ulong)rng.NextInt64() % q).ToArray();

    private static ulong[] NttMultiply(NegacyclicNtt ntt, ulong[] a, ulong[] b)
    {
        var x = (ulong[])a.Clone();
        var y = (ulong[])b.Clone();
        ntt.Forward(x);
        ntt.Forward(y);
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = ntt.Modulus.Mul(x[i], y[i]);
        }

        ntt.Inverse(x);
        return x;
    }

    [Property(MaxTest = 60)]
    public bool NTT_multiplication_equals_schoolbook_negacyclic_multiplication_in_small_rings(int seed, byte logN, byte level)
    {
        var n = 1 << ((logN % 6) + 1); // 2 … 64
        var p = TestParameters.SmallRing(n);
        var ntt = p.Ring.Ntts[level % 3];
        var rng = new Random(seed);
        var a = RandomPoly(rng, n, ntt.Modulus.Value);
        var b = RandomPoly(rng, n, ntt.Modulus.Value);
        return NttMultiply(ntt, a, b).AsSpan().SequenceEqual(Schoolbook(a, b, ntt.Modulus));
    }

    [Fact]
    public void NTT_multiplication_equals_schoolbook_at_N_8192()
    {
        var ntt = RlweParameters.Default.Ring.Ntts[2];
        var rng = new Random(8192);
        var a = RandomPoly(rng, 8192, ntt.Modulus.Value);
        var b = RandomPoly(rng, 8192, ntt.Modulus.Value);
        Assert.Equal(Schoolbook(a, b, ntt.Modulus), NttMultiply(ntt, a, b));
    }

    [Fact]
    public void Multiplying_by_X_rotates_and_negates_the_wrapped_coefficient()
    {
        var ntt = RlweParameters.Default.Ring.Ntts[0];
        var q = ntt.Modulus.Value;
        var a = Enumerable.Range(1, 8192).Select(i => (ulong)i).ToArray();
        var x = new ulong[8192];
        x[1] = 1;
        var product = NttMultiply(ntt, a, x);
        Assert.Equal(q - 8192, product[0]);
        Assert.Equal(1UL, product[1]);
        Assert.Equal(8191UL, product[8191]);
    }

    [Property(MaxTest = 20)]
    public bool Inverse_NTT_undoes_forward_NTT_at_N_8192(int seed)
    {
        var ring = RlweParameters.Default.Ring;
        var rng = new Random(seed);
        var poly = ring.NewPoly();
        for (var i = 0; i < ring.Levels; i++)
        {
            RandomPoly(rng, ring.N, ring.Moduli[i].Value).CopyTo(poly.Level(i));
        }

        var original = poly.Clone();
        ring.Ntt(poly);
        var changed = !poly.ContentEquals(original);
        ring.InverseNtt(poly);
        return changed && poly.ContentEquals(original) && ring.IsReduced(poly);
    }

    [Fact]
    public void Extreme_residues_q_minus_one_survive_the_lazy_butterflies()
    {
        var ring = RlweParameters.Default.Ring;
        var poly = ring.NewPoly();
        for (var i = 0; i < ring.Levels; i++)
        {
            poly.Level(i).Fill(ring.Moduli[i].Value - 1);
        }

        var original = poly.Clone();
        ring.Ntt(poly);
        Assert.True(ring.IsReduced(poly));
        ring.InverseNtt(poly);
        Assert.True(poly.ContentEquals(original));
    }

    [Fact]
    public void The_root_of_unity_is_primitive_of_order_2N()
    {
        foreach (var ntt in RlweParameters.Default.Ring.Ntts)
        {
            Assert.Equal(ntt.Modulus.Value - 1, ntt.Modulus.Pow(ntt.Psi, 8192));
            Assert.Equal(1UL, ntt.Modulus.Pow(ntt.Psi, 16384));
        }
    }
}
