using MathNet.Numerics;

namespace FederatedTwin.Analytics.Privacy.Auditing;

/// <summary>
/// Binomial probabilities summed in log space, so tails of 10⁻³⁰⁰ and success probabilities within 10⁻¹⁶ of 1 (an audit
/// near its largest ε) keep their relative precision. The success probability is passed as its two logarithms,
/// log q and log(1 − q), because for q = e^ε/(1 + e^ε) both are exact from ε without forming 1 − q.
/// </summary>
internal static class BinomialTail
{
    /// <summary>log P[Binomial(n, q) = k].</summary>
    public static double LogPmf(int n, int k, double logQ, double logOneMinusQ)
    {
        if (k < 0 || k > n)
        {
            return double.NegativeInfinity;
        }

        // 0·log 0 = 0: the mass sits entirely on k = n (q = 1) or k = 0 (q = 0).
        double successes = k == 0 ? 0 : k * logQ;
        double failures = k == n ? 0 : (n - k) * logOneMinusQ;
        return SpecialFunctions.BinomialLn(n, k) + successes + failures;
    }

    /// <summary>P[Binomial(n, q) ≥ k] (1 for k ≤ 0, 0 for k &gt; n).</summary>
    public static double AtLeast(int n, int k, double logQ, double logOneMinusQ)
    {
        if (k <= 0)
        {
            return 1;
        }

        if (k > n)
        {
            return 0;
        }

        // Σ_{j=k}^{n} pmf(j) by log-sum-exp about the largest term.
        double max = double.NegativeInfinity;
        for (int j = k; j <= n; j++)
        {
            max = Math.Max(max, LogPmf(n, j, logQ, logOneMinusQ));
        }

        if (double.IsNegativeInfinity(max))
        {
            return 0;
        }

        double sum = 0;
        for (int j = k; j <= n; j++)
        {
            sum += Math.Exp(LogPmf(n, j, logQ, logOneMinusQ) - max);
        }

        return Math.Min(1, Math.Exp(max + Math.Log(sum)));
    }

    /// <summary>log q and log(1 − q) for a plain probability q ∈ [0, 1].</summary>
    public static (double LogQ, double LogOneMinusQ) Logs(double q) => (Math.Log(q), Math.Log(1 - q));

    /// <summary>
    /// log q and log(1 − q) for q = e^ε/(1 + e^ε), the accuracy of ε-DP randomized response:
    /// log q = −log(1 + e^−ε), log(1 − q) = −ε − log(1 + e^−ε), both exact for large ε.
    /// </summary>
    public static (double LogQ, double LogOneMinusQ) RandomizedResponseLogs(double epsilon)
    {
        double log1pExp = LogOnePlus(Math.Exp(-epsilon));
        return (-log1pExp, -epsilon - log1pExp);
    }

    /// <summary>log(1 + x) accurate for tiny x (Goldberg 1991, "What every computer scientist should know about floating-point arithmetic", Thm. 4).</summary>
    private static double LogOnePlus(double x)
    {
        double u = 1 + x;
        return u == 1 ? x : Math.Log(u) * x / (u - 1);
    }
}
