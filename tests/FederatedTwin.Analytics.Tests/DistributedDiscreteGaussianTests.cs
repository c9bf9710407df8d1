using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// The accountant for sums of discrete Gaussian shares (Kairouz, Liu &amp; Steinke 2021, Prop. 14), checked against the
/// proposition's formulas written out here independently, and the scale that makes its correction negligible.
/// </summary>
public class DistributedDiscreteGaussianTests
{
    /// <summary>KLS21 Prop. 14 transcribed: ρ = ε²/2, ε² the least of the three bounds, τ = 10·Σ_{k=1}^{n−1} e^{−2π²σ²k/(k+1)}.</summary>
    private static double PaperRho(int n, double sigmaSquared, int d, double l2, double l1)
    {
        double tau = 0;
        for (int k = 1; k <= n - 1; k++)
        {
            tau += 10 * Math.Exp(-2 * Math.PI * Math.PI * sigmaSquared * k / (k + 1));
        }

        double sigma = Math.Sqrt(sigmaSquared), rootN = Math.Sqrt(n);
        double a = (l2 * l2 / (n * sigmaSquared)) + (2 * tau * d);
        double b = (l2 * l2 / (n * sigmaSquared)) + (2 * l1 * tau / (rootN * sigma)) + (tau * tau * d);
        double c = Math.Pow((l2 / (rootN * sigma)) + (tau * Math.Sqrt(d)), 2);
        return Math.Min(a, Math.Min(b, c)) / 2;
    }

    [Fact]
    public void A_stated_rho_of_1_over_784_counts_at_scale_1_is_really_1_63_over_10_shares_over_1000_over_20_and_unbounded_from_25()
    {
        // The composition's vector: d = 784 counts, ‖Δ‖₁ = ‖Δ‖₂² = 12; ρ = 1 at scale 1 means a total variance nσ² = 12/(2·1) = 6.
        Assert.Equal(1.6327, DistributedDiscreteGaussian.Rho(10, 0.6, 784, Math.Sqrt(12), 12), 4);
        Assert.InRange(DistributedDiscreteGaussian.Rho(20, 0.3, 784, Math.Sqrt(12), 12), 1000, 1021);
        // From n = 25 a share's σ² = 6/25 = 0.24 is below ¼: the proposition does not apply, no guarantee at all.
        Assert.True(double.IsPositiveInfinity(DistributedDiscreteGaussian.Rho(25, 6.0 / 25, 784, Math.Sqrt(12), 12)));
        Assert.True(double.IsFinite(DistributedDiscreteGaussian.Rho(24, 6.0 / 24, 784, Math.Sqrt(12), 12)));
    }

    [Theory]
    [InlineData(1, 0.25, 1, 1.0, 1.0)]         // one share, σ = ½: τ = 0, exactly the single discrete Gaussian's Δ²/(2σ²)
    [InlineData(3, 4.0, 80, 1.0, 1.0)]         // a large σ: τ ≈ 0, the first bound ≈ Δ²/(2nσ²)
    [InlineData(10, 0.6, 784, 3.4641016151377544, 12.0)] // the paper's example: the second bound is the least
    [InlineData(5, 0.3, 2, 10.0, 14.142135623730951)]   // d = 2, a large Δ: the first bound is the least
    [InlineData(50, 0.26, 1000, 1.0, 1.0)]     // many shares near σ = ½: τ ≈ 5, no guarantee worth the name (ρ ≈ 5,000)
    [InlineData(7, 1.5, 20, 4.0, 16.0)]
    [InlineData(100, 0.9, 10_000, 2.0, 2.0)]
    public void Rho_is_the_least_of_the_propositions_three_bounds(int n, double sigmaSquared, int d, double l2, double l1)
    {
        var expected = PaperRho(n, sigmaSquared, d, l2, l1);
        Assert.Equal(expected, DistributedDiscreteGaussian.Rho(n, sigmaSquared, d, l2, l1), expected * 1e-12);
        Assert.True(expected >= l2 * l2 / (2 * n * sigmaSquared) - 1e-15, "never less than the single Gaussian's ρ");
    }

    [Fact]
    public void The_first_bound_decides_for_few_values_the_second_for_many_and_the_third_is_the_second_at_the_cauchy_schwarz_l1()
    {
        // Which bound is least depends on τ, d and Δ: a transcription that dropped one of the first two would fail here. The
        // third is the second with ‖Δ‖₁ at its largest, √d·‖Δ‖₂: the accountant uses it for blocks whose ‖Δ‖₁ is not known.
        static double[] Bounds(int n, double s2, int d, double l2, double l1)
        {
            double tau = DistributedDiscreteGaussian.Tau(n, s2), m = l2 * l2 / (n * s2);
            return [m + (2 * tau * d), m + (2 * l1 * tau / Math.Sqrt(n * s2)) + (tau * tau * d), Math.Pow(Math.Sqrt(m) + (tau * Math.Sqrt(d)), 2)];
        }

        var few = Bounds(5, 0.3, 2, 10, Math.Sqrt(2) * 10);
        Assert.True(few[0] < few[1] && few[0] < few[2]);
        Assert.Equal(few[0] / 2, DistributedDiscreteGaussian.Rho(5, 0.3, 2, 10, Math.Sqrt(2) * 10), 12);
        var many = Bounds(10, 0.6, 784, Math.Sqrt(12), 12);
        Assert.True(many[1] < many[0] && many[1] < many[2]);
        Assert.Equal(many[1] / 2, DistributedDiscreteGaussian.Rho(10, 0.6, 784, Math.Sqrt(12), 12), 12);
        var unknownL1 = Bounds(10, 0.6, 784, Math.Sqrt(12), Math.Sqrt(784 * 12.0));
        Assert.Equal(unknownL1[2], unknownL1[1], 9);
        Assert.Equal(unknownL1[2] / 2, DistributedDiscreteGaussian.Rho(10, 0.6, 784, Math.Sqrt(12), Math.Sqrt(784 * 12.0)), 9);
    }

    [Fact]
    public void Tau_is_ten_times_the_sum_of_the_propositions_terms_and_zero_for_one_share()
    {
        Assert.Equal(0, DistributedDiscreteGaussian.Tau(1, 0.3));
        Assert.Equal(10 * Math.Exp(-Math.PI * Math.PI * 0.3), DistributedDiscreteGaussian.Tau(2, 0.3), 15);
        Assert.Equal(0.0344094, DistributedDiscreteGaussian.Tau(10, 0.6), 6);
    }

    [Fact]
    public void The_true_rho_is_the_worst_case_over_h_to_n_honest_shares()
    {
        // More honest shares: more noise (the main term falls) but a larger τ. At σ² = 0.3 per share τ wins, so the worst case
        // is the most shares; at σ² = 16 the main term wins and the worst case is h shares, the stated Δ²/(2hσ²).
        for (int h = 1; h <= 4; h++)
        {
            foreach (var s2 in new[] { 0.3, 0.6, 16.0 })
            {
                var brute = Enumerable.Range(h, 12 - h + 1).Max(n => PaperRho(n, s2, 784, Math.Sqrt(12), 12));
                Assert.Equal(brute, DistributedDiscreteGaussian.WorstRho(h, 12, s2, 784, Math.Sqrt(12), 12), 10);
            }
        }

        Assert.Equal(PaperRho(12, 0.3, 784, Math.Sqrt(12), 12), DistributedDiscreteGaussian.WorstRho(2, 12, 0.3, 784, Math.Sqrt(12), 12), 10);
        Assert.Equal(12 / (2 * 2 * 16.0), DistributedDiscreteGaussian.WorstRho(2, 12, 16, 784, Math.Sqrt(12), 12), 12);
    }

    [Theory]
    [InlineData(0.1, 64)]
    [InlineData(2.449, 2)]
    [InlineData(3.99, 2)]
    [InlineData(4, 1)]
    [InlineData(1000, 1)]
    public void An_integer_block_is_scaled_by_the_smallest_power_of_two_that_lifts_a_shares_sigma_to_4(double shareSigma, double scale)
    {
        Assert.Equal(scale, DistributedDiscreteGaussian.IntegerScale(shareSigma));
        Assert.True(shareSigma * scale >= DistributedDiscreteGaussian.NegligibleShareSigma);
        Assert.True(scale == 1 || shareSigma * scale / 2 < DistributedDiscreteGaussian.NegligibleShareSigma);
    }

    [Fact]
    public void The_stated_rho_holds_within_one_percent_or_not_at_all()
    {
        Assert.True(new PrivacyAccount(1, 1.0099, 2, 3).Holds);
        Assert.False(new PrivacyAccount(1, 1.0101, 2, 3).Holds);
        Assert.False(new PrivacyAccount(1, double.PositiveInfinity, 2, 3).Holds);
        Assert.Contains("unbounded", new PrivacyAccount(1, double.PositiveInfinity, 2, 3).Describe(), StringComparison.Ordinal);
        Assert.Contains("true rho 1.63", new PrivacyAccount(1, 1.6327, 10, 10).Describe(), StringComparison.Ordinal);
    }
}
