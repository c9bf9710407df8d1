namespace FederatedTwin.Node.Policy;

/// <summary>A trusted coordinator: its Ed25519 public key is pinned here, never learned from the network.</summary>
public sealed record TrustedCoordinator(string Name, string PublicKey);

/// <summary>Whether the node joins a study, and the rule that decided.</summary>
public sealed record PolicyDecision(bool Accept, string Rule, string Reason);

/// <summary>
/// The hospital's site policy (policy.yaml; examples, field list and schema in policies/). Deny by default: a study
/// is joined only if every rule passes (purpose of use, algorithm, minimum of nodes, differential privacy and the colluders it
/// must survive, outcome, minimum cell size, the purpose's yearly privacy budget, the node's lifetime privacy budget). It also
/// states the privacy unit (max_sites_per_person: per person, or per hospital record; <see cref="PrivacyUnit"/>), and sets the consent default per purpose, the sensitive categories each
/// purpose may use (built-in and the site's own code lists) and retention. The file is validated against the
/// embedded JSON Schema (<see cref="SitePolicySchema"/>) before it is read.
/// </summary>
public sealed partial class SitePolicy
{
    public const string DefaultYaml = SitePolicyTemplate.Yaml;

    /// <summary>The categories of node/Data/sensitive-codes.csv a policy can name.</summary>
    public static IReadOnlySet<string> SensitiveCategories { get; } = new HashSet<string>(Deidentification.CodeList.Sensitive.Categories, StringComparer.Ordinal);

    private static readonly IReadOnlySet<string> ResearchPurposes = new HashSet<string>(StringComparer.Ordinal) { "HRESCH", "CLINTRCH" };

    internal SitePolicy(int version, IReadOnlyList<TrustedCoordinator> trusted, IReadOnlySet<string> purposes, IReadOnlySet<string> algorithms, int minimumNodes, IReadOnlyDictionary<string, bool> optIn, bool dpMayBeOff, IReadOnlyDictionary<string, double> budgets,
        IReadOnlyDictionary<string, IReadOnlySet<string>> sensitiveAllowed, IReadOnlySet<string>? outcomes, int minimumCellSize, int retentionYears, int dpColludingNodes)
    {
        DpColludingNodes = dpColludingNodes;
        SensitiveAllowed = sensitiveAllowed;
        OutcomesAllowed = outcomes;
        MinimumCellSize = minimumCellSize;
        RetentionYears = retentionYears;
        DpMayBeOff = dpMayBeOff;
        PrivacyBudgets = budgets;
        ConsentOptIn = optIn;
        Version = version;
        TrustedCoordinators = trusted;
        PurposesAllowed = purposes;
        AlgorithmsAllowed = algorithms;
        MinimumNodes = minimumNodes;
    }

    public int Version { get; }

    public IReadOnlyList<TrustedCoordinator> TrustedCoordinators { get; }

    public IReadOnlySet<string> PurposesAllowed { get; }

    public IReadOnlySet<string> AlgorithmsAllowed { get; }

    public int MinimumNodes { get; }

    /// <summary>
    /// The smallest t of t-of-n decryption this site joins (min_committee_threshold): the coordinator together with t colluding key
    /// holders can decrypt any participant's update (docs/threat-model.md). Null: the site joins only n-of-n studies.
    /// </summary>
    public int? MinCommitteeThreshold { get; internal init; }

    /// <summary>Per purpose, the sensitive categories (sensitive-codes.csv: sud, hiv, psychotherapy, reproductive, restricted) whose records a study may use; none unless listed.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> SensitiveAllowed { get; }

    /// <summary>The outcome columns a model study may predict; null = any.</summary>
    public IReadOnlySet<string>? OutcomesAllowed { get; }

    /// <summary>The smallest count a study may publish (composition studies must not go below it).</summary>
    public int MinimumCellSize { get; }

    /// <summary>Years audit and quarantine records are kept (45 CFR 164.316(b)(2): six years for HIPAA documentation).</summary>
    public int RetentionYears { get; }

    /// <summary>The site's custom sensitive categories (sensitive_codes) and their (system, code) lists.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(string System, string Code)>> CustomSensitiveCodes { get; internal init; } = new Dictionary<string, IReadOnlyList<(string System, string Code)>>();

    /// <summary>Every sensitive code the ingest flags: the built-in lists, then this site's custom ones.</summary>
    public Deidentification.CodeList SensitiveCodes { get; internal init; } = Deidentification.CodeList.Sensitive;

    /// <summary>Identifies the custom lists (null when there are none): the ingest records it with each resource it flags.</summary>
    public string? SensitiveCodesFingerprint { get; internal init; }

    /// <summary>The sensitive categories a study with this purpose may use.</summary>
    public IReadOnlySet<string> SensitiveAllowedFor(string purpose) => SensitiveAllowed.TryGetValue(purpose, out var c) ? c : new HashSet<string>();

    /// <summary>Whether the node may join a study that adds no differential-privacy noise (exact aggregates).</summary>
    public bool DpMayBeOff { get; }

    /// <summary>
    /// How many of a study's other participants this site assumes may collude with the coordinator (dp_colluding_nodes,
    /// default 1). Colluders know their own noise shares and can subtract them, so a DP study is joined only if its
    /// dp_min_honest_nodes h ≤ min_nodes − this: then the honest shares of any min_nodes participants still reach the target.
    /// </summary>
    public int DpColludingNodes { get; }

    /// Whether an exact counting study (federated-sum, a composition without dp_rho) may send counts under <see cref="MinimumCellSize"/>.
    /// Off (the default), the node sends exact counts only when each of its own is at least the minimum, so that every count of the
    /// decrypted sum is too (counts are non-negative): no small count reaches even the coordinator. On, the coordinator sees the exact
    /// small counts and only its suppression keeps them from analysts (RoundParticipant, rule exact_small_counts).
    /// </summary>
    public bool ExactSmallCounts { get; internal init; }

    /// <summary>
    /// Purposes for which pseudonyms may be mapped back to the hospital's own patient ids on its host (reidentification_purposes):
    /// TREAT and HOPERAT only (the schema's enum; a covered entity's own use for treatment and operations, 45 CFR 164.506(c)),
    /// none when absent.
    /// </summary>
    public IReadOnlySet<string> ReidentificationPurposes { get; internal init; } = new HashSet<string>();

    /// <summary>Whether a re-identification for <paramref name="purpose"/> is allowed, and the rule that decided.</summary>
    public PolicyDecision Reidentification(string purpose) => ReidentificationPurposes.Contains(purpose)
        ? new(true, "reidentification_purposes", $"{purpose} is listed in reidentification_purposes")
        : new(false, "reidentification_purpose_refused", ReidentificationPurposes.Count == 0
            ? $"re-identification for {purpose} is refused: the site policy lists no reidentification_purposes (deny by default)"
            : $"re-identification for {purpose} is refused: the site policy allows it only for {string.Join(", ", ReidentificationPurposes.Order(StringComparer.Ordinal))} (research purposes never)");

    /// <summary>zCDP ρ the node may spend per purpose of use and calendar year, in the ledger's unit; a purpose not listed has none.</summary>
    public IReadOnlyDictionary<string, double> PrivacyBudgets { get; }

    /// <summary>Whom the budgets and the ledger protect: per person (max_sites_per_person set) or per hospital record.</summary>
    public PrivacyUnit PrivacyUnit { get; internal init; }

    /// <summary>zCDP ρ the node may spend over its life, all purposes and years (lifetime_privacy_budget); null: none, so nothing may be spent.</summary>
    public LifetimePrivacyBudget? LifetimeBudget { get; internal init; }

    /// <summary>Per purpose, true when the site's consent default is opt-in (as configured; see <see cref="IsOptIn"/>).</summary>
    public IReadOnlyDictionary<string, bool> ConsentOptIn { get; }

    /// <summary>
    /// Whether a patient with no Consent deciding the purpose is left out (opt-in) or counted (opt-out).
    /// Unlisted purposes: research is opt-in (the Common Rule and most IRBs expect consent or a waiver,
    /// 45 CFR 46.116), treatment, payment, operations and public health opt-out (HIPAA permits them
    /// without authorization, 45 CFR 164.506, 164.512(b)).
    /// </summary>
    public bool IsOptIn(string purpose) => ConsentOptIn.TryGetValue(purpose, out var optIn) ? optIn : ResearchPurposes.Contains(purpose);

    public static SitePolicy Load(string path) => SitePolicyParser.Load(path);

    /// <summary>Validates and reads a policy's text (<see cref="SitePolicyParser"/>).</summary>
    /// <param name="yaml">The policy file's text.</param>
    /// <param name="source">The file's name or path, for messages.</param>
    /// <param name="baseDirectory">Where custom code list files are resolved (the policy file's directory); null: none may be named.</param>
    public static SitePolicy Parse(string yaml, string source = "policy.yaml", string? baseDirectory = null) => SitePolicyParser.Parse(yaml, source, baseDirectory);
}
