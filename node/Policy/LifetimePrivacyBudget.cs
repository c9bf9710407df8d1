using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>
/// The site policy's <c>lifetime_privacy_budget</c>: the zCDP ρ the node may charge over its whole life, across every purpose
/// and year, in the ledger's unit (<see cref="PrivacyUnit"/>). The yearly budgets per purpose alone bound nothing over time:
/// the same patients stay in the store for the whole retention period and beyond, and zCDP losses add up for ever (Bun &amp;
/// Steinke 2016, Lemma 1.7), so only a bound on the sum of every charge is a bound on what a patient can lose
/// (docs/privacy.md, "The lifetime budget").
/// </summary>
/// <param name="Rho">The budget in ρ: as given, or the largest ρ within the (ε, δ) given (Canonne, Kamath &amp; Steinke 2020).</param>
/// <param name="Stated">The (ε, δ) the policy gave, when it gave the budget that way.</param>
public sealed record LifetimePrivacyBudget(double Rho, EpsilonDelta? Stated = null)
{
    /// <summary>The δ the budget is shown at: the policy's, or 10⁻⁶.</summary>
    public double Delta => Stated?.Delta ?? PrivacyLedgerReport.Delta;

    /// <summary>The budget's ε at <see cref="Delta"/>: the policy's, or converted from ρ.</summary>
    public double Epsilon => Stated?.Epsilon ?? ZcdpAccountant.EpsilonCanonneKamathSteinke(new ZcdpRho(Rho), Delta);
}
