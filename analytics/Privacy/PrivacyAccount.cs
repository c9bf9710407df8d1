using System.Globalization;

namespace FederatedTwin.Analytics.Privacy;

/// <summary>
/// What a study states it spends at each node (parameters.dp_rho) against what its releases really spend as distributed
/// discrete Gaussians (<see cref="DistributedDiscreteGaussian"/>, worst case over <see cref="MinHonestShares"/> …
/// <see cref="MaxShares"/> honest shares), composed over its planned rounds (Bun &amp; Steinke 2016, Lemma 1.7). A study whose
/// true ρ exceeds the stated one by more than <see cref="Tolerance"/> is refused, by the coordinator at creation and by each
/// node at its decision: the ledger charges the stated ρ only when it is the true one to within that tolerance.
/// </summary>
public sealed record PrivacyAccount(double Stated, double True, int MinHonestShares, int MaxShares)
{
    /// <summary>How far the true ρ may exceed the stated one: 1%.</summary>
    public const double Tolerance = 0.01;

    /// <summary>Whether the stated ρ is the true one to within <see cref="Tolerance"/> (never when the true ρ is infinite).</summary>
    public bool Holds => True <= Stated * (1 + Tolerance);

    /// <summary>The figures, for a refusal or a decision's reason.</summary>
    public string Describe() => string.Create(
        CultureInfo.InvariantCulture,
        $"stated zCDP rho {Stated:G6}, true rho {(double.IsPositiveInfinity(True) ? "unbounded (a share's sigma is below 1/2)" : True.ToString("G6", CultureInfo.InvariantCulture))} as a distributed discrete Gaussian (Kairouz, Liu & Steinke 2021, Prop. 14; worst case over {MinHonestShares} to {MaxShares} honest shares)");

    /// <summary>Sequential composition of two accounts of the same study (ρ adds, stated and true alike).</summary>
    public static PrivacyAccount operator +(PrivacyAccount a, PrivacyAccount b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return new PrivacyAccount(a.Stated + b.Stated, a.True + b.True, Math.Min(a.MinHonestShares, b.MinHonestShares), Math.Max(a.MaxShares, b.MaxShares));
    }
}
