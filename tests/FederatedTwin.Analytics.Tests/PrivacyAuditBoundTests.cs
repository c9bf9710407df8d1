using FederatedTwin.Analytics.Privacy.Auditing;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// The confidence-bound math of the privacy audit against known values. The references were computed independently at 50
/// significant digits (Python mpmath: binomial tails summed term by term, Clopper–Pearson by root finding on the tail, the
/// one-run p-value as Steinke, Nasr &amp; Jagielski 2023 define it) and printed next to each assertion.
/// </summary>
public sealed class PrivacyAuditBoundTests
{
    [Fact]
    public void Clopper_Pearson_lower_bound_of_5_successes_in_10_at_97_5_percent_is_the_tabulated_0_1871()
    {
        // The exact two-sided 95% interval for 5/10 is [0.1871, 0.8129] in every table; its lower end is the one-sided bound at 97.5%.
        Assert.Equal(0.18708602844739853, ClopperPearson.Lower(5, 10, 0.025), 12);
        Assert.Equal(1 - 0.18708602844739853, ClopperPearson.Upper(5, 10, 0.025), 12);
    }

    [Fact]
    public void Clopper_Pearson_lower_bounds_match_the_exact_tail_inversion()
    {
        Assert.Equal(0.042169407885778588, ClopperPearson.Lower(3, 20, 0.05), 12);
        Assert.Equal(0.87414826930232136, ClopperPearson.Lower(95, 100, 0.01), 12);
    }

    [Fact]
    public void Clopper_Pearson_bounds_of_all_or_no_successes_are_closed_form()
    {
        // k = n: P[Binomial(n, p) ≥ n] = p^n = α, so p_L = α^(1/n); k = 0: the lower bound is 0 and the upper 1 − α^(1/n).
        Assert.Equal(Math.Pow(0.01, 1.0 / 200), ClopperPearson.Lower(200, 200, 0.01), 12);
        Assert.Equal(0, ClopperPearson.Lower(0, 200, 0.01));
        Assert.Equal(1 - Math.Pow(0.01, 1.0 / 200), ClopperPearson.Upper(0, 200, 0.01), 12);
    }

    [Fact]
    public void Without_delta_the_one_run_p_value_is_the_binomial_tail_of_randomized_response_accuracy()
    {
        double q = 1 / (1 + Math.Exp(-1.5));
        Assert.Equal(Math.Pow(q, 100), OneRunAudit.PValue(1000, 100, 100, 1.5, 0), 12);
        double tail = (45 * Math.Pow(q, 8) * Math.Pow(1 - q, 2)) + (10 * Math.Pow(q, 9) * (1 - q)) + Math.Pow(q, 10);
        Assert.Equal(tail, OneRunAudit.PValue(10, 10, 8, 1.5, 0), 12);
    }

    [Fact]
    public void With_delta_the_one_run_p_value_adds_2m_delta_alpha()
    {
        // m = 1000, r = 100, v = 90, ε = 1, δ = 1e-5: β = 2.7358128e-5, α = 0.040696522, p = β + 2mδα = 8.4128856e-4.
        Assert.Equal(8.412885614385307e-4, OneRunAudit.PValue(1000, 100, 90, 1, 1e-5), 15);
        // ε = 2: β = 0.34255405, α = 0.12163911.
        Assert.Equal(0.34498683679380387, OneRunAudit.PValue(1000, 100, 90, 2, 1e-5), 12);
        // m = 50, r = 20, v = 18, ε = 0.5, δ = 1e-3.
        Assert.Equal(0.017905269129166457, OneRunAudit.PValue(50, 20, 18, 0.5, 1e-3), 12);
    }

    [Fact]
    public void Without_delta_the_epsilon_bound_is_the_logit_of_the_Clopper_Pearson_accuracy_bound()
    {
        // The classic audit (Jagielski, Ullman & Oprea 2020; Nasr et al. 2021): accuracy ≥ p_L at 99%, so ε ≥ ln(p_L/(1 − p_L)).
        foreach (var (r, v) in new[] { (200, 170), (500, 500), (1000, 640), (60, 59) })
        {
            double pLow = ClopperPearson.Lower(v, r, 0.01);
            Assert.Equal(Math.Log(pLow / (1 - pLow)), OneRunAudit.EpsilonLowerBound(r, r, v, 0, 0.01), 6);
        }
    }

    [Fact]
    public void The_epsilon_bound_is_where_the_p_value_crosses_the_significance()
    {
        double eps = OneRunAudit.EpsilonLowerBound(4000, 1000, 1000, 1e-5, 0.0025);
        Assert.InRange(OneRunAudit.PValue(4000, 1000, 1000, eps, 1e-5), 0, 0.0025);
        Assert.True(OneRunAudit.PValue(4000, 1000, 1000, eps + 1e-6, 1e-5) > 0.0025);
        // The δ term only ever lowers the bound.
        Assert.True(eps <= OneRunAudit.EpsilonLowerBound(4000, 1000, 1000, 0, 0.0025));
    }

    [Fact]
    public void Guessing_no_better_than_a_coin_certifies_nothing()
    {
        Assert.Equal(0, OneRunAudit.EpsilonLowerBound(1000, 500, 250, 1e-5, 0.01));
        Assert.Equal(0, OneRunAudit.EpsilonLowerBound(1000, 0, 0, 1e-5, 0.01));
    }

    [Fact]
    public void Guesses_are_the_highest_scores_called_present_and_the_lowest_absent()
    {
        double[] scores = [0.1, 5, -3, 2, -1, 4];
        bool[] present = [false, true, false, false, true, true];

        // One per side: 5 (present) right, −3 (absent) right. Two per side: 5, 4 right; −3 right, −1 wrong.
        Assert.Equal(2, CanaryGuesses.Correct(scores, present, 1));
        Assert.Equal(3, CanaryGuesses.Correct(scores, present, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => CanaryGuesses.Correct(scores, present, 4));
    }

    [Fact]
    public void An_audit_reports_its_best_rung_bounded_at_the_Bonferroni_share_of_the_significance()
    {
        // Perfectly separated scores: every rung is all correct, so the largest rung (k = m/4 per side) gives the largest bound.
        const int m = 2000;
        var present = Enumerable.Range(0, m).Select(i => i % 2 == 0).ToArray();
        var scores = present.Select((p, i) => p ? 10.0 + i : -10.0 - i).ToArray();

        var bound = CanaryGuesses.Audit(scores, present, 1e-5, 0.99);

        Assert.Equal((m, 1000, 1000), (bound.Canaries, bound.Guesses, bound.Correct));
        double share = 0.01 / CanaryGuesses.DefaultLadder.Count;
        Assert.Equal(OneRunAudit.EpsilonLowerBound(m, 1000, 1000, 1e-5, share), bound.EpsilonLowerBound);
    }
}
