using FederatedTwin.Crypto.Ring;

namespace FederatedTwin.Crypto.Threshold;

/// <summary>
/// Shamir secret sharing over R_Q, residue by residue: the t-of-n access structure of Mouchet, Bertrand and Hubaux,
/// "An Efficient Threshold Access-Structure for RLWE-Based Multiparty Homomorphic Encryption" (J. Cryptology 2023), §4,
/// built on Shamir (1979). Every operation acts on polynomials in NTT form: the NTT is linear and the evaluation points are
/// scalars, so f(α) and Σ λ_j·s'_j are the same in either form, and the secrets are used in NTT form anyway.
/// <list type="bullet">
/// <item>A dealer with secret s_i draws f_i(X) = s_i + a_1·X + … + a_{t−1}·X^{t−1}, each a_k uniform in R_Q, and gives
/// party j the share f_i(α_j), α_j a public non-zero integer distinct for each party.</item>
/// <item>Party j's threshold secret is s'_j = Σ_i f_i(α_j) = F(α_j) with F = Σ_i f_i, whose constant term is s = Σ_i s_i.</item>
/// <item>For a set T of at least t parties, Σ_{j∈T} λ_j(T)·s'_j = F(0) = s, with λ_j(T) = Π_{m∈T, m≠j} α_m/(α_m − α_j)
/// (Lagrange at 0), computed modulo each prime q_i: every q_i exceeds every α, so the α are distinct and non-zero mod q_i
/// and every difference is invertible.</item>
/// </list>
/// Any t − 1 shares of f_i are uniform and independent of s_i (the a_k are uniform), which is the whole point.
/// </summary>
public static class ShamirSharing
{
    /// <summary>
    /// f(α) for each point, with f(X) = constant + Σ_k coefficients[k−1]·X^k (Horner, per residue); all in NTT form.
    /// </summary>
    public static RnsPoly[] Evaluate(RnsRing ring, RnsPoly constant, IReadOnlyList<RnsPoly> coefficients, IReadOnlyList<int> points)
    {
        CheckPoints(ring, points);
        var output = new RnsPoly[points.Count];
        for (var p = 0; p < points.Count; p++)
        {
            var share = ring.NewPoly();
            for (var i = 0; i < ring.Levels; i++)
            {
                var m = ring.Moduli[i];
                var alpha = (ulong)points[p];
                var o = share.Level(i);
                if (coefficients.Count == 0)
                {
                    constant.ReadLevel(i).CopyTo(o);
                    continue;
                }

                coefficients[^1].ReadLevel(i).CopyTo(o);
                for (var k = coefficients.Count - 2; k >= -1; k--)
                {
                    var next = k >= 0 ? coefficients[k].ReadLevel(i) : constant.ReadLevel(i);
                    for (var j = 0; j < o.Length; j++)
                    {
                        o[j] = m.Add(m.Mul(o[j], alpha), next[j]);
                    }
                }
            }

            output[p] = share;
        }

        return output;
    }

    /// <summary>λ_j(T) modulo each prime: the Lagrange coefficient at 0 of <paramref name="point"/> among <paramref name="set"/> (which holds it).</summary>
    public static ulong[] LagrangeAtZero(RnsRing ring, int point, IReadOnlyList<int> set)
    {
        CheckPoints(ring, set);
        if (!set.Contains(point))
        {
            throw new ArgumentException($"The point {point} is not in the decrypting set.", nameof(point));
        }

        var lambda = new ulong[ring.Levels];
        for (var i = 0; i < ring.Levels; i++)
        {
            var m = ring.Moduli[i];
            ulong numerator = 1, denominator = 1;
            foreach (var other in set)
            {
                if (other == point)
                {
                    continue;
                }

                numerator = m.Mul(numerator, (ulong)other);
                denominator = m.Mul(denominator, m.Sub((ulong)other, (ulong)point));
            }

            lambda[i] = m.Mul(numerator, m.Inverse(denominator));
        }

        return lambda;
    }

    /// <summary>out = scalar·a, one scalar per prime.</summary>
    public static void MulScalar(RnsRing ring, RnsPoly a, ReadOnlySpan<ulong> scalar, RnsPoly output)
    {
        for (var i = 0; i < ring.Levels; i++)
        {
            var m = ring.Moduli[i];
            var w = scalar[i];
            var wShoup = m.ShoupCompanion(w);
            var x = a.ReadLevel(i);
            var o = output.Level(i);
            for (var j = 0; j < x.Length; j++)
            {
                o[j] = m.MulShoup(x[j], w, wShoup);
            }
        }
    }

    /// <summary>
    /// Evaluation points are 1 to <c>int.MaxValue</c>, distinct, and below every prime (so distinct and non-zero modulo each):
    /// a point 0 would hand its holder f(0) = the secret itself.
    /// </summary>
    public static void CheckPoints(RnsRing ring, IReadOnlyList<int> points)
    {
        if (points.Count == 0)
        {
            throw new ArgumentException("At least one evaluation point is needed.", nameof(points));
        }

        var smallest = ring.Moduli.Min(m => m.Value);
        foreach (var p in points)
        {
            if (p < 1 || (ulong)p >= smallest)
            {
                throw new ArgumentOutOfRangeException(nameof(points), p, "An evaluation point is a non-zero integer below every prime of the ring.");
            }
        }

        if (points.Distinct().Count() != points.Count)
        {
            throw new ArgumentException("Evaluation points must be distinct.", nameof(points));
        }
    }
}
