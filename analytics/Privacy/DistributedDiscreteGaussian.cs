namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// The accountant for the distributed discrete Gaussian: each of n nodes adds its own N_Z(0, σ²)^d share to an integer
/// statistic and only the sum is decrypted. The sum of discrete Gaussians is not a discrete Gaussian, so the ρ = Δ²/(2nσ²) of
/// one N_Z(0, nσ²) (Canonne, Kamath &amp; Steinke 2020, Thm. 4) does not hold for it as such. Kairouz, Liu &amp; Steinke 2021
/// ("The Distributed Discrete Gaussian Mechanism for Federated Learning with Secure Aggregation", ICML, Prop. 14) bound it:
/// for σ ≥ ½, a shift Δ ∈ Z^d and all α ≥ 1,
/// D_α(Z‖Z+Δ) ≤ min{ α/2·‖Δ‖₂²/(nσ²) + τd, α/2·(‖Δ‖₂²/(nσ²) + 2‖Δ‖₁τ/(√n·σ) + τ²d), α/2·(‖Δ‖₂/(√n·σ) + τ√d)² }
/// with τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)). The first bound's constant τd is at most α·τd for α ≥ 1, so the sum is
/// ε²/2-zCDP with ε² the smallest of ‖Δ‖₂²/(nσ²) + 2τd, ‖Δ‖₂²/(nσ²) + 2‖Δ‖₁τ/(√n·σ) + τ²d and (‖Δ‖₂/(√n·σ) + τ√d)².
/// Every quantity here is in the integer domain the noise is drawn in: σ² is one node's integer variance (σ_real²·s² at
/// fixed-point scale s) and Δ the integer-domain sensitivity.
/// </summary>
public static class DistributedDiscreteGaussian
{
    /// <summary>Prop. 14 needs every share's σ ≥ ½; below it the accountant gives no guarantee (ρ = ∞).</summary>
    public const double MinimumShareSigma = 0.5;

    /// <summary>
    /// The integer σ of one share from which the correction is negligible whatever the study: each term of τ is at most
    /// exp(−π²σ²) (k/(k+1) ≥ ½), so the first bound exceeds the main term Δ²/(2nσ²) by τd ≤ 10n·d·exp(−π²σ²), a relative
    /// excess of at most 20n²dσ²·exp(−π²σ²)/Δ². That decreases for σ ≥ 1 and at σ = 4 is below 10^−50 for any n ≤ 10^4
    /// shares, d ≤ 10^6 values and integer Δ ≥ 1. Integer-valued blocks are encoded at the smallest power-of-two scale that
    /// lifts their share's σ to this (<see cref="IntegerScale"/>).
    /// </summary>
    public const double NegligibleShareSigma = 4;

    /// <summary>τ = 10·Σ_{k=1}^{n−1} exp(−2π²σ²·k/(k+1)) for n shares of integer variance σ² (KLS21 Prop. 14).</summary>
    public static double Tau(int shares, double shareVariance)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(shares);
        CheckVariance(shareVariance);
        double sum = 0;
        for (int k = 1; k < shares; k++)
        {
            sum += Math.Exp(-2 * Math.PI * Math.PI * shareVariance * k / (k + 1));
        }

        return 10 * sum;
    }

    /// <summary>
    /// The zCDP ρ = ε²/2 of the sum of <paramref name="shares"/> = n shares of integer variance σ² each, for a d-value statistic
    /// of integer-domain sensitivities ‖Δ‖₂ and ‖Δ‖₁ (KLS21 Prop. 14, the smallest of its three bounds); +∞ when σ &lt; ½.
    /// </summary>
    public static double Rho(int shares, double shareVariance, int dimension, double l2Sensitivity, double l1Sensitivity) =>
        Rho(shares, shareVariance, dimension, l2Sensitivity, l1Sensitivity, Tau(shares, shareVariance));

    /// <summary>
    /// The true ρ of one release when the node cannot know how many of the participants are honest: the worst case of
    /// <see cref="Rho(int, double, int, double, double)"/> over n = h … N honest shares (h = the study's minimum of honest nodes,
    /// N = the most participants a sum can have). More honest shares mean more noise but a larger τ, so neither end need be
    /// the worst. τ grows by one term per share, so the sweep costs one exponential per n.
    /// </summary>
    public static double WorstRho(int minHonestShares, int maxShares, double shareVariance, int dimension, double l2Sensitivity, double l1Sensitivity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(minHonestShares);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxShares, minHonestShares);
        double tau = Tau(minHonestShares, shareVariance);
        double worst = 0;
        for (int n = minHonestShares; n <= maxShares; n++)
        {
            if (n > minHonestShares)
            {
                tau += 10 * Math.Exp(-2 * Math.PI * Math.PI * shareVariance * (n - 1) / n); // the k = n − 1 term
            }

            worst = Math.Max(worst, Rho(n, shareVariance, dimension, l2Sensitivity, l1Sensitivity, tau));
        }

        return worst;
    }

    /// <summary>
    /// The fixed-point scale of an integer-valued block (counts): the smallest power of two s ≥ 1 with σ·s ≥
    /// <see cref="NegligibleShareSigma"/> for one share's real-domain σ, so that the distributed correction is negligible and
    /// Prop. 14's σ ≥ ½ holds. Integers times a power of two are exact, so such a block still has no rounding term; its
    /// decoded sum is a real number (counts plus noise), which post-processing may round.
    /// </summary>
    public static double IntegerScale(double shareSigma)
    {
        if (!(shareSigma > 0) || !double.IsFinite(shareSigma))
        {
            throw new ArgumentOutOfRangeException(nameof(shareSigma), "a share's sigma must be positive and finite");
        }

        double scale = 1;
        while (shareSigma * scale < NegligibleShareSigma)
        {
            scale *= 2;
        }

        return scale;
    }

    private static double Rho(int shares, double shareVariance, int dimension, double l2, double l1, double tau)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(dimension);
        ArgumentOutOfRangeException.ThrowIfNegative(l2);
        ArgumentOutOfRangeException.ThrowIfNegative(l1);
        if (Math.Sqrt(shareVariance) < MinimumShareSigma)
        {
            return double.PositiveInfinity;
        }

        double total = shares * shareVariance; // nσ²
        double main = l2 * l2 / total;
        double first = main + (2 * tau * dimension);
        double second = main + (2 * l1 * tau / Math.Sqrt(total)) + (tau * tau * dimension);
        double third = Math.Pow((l2 / Math.Sqrt(total)) + (tau * Math.Sqrt(dimension)), 2);
        return Math.Min(first, Math.Min(second, third)) / 2;
    }

    private static void CheckVariance(double shareVariance)
    {
        if (!(shareVariance > 0) || !double.IsFinite(shareVariance))
        {
            throw new ArgumentOutOfRangeException(nameof(shareVariance), "a share's variance must be positive and finite");
        }
    }
}
