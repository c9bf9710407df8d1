using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>The site policy's rules (<see cref="SitePolicy"/>), applied in order; the first that refuses decides.</summary>
public sealed partial class SitePolicy
{
    /// <summary>Rules in order; the first that refuses decides. The rule names appear in decisions and audits.</summary>
    public PolicyDecision Decide(StudySpec study) => Decide(study, new SpentSoFar(0, 0));

    /// <summary>The same, given what the node's privacy ledger holds (in its unit): the study's purpose this calendar year, and every purpose over the node's life.</summary>
    public PolicyDecision Decide(StudySpec study, SpentSoFar spent) =>
        Explain(study, spent).FirstOrDefault(r => !r.Accept)
        ?? new PolicyDecision(true, "all_rules_passed", $"purpose {study.PurposeOfUse}, algorithm {study.Algorithm} and minimum of {study.MinNodes} nodes are allowed"
            + (StudyRho(study) is > 0 and var rho ? $"; {PrivacyUnit.ChargeText(rho)} fits this year's and the lifetime budget" : "; exact aggregates are allowed (dp_may_be_off)"));

    /// <summary>
    /// The algorithms whose results hold counts of patients, published with a minimum cell size (parameters.min_cell_size):
    /// census and composition tables, and the observed outcome totals (patient-years, people admitted, deaths per year).
    /// </summary>
    public static IReadOnlyList<string> CountingAlgorithms { get; } = ["federated-composition", "federated-sum", Analytics.Census.OutcomeTotalsStudy.AlgorithmName];

    /// <summary>The minimum cell size a study publishing counts declares (census, composition: parameters.min_cell_size, default 11); null for studies that publish none.</summary>
    private static int? StudyCellSize(StudySpec study)
    {
        if (!CountingAlgorithms.Contains(study.Algorithm))
        {
            return null;
        }

        try
        {
            return Analytics.Composition.CountTableRelease.StudyMinimumCellSize(study.Parameters);
        }
        catch (StudyFileException)
        {
            return 0; // unreadable: refused by the rule, never taken as the default
        }
    }

    /// <summary>
    /// Every rule in the order <see cref="Decide(StudySpec, SpentSoFar)"/> applies them, each with its own verdict: what `ftwin policy
    /// explain` prints. A study's ρ is per hospital record; both budgets are checked against its charge in the ledger's unit,
    /// k²ρ with k = max_sites_per_person (<see cref="PrivacyUnit"/>).
    /// </summary>
    public IReadOnlyList<PolicyDecision> Explain(StudySpec study, SpentSoFar spent)
    {
        ArgumentNullException.ThrowIfNull(spent);
        var declared = StudyRho(study);
        var rho = declared ?? 0;
        var charge = PrivacyUnit.Charge(rho);
        var budget = PrivacyBudgets.GetValueOrDefault(study.PurposeOfUse.Code);
        return
        [
            PurposesAllowed.Contains(study.PurposeOfUse.Code)
                ? new(true, "purposes_allowed", $"purpose of use {study.PurposeOfUse} is allowed")
                : new(false, "purposes_allowed", $"purpose of use {study.PurposeOfUse} is not allowed by this site (allowed: {List(PurposesAllowed)})"),
            AlgorithmsAllowed.Contains(study.Algorithm)
                ? new(true, "algorithms_allowed", $"algorithm {study.Algorithm} is allowed")
                : new(false, "algorithms_allowed", $"algorithm {study.Algorithm} is not allowed by this site (allowed: {List(AlgorithmsAllowed)})"),
            study.MinNodes >= MinimumNodes
                ? new(true, "minimum_nodes", $"the study needs at least {study.MinNodes} nodes; this site requires {MinimumNodes}")
                : new(false, "minimum_nodes", $"the study may run with {study.MinNodes} nodes; this site requires at least {MinimumNodes}"),
            CommitteeRule(study),
            rho > 0 || DpMayBeOff
                ? new(true, "dp_may_be_off", rho > 0 ? FormattableString.Invariant($"the study adds differential-privacy noise (zCDP rho {rho:G4})") : "the study adds no noise, which this site allows")
                : new(false, "dp_may_be_off", "the study adds no differential-privacy noise (no parameters.dp_rho) and this site requires it"),
            rho == 0 || DpAlgorithms.Contains(study.Algorithm)
                ? new(true, "dp_supported", rho > 0 ? $"{study.Algorithm} adds the noise it declares" : "no noise is declared")
                : new(false, "dp_supported", $"{study.Algorithm} declares a dp_rho but adds no noise: refused rather than charged for a privacy it does not give (DP algorithms: {string.Join(", ", DpAlgorithms)})"),
            ColludersRule(study, rho),
            OutcomesAllowed is null || study.Parameters?.GetValueOrDefault("outcome") is not { } outcome || OutcomesAllowed.Contains(outcome)
                ? new(true, "outcomes_allowed", OutcomesAllowed is null ? "this site allows any outcome" : "the study's outcome, if any, is allowed")
                : new(false, "outcomes_allowed", $"outcome {study.Parameters!["outcome"]} is not allowed by this site (allowed: {List(OutcomesAllowed)})"),
            StudyCellSize(study) is not { } cell || cell >= MinimumCellSize
                ? new(true, "minimum_cell_size", $"published counts respect this site's minimum cell size of {MinimumCellSize}")
                : new(false, "minimum_cell_size", $"the study would publish counts down to {cell}; this site's minimum cell size is {MinimumCellSize}"),
            declared is null
                ? new(false, "privacy_budgets", "the study's parameters.dp_rho is not a positive zCDP rho")
                : rho == 0 || WithinBudget(spent.PurposeThisYear, charge, budget)
                ? new(true, "privacy_budgets", rho == 0 ? "the study spends no privacy budget" : FormattableString.Invariant($"{PrivacyUnit.ChargeText(rho)} fits: {spent.PurposeThisYear:G4} of this year's {budget:G4} for {study.PurposeOfUse} is spent"))
                : new(false, "privacy_budgets", FormattableString.Invariant($"the study would spend {PrivacyUnit.ChargeText(rho)} for {study.PurposeOfUse}; {spent.PurposeThisYear:G4} of this year's {budget:G4} is spent")),
            LifetimeRule(declared, charge, rho, spent.Lifetime),
        ];
    }

    public bool Trusts(string publicKey) => TrustedCoordinators.Any(t => t.PublicKey == publicKey);

    /// <summary>
    /// Rule dp_colluding_nodes: a DP study's noise shares are sized for h = dp_min_honest_nodes honest nodes (σ²/h each), and this
    /// site assumes up to <see cref="DpColludingNodes"/> of the others collude; with min_nodes participants the honest ones number
    /// at least min_nodes − colluders, so the study is joined only if h ≤ min_nodes − colluders (else colluders who subtract their
    /// own shares leave less noise than the stated ρ assumes). A malformed h is refused by the same rule.
    /// </summary>
    private PolicyDecision ColludersRule(StudySpec study, double rho)
    {
        if (rho == 0)
        {
            return new(true, "dp_colluding_nodes", "no noise is declared");
        }

        int h;
        try
        {
            h = StudyPrivacy.MinHonestNodes(study);
        }
        catch (StudyFileException e)
        {
            return new(false, "dp_colluding_nodes", e.Message);
        }

        var honest = study.MinNodes - DpColludingNodes;
        return h <= honest
            ? new(true, "dp_colluding_nodes", $"the noise shares are sized for {h} honest node(s) (dp_min_honest_nodes); with {DpColludingNodes} colluding, at least {honest} of the study's {study.MinNodes} nodes are honest")
            : new(false, "dp_colluding_nodes", $"the noise shares are sized for {h} honest node(s) (dp_min_honest_nodes), but this site assumes {DpColludingNodes} of the study's {study.MinNodes} nodes may collude, leaving {Math.Max(honest, 0)} honest: colluders subtracting their own shares would leave less noise than the stated rho assumes");
    }

    /// <summary>Rule committee_threshold: a t-of-n study is joined only when the site states the smallest t it accepts and t is at least that.</summary>
    private PolicyDecision CommitteeRule(StudySpec study) => study.CommitteeThreshold switch
    {
        null => new(true, CommitteeThresholdRule, "every participant's share is needed to decrypt (n-of-n)"),
        { } t when MinCommitteeThreshold is null => new(false, CommitteeThresholdRule, $"the study decrypts with any {t} of its participants; this site's policy sets no min_committee_threshold, so it joins only studies every participant must decrypt"),
        { } t when t < MinCommitteeThreshold => new(false, CommitteeThresholdRule, $"the study decrypts with any {t} of its participants; this site requires at least {MinCommitteeThreshold} (min_committee_threshold)"),
        { } t => new(true, CommitteeThresholdRule, $"the study decrypts with any {t} of its participants; this site requires at least {MinCommitteeThreshold}"),
    };

    /// <summary>The rule name of <see cref="MinCommitteeThreshold"/>, in decisions, audits and the node's decrypt-set check.</summary>
    public const string CommitteeThresholdRule = "committee_threshold";

    private static string List(IEnumerable<string> values) => values.Any() ? string.Join(", ", values.Order(StringComparer.Ordinal)) : "none";
}
