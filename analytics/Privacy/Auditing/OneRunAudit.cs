namespace FederatedTwin.Analytics.Privacy.Auditing;

/// <summary>
/// The statistics of the one-run privacy audit (Steinke, Nasr &amp; Jagielski 2023, "Privacy Auditing with One (1) Training
/// Run", NeurIPS): m canaries, each included independently with probability ½; from the mechanism's output the auditor
/// guesses, for r of them, whether each was included, and v of the guesses are correct. If the mechanism is (ε, δ)-DP with
/// respect to each canary's inclusion, then whatever the guesser (it may look at the whole output and choose which r to
/// guess after seeing it),
/// <code>
/// P[v correct or more] ≤ β + 2mδ·α,   β = P[Binomial(r, q) ≥ v],   α = max_{1≤i≤v} P[v − i ≤ Binomial(r, q) &lt; v]/i,
/// </code>
/// with q = e^ε/(1 + e^ε), the accuracy of ε-DP randomized response (their main theorem for ε-DP, extended to (ε, δ) in
/// their §5; the p-value of the authors' published audit code). The audit rejects "the mechanism is (ε, δ)-DP" when that
/// p-value is at most the significance level, and <see cref="EpsilonLowerBound"/> is the largest ε it rejects: a lower
/// bound on the mechanism's ε at confidence 1 − significance.
/// With δ = 0 the p-value is the binomial tail alone and the bound is logit(p_L), p_L the Clopper–Pearson lower bound on the
/// accuracy of the guesses (<see cref="ClopperPearson.Lower"/>): the classic audit's ε ≥ ln(p_L/(1 − p_L)).
/// </summary>
public static class OneRunAudit
{
    /// <summary>The p-value of v correct guesses out of r among m canaries under the hypothesis "(ε, δ)-DP" (see the type).</summary>
    public static double PValue(int canaries, int guesses, int correct, double epsilon, double delta)
    {
        Check(canaries, guesses, correct, delta);
        if (!(epsilon >= 0) || double.IsNaN(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), "epsilon must be non-negative");
        }

        var (logQ, logOneMinusQ) = BinomialTail.RandomizedResponseLogs(epsilon);
        double beta = BinomialTail.AtLeast(guesses, correct, logQ, logOneMinusQ);
        if (delta == 0)
        {
            return beta;
        }

        // α = max over i of P[v − i ≤ Binomial(r, q) < v]/i: the partial sums of pmf(v − 1), pmf(v − 2), …
        double alpha = 0, partial = 0;
        for (int i = 1; i <= correct; i++)
        {
            partial += Math.Exp(BinomialTail.LogPmf(guesses, correct - i, logQ, logOneMinusQ));
            alpha = Math.Max(alpha, partial / i);
        }

        return Math.Min(1, beta + (2 * canaries * delta * alpha));
    }

    /// <summary>
    /// The largest ε at which the p-value of (m, r, v) is at most <paramref name="significance"/>: the mechanism is not
    /// (ε', δ)-DP for any ε' below it, at confidence 1 − significance. 0 when even ε = 0 is not rejected. The p-value grows
    /// with ε, so bisection finds it; the result is rounded down.
    /// </summary>
    public static double EpsilonLowerBound(int canaries, int guesses, int correct, double delta, double significance)
    {
        Check(canaries, guesses, correct, delta);
        if (!(significance > 0 && significance < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(significance), "the significance must be in (0, 1)");
        }

        if (guesses == 0 || PValue(canaries, guesses, correct, 0, delta) > significance)
        {
            return 0;
        }

        double low = 0, high = 1;
        while (PValue(canaries, guesses, correct, high, delta) <= significance)
        {
            low = high;
            high *= 2;
            if (high > 1e3)
            {
                // q = 1 to double precision: the tail no longer moves. Not reachable with fewer than ~10^300 guesses.
                return low;
            }
        }

        for (int i = 0; i < 60 && high - low > 1e-9; i++)
        {
            double mid = (low + high) / 2;
            if (PValue(canaries, guesses, correct, mid, delta) <= significance)
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

    private static void Check(int canaries, int guesses, int correct, double delta)
    {
        if (correct < 0 || guesses < correct || canaries < guesses)
        {
            throw new ArgumentOutOfRangeException(nameof(correct), "need 0 ≤ correct ≤ guesses ≤ canaries");
        }

        if (!(delta >= 0 && delta <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(delta), "delta must be in [0, 1]");
        }
    }
}
