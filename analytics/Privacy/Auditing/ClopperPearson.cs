namespace FederatedTwin.Analytics.Privacy.Auditing;

/// <summary>
/// One-sided Clopper–Pearson bounds on a binomial proportion (Clopper &amp; Pearson 1934, Biometrika 26(4)): the exact
/// bounds obtained by inverting the binomial test, never below their nominal confidence whatever the true proportion.
/// </summary>
public static class ClopperPearson
{
    /// <summary>
    /// The lower bound p_L at confidence 1 − <paramref name="significance"/> after <paramref name="successes"/> = k successes
    /// in <paramref name="trials"/> = n: the p with P[Binomial(n, p) ≥ k] = significance (0 for k = 0), so P[p ≥ p_L] ≥ 1 − α.
    /// For k = n it is α^(1/n). Found by bisection on the exact tail, rounded down (conservative).
    /// </summary>
    public static double Lower(int successes, int trials, double significance)
    {
        Check(successes, trials, significance);
        if (successes == 0)
        {
            return 0;
        }

        double low = 0, high = 1;
        for (int i = 0; i < 200 && high - low > 1e-15; i++)
        {
            double mid = (low + high) / 2;
            var (logQ, logOneMinusQ) = BinomialTail.Logs(mid);
            if (BinomialTail.AtLeast(trials, successes, logQ, logOneMinusQ) <= significance)
            {
                low = mid;
            }
            else
            {
                high = mid;
            }
        }

        return low;
    }

    /// <summary>The upper bound: 1 − <see cref="Lower"/> of the failures.</summary>
    public static double Upper(int successes, int trials, double significance)
    {
        Check(successes, trials, significance);
        return 1 - Lower(trials - successes, trials, significance);
    }

    private static void Check(int successes, int trials, double significance)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(trials);
        if (successes < 0 || successes > trials)
        {
            throw new ArgumentOutOfRangeException(nameof(successes), "successes must be in 0..trials");
        }

        if (!(significance > 0 && significance < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(significance), "the significance must be in (0, 1)");
        }
    }
}
