using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>
/// The site policy's privacy rules (<see cref="SitePolicy"/>): what a study declares it spends, the yearly budgets per purpose, the
/// lifetime budget, and how a charge is checked against them in the ledger's unit (<see cref="PrivacyUnit"/>).
/// </summary>
public sealed partial class SitePolicy
{
    /// <summary>The rule that refuses a charge the lifetime budget cannot take, at a study's decision and at a re-run's fresh draw.</summary>
    public const string LifetimeBudgetRule = "lifetime_budget";

    /// <summary>Slack for the floating-point ρ arithmetic (ρ/rounds summed back, k²ρ): far below any meaningful spend.</summary>
    private const double BudgetTolerance = 1e-9;

    /// <summary>Whether a charge fits a budget with what is already spent (all in the ledger's unit).</summary>
    public static bool WithinBudget(double spent, double charge, double budget) => spent + charge <= budget * (1 + BudgetTolerance);

    /// <summary>The zCDP ρ a study declares it spends at each node (parameters.dp_rho); 0 when it adds no noise; null when malformed (refused).</summary>
    public static double? StudyRho(StudySpec study)
    {
        try
        {
            return StudyPrivacy.Rho(study.Parameters);
        }
        catch (StudyFileException)
        {
            return null;
        }
    }

    /// <summary>
    /// The algorithms whose node side clips and noises what it sends when a study declares dp_rho (the GLM, the composition,
    /// FedAvg as DP-FedSGD, the observed outcome totals); any other algorithm with a dp_rho is refused by rule dp_supported rather than charged.
    /// </summary>
    public static IReadOnlyList<string> DpAlgorithms { get; } = ["federated-composition", "federated-fedavg", "federated-glm", "federated-outcomes"];

    /// <summary>
    /// The lifetime budget, after the purpose's yearly one: every charge of every purpose and year must fit it (docs/privacy.md, "The
    /// lifetime budget"). Deny by default: a policy without lifetime_privacy_budget lets the node spend nothing.
    /// </summary>
    private PolicyDecision LifetimeRule(double? declared, double charge, double rho, double spentLifetime) =>
        declared is null ? new(false, LifetimeBudgetRule, "the study's parameters.dp_rho is not a positive zCDP rho")
        : rho == 0 ? new(true, LifetimeBudgetRule, "the study spends no privacy budget")
        : LifetimeBudget is not { } lifetime ? new(false, LifetimeBudgetRule, $"the study would spend {PrivacyUnit.ChargeText(rho)}; this site sets no lifetime_privacy_budget, so it may spend none")
        : WithinBudget(spentLifetime, charge, lifetime.Rho)
        ? new(true, LifetimeBudgetRule, FormattableString.Invariant($"{PrivacyUnit.ChargeText(rho)} fits: {spentLifetime:G4} of the lifetime {lifetime.Rho:G4} (all purposes and years) is spent"))
        : new(false, LifetimeBudgetRule, FormattableString.Invariant($"the study would spend {PrivacyUnit.ChargeText(rho)}; {spentLifetime:G4} of this node's lifetime {lifetime.Rho:G4} (epsilon {lifetime.Epsilon:G3} at delta {lifetime.Delta:G2}, all purposes and years) is spent"));
}
