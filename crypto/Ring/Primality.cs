namespace FederatedTwin.Crypto.Ring;

/// <summary>
/// Deterministic Miller–Rabin for 64-bit integers. The base set {2, 325, 9375, 28178, 450775,
/// 9780504, 1795265022} has no strong pseudoprime below 2^64 (Jim Sinclair, 2011; verified by
/// Feitsma and Galway's base-2 pseudoprime tables), so the answer is a proof, not a probability.
/// </summary>
public static class Primality
{
    private static readonly ulong[] Bases = [2, 325, 9375, 28178, 450775, 9780504, 1795265022];

    public static bool IsPrime(ulong n)
    {
        if (n < 2)
        {
            return false;
        }

        foreach (var small in new ulong[] { 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37 })
        {
            if (n % small == 0)
            {
                return n == small;
            }
        }

        var d = n - 1;
        var r = 0;
        while ((d & 1) == 0)
        {
            d >>= 1;
            r++;
        }

        foreach (var baseValue in Bases)
        {
            var a = baseValue % n;
            if (a == 0)
            {
                continue;
            }

            var x = PowMod(a, d, n);
            if (x == 1 || x == n - 1)
            {
                continue;
            }

            var composite = true;
            for (var i = 1; i < r; i++)
            {
                x = MulMod(x, x, n);
                if (x == n - 1)
                {
                    composite = false;
                    break;
                }
            }

            if (composite)
            {
                return false;
            }
        }

        return true;
    }

    private static ulong MulMod(ulong a, ulong b, ulong m) => (ulong)((UInt128)a * b % m);

    private static ulong PowMod(ulong b, ulong e, ulong m)
    {
        ulong result = 1;
        b %= m;
        while (e > 0)
        {
            if ((e & 1) != 0)
            {
                result = MulMod(result, b, m);
            }

            b = MulMod(b, b, m);
            e >>= 1;
        }

        return result;
    }
}
