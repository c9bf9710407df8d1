using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Privacy;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace FederatedTwin.Node.Policy;

/// <summary>A site policy that cannot be used: names the field (and the line, for YAML errors).</summary>
public sealed class SitePolicyException(string message) : Exception(message)
{
    public SitePolicyException()
        : this("Invalid site policy.")
    {
    }

    public SitePolicyException(string message, Exception innerException)
        : this(message + " " + innerException.Message)
    {
    }
}

/// <summary>A trusted coordinator: its Ed25519 public key is pinned here, never learned from the network.</summary>
public sealed record TrustedCoordinator(string Name, string PublicKey);

/// <summary>Whether the node joins a study, and the rule that decided.</summary>
public sealed record PolicyDecision(bool Accept, string Rule, string Reason);

/// <summary>
/// The hospital's site policy (policy.yaml; examples and schema in policies/). Deny by default:
/// a study is joined only if its purpose of use and algorithm are listed and it requires at least
/// as many nodes as the site demands. It also sets the consent default (opt-in or opt-out) per
/// purpose. Later issues add sensitivity, budgets and retention.
/// </summary>
public sealed class SitePolicy
{
    public const string DefaultYaml = """
        # FederatedTwin site policy. Deny by default: this node joins no study until a compliance
        # officer lists what it may take part in. See policies/ for documented examples.
        version: 1
        trusted_coordinators: []       # - name: aco-coordinator
                                       #   public_key: <base64 Ed25519 key from `ftwin coordinator key`>
        purposes_allowed: []           # HL7 v3 PurposeOfUse codes, e.g. HOPERAT, HRESCH
        algorithms_allowed: []         # e.g. federated-sum
        minimum_nodes: 3               # never join a study that could run with fewer hospitals
        consent_default:               # for patients with no Consent that decides a purpose
          HRESCH: opt-in               # research: only patients who permitted it
          HOPERAT: opt-out             # health care operations: everyone who did not refuse
        dp_may_be_off: false           # refuse studies that add no differential-privacy noise
        privacy_budgets: {}            # zCDP rho per purpose and calendar year, e.g. HOPERAT: 1.0
        sensitive_allowed: {}          # sensitive categories a purpose may use, e.g. HRESCH: [hiv]; none by default
        minimum_cell_size: 11          # no study may publish a count under this
        retention_years: 6             # keep audit and quarantine records this long (45 CFR 164.316(b)(2))
        """;

    /// <summary>Research purposes default to opt-in, the HIPAA-permitted purposes (TPO, public health) to opt-out, unless the policy says otherwise.</summary>
    /// <summary>The categories of node/Data/sensitive-codes.csv a policy can name.</summary>
    public static IReadOnlySet<string> SensitiveCategories { get; } = new HashSet<string>(Deidentification.CodeList.Sensitive.Categories, StringComparer.Ordinal);

    private static readonly IReadOnlySet<string> ResearchPurposes = new HashSet<string>(StringComparer.Ordinal) { "HRESCH", "CLINTRCH" };

    private SitePolicy(int version, IReadOnlyList<TrustedCoordinator> trusted, IReadOnlySet<string> purposes, IReadOnlySet<string> algorithms, int minimumNodes, IReadOnlyDictionary<string, bool> optIn, bool dpMayBeOff, IReadOnlyDictionary<string, double> budgets,
        IReadOnlyDictionary<string, IReadOnlySet<string>> sensitiveAllowed, IReadOnlySet<string>? outcomes, int minimumCellSize, int retentionYears)
    {
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

    /// <summary>Per purpose, the sensitive categories (sensitive-codes.csv: sud, hiv, psychotherapy, reproductive, restricted) whose records a study may use; none unless listed.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> SensitiveAllowed { get; }

    /// <summary>The outcome columns a model study may predict; null = any.</summary>
    public IReadOnlySet<string>? OutcomesAllowed { get; }

    /// <summary>The smallest count a study may publish (composition studies must not go below it).</summary>
    public int MinimumCellSize { get; }

    /// <summary>Years audit and quarantine records are kept (45 CFR 164.316(b)(2): six years for HIPAA documentation).</summary>
    public int RetentionYears { get; }

    /// <summary>The sensitive categories a study with this purpose may use.</summary>
    public IReadOnlySet<string> SensitiveAllowedFor(string purpose) => SensitiveAllowed.TryGetValue(purpose, out var c) ? c : new HashSet<string>();

    /// <summary>Whether the node may join a study that adds no differential-privacy noise (exact aggregates).</summary>
    public bool DpMayBeOff { get; }

    /// <summary>zCDP ρ the node may spend per purpose of use and calendar year; a purpose not listed has none.</summary>
    public IReadOnlyDictionary<string, double> PrivacyBudgets { get; }

    /// <summary>Per purpose, true when the site's consent default is opt-in (as configured; see <see cref="IsOptIn"/>).</summary>
    public IReadOnlyDictionary<string, bool> ConsentOptIn { get; }

    /// <summary>
    /// Whether a patient with no Consent deciding the purpose is left out (opt-in) or counted (opt-out).
    /// Unlisted purposes: research is opt-in (the Common Rule and most IRBs expect consent or a waiver,
    /// 45 CFR 46.116), treatment, payment, operations and public health opt-out (HIPAA permits them
    /// without authorization, 45 CFR 164.506, 164.512(b)).
    /// </summary>
    public bool IsOptIn(string purpose) => ConsentOptIn.TryGetValue(purpose, out var optIn) ? optIn : ResearchPurposes.Contains(purpose);

    public static SitePolicy Load(string path) => Parse(File.ReadAllText(path), path);

    public static SitePolicy Parse(string yaml, string source = "policy.yaml")
    {
        Document? d;
        try
        {
            d = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build().Deserialize<Document>(yaml);
        }
        catch (YamlException e)
        {
            throw new SitePolicyException($"{source}, line {e.Start.Line}: {(e.InnerException ?? e).Message}");
        }

        if (d is null)
        {
            throw new SitePolicyException($"{source}: the policy is empty.");
        }

        if (d.Version != 1)
        {
            throw new SitePolicyException($"{source}: version: must be 1 (got {d.Version?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing"}).");
        }

        var trusted = new List<TrustedCoordinator>();
        foreach (var (t, i) in (d.TrustedCoordinators ?? []).Select((t, i) => (t, i)))
        {
            if (string.IsNullOrWhiteSpace(t.Name))
            {
                throw new SitePolicyException($"{source}: trusted_coordinators[{i}].name: required.");
            }

            if (t.PublicKey is null || !Convert.TryFromBase64String(t.PublicKey, new byte[32], out var n) || n != 32)
            {
                throw new SitePolicyException($"{source}: trusted_coordinators[{i}].public_key: must be a base64 Ed25519 public key (32 bytes).");
            }

            trusted.Add(new TrustedCoordinator(t.Name, t.PublicKey));
        }

        foreach (var p in d.PurposesAllowed ?? [])
        {
            if (!PurposeOfUse.Known.Contains(p))
            {
                throw new SitePolicyException($"{source}: purposes_allowed: '{p}' is not an HL7 v3 PurposeOfUse code.");
            }
        }

        if (d.MinimumNodes is null or < 2)
        {
            throw new SitePolicyException($"{source}: minimum_nodes: required, at least 2.");
        }

        var optIn = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var (purpose, mode) in d.ConsentDefault ?? [])
        {
            if (!PurposeOfUse.Known.Contains(purpose))
            {
                throw new SitePolicyException($"{source}: consent_default: '{purpose}' is not an HL7 v3 PurposeOfUse code.");
            }

            optIn[purpose] = mode switch
            {
                "opt-in" => true,
                "opt-out" => false,
                _ => throw new SitePolicyException($"{source}: consent_default.{purpose}: must be opt-in or opt-out."),
            };
        }

        var budgets = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var (purpose, rho) in d.PrivacyBudgets ?? [])
        {
            if (!PurposeOfUse.Known.Contains(purpose))
            {
                throw new SitePolicyException($"{source}: privacy_budgets: '{purpose}' is not an HL7 v3 PurposeOfUse code.");
            }

            budgets[purpose] = rho is >= 0 and < double.PositiveInfinity ? rho : throw new SitePolicyException($"{source}: privacy_budgets.{purpose}: must be a non-negative zCDP rho.");
        }

        var sensitive = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        foreach (var (purpose, categories) in d.SensitiveAllowed ?? [])
        {
            if (!PurposeOfUse.Known.Contains(purpose))
            {
                throw new SitePolicyException($"{source}: sensitive_allowed: '{purpose}' is not an HL7 v3 PurposeOfUse code.");
            }

            var unknown = (categories ?? []).Where(c => !SensitiveCategories.Contains(c)).ToList();
            if (unknown.Count > 0)
            {
                throw new SitePolicyException($"{source}: sensitive_allowed.{purpose}: unknown categor{(unknown.Count == 1 ? "y" : "ies")} {string.Join(", ", unknown)} (known: {string.Join(", ", SensitiveCategories.Order(StringComparer.Ordinal))}).");
            }

            sensitive[purpose] = (categories ?? []).ToHashSet(StringComparer.Ordinal);
        }

        if (d.MinimumCellSize is < 1)
        {
            throw new SitePolicyException($"{source}: minimum_cell_size: must be at least 1 (default 11).");
        }

        if (d.RetentionYears is < 6)
        {
            throw new SitePolicyException($"{source}: retention_years: HIPAA documentation is kept at least six years (45 CFR 164.316(b)(2)).");
        }

        return new SitePolicy(1, trusted, (d.PurposesAllowed ?? []).ToHashSet(StringComparer.Ordinal), (d.AlgorithmsAllowed ?? []).ToHashSet(StringComparer.Ordinal), d.MinimumNodes.Value, optIn, d.DpMayBeOff ?? false, budgets,
            sensitive, d.OutcomesAllowed?.ToHashSet(StringComparer.Ordinal), d.MinimumCellSize ?? 11, d.RetentionYears ?? 6);
    }

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

    /// <summary>Rules in order; the first that refuses decides. The rule names appear in decisions and audits.</summary>
    public PolicyDecision Decide(StudySpec study) => Decide(study, 0);

    /// <summary>The same, given the ρ already spent this calendar year for the study's purpose (the node's privacy ledger).</summary>
    public PolicyDecision Decide(StudySpec study, double spentThisYear) =>
        Explain(study, spentThisYear).FirstOrDefault(r => !r.Accept)
        ?? new PolicyDecision(true, "all_rules_passed", $"purpose {study.PurposeOfUse}, algorithm {study.Algorithm} and minimum of {study.MinNodes} nodes are allowed"
            + (StudyRho(study) is > 0 and var rho ? FormattableString.Invariant($"; zCDP rho {rho:G4} fits this year's budget") : "; exact aggregates are allowed (dp_may_be_off)"));

    /// <summary>The minimum cell size a study publishing counts declares (composition: parameters.min_cell_size, default 11); null for studies that publish none.</summary>
    private static int? StudyCellSize(StudySpec study) => study.Algorithm == "federated-composition"
        ? int.TryParse(study.Parameters?.GetValueOrDefault("min_cell_size") ?? "11", System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : 0
        : null;

    /// <summary>Every rule in the order <see cref="Decide(StudySpec, double)"/> applies them, each with its own verdict: what `ftwin policy explain` prints.</summary>
    public IReadOnlyList<PolicyDecision> Explain(StudySpec study, double spentThisYear)
    {
        var declared = StudyRho(study);
        var rho = declared ?? 0;
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
            rho > 0 || DpMayBeOff
                ? new(true, "dp_may_be_off", rho > 0 ? FormattableString.Invariant($"the study adds differential-privacy noise (zCDP rho {rho:G4})") : "the study adds no noise, which this site allows")
                : new(false, "dp_may_be_off", "the study adds no differential-privacy noise (no parameters.dp_rho) and this site requires it"),
            rho == 0 || study.Algorithm != "federated-fedavg"
                ? new(true, "dp_supported", rho > 0 ? $"{study.Algorithm} adds the noise it declares" : "no noise is declared")
                : new(false, "dp_supported", "federated-fedavg declares a dp_rho but adds no noise (locally trained weights have no per-patient bound): refused rather than charged for a privacy it does not give"),
            OutcomesAllowed is null || study.Parameters?.GetValueOrDefault("outcome") is not { } outcome || OutcomesAllowed.Contains(outcome)
                ? new(true, "outcomes_allowed", OutcomesAllowed is null ? "this site allows any outcome" : "the study's outcome, if any, is allowed")
                : new(false, "outcomes_allowed", $"outcome {study.Parameters!["outcome"]} is not allowed by this site (allowed: {List(OutcomesAllowed)})"),
            StudyCellSize(study) is not { } cell || cell >= MinimumCellSize
                ? new(true, "minimum_cell_size", $"published counts respect this site's minimum cell size of {MinimumCellSize}")
                : new(false, "minimum_cell_size", $"the study would publish counts down to {cell}; this site's minimum cell size is {MinimumCellSize}"),
            declared is null
                ? new(false, "privacy_budgets", "the study's parameters.dp_rho is not a positive zCDP rho")
                : rho == 0 || spentThisYear + rho <= budget
                ? new(true, "privacy_budgets", rho == 0 ? "the study spends no privacy budget" : FormattableString.Invariant($"zCDP rho {rho:G4} fits: {spentThisYear:G4} of this year's {budget:G4} for {study.PurposeOfUse} is spent"))
                : new(false, "privacy_budgets", FormattableString.Invariant($"the study would spend zCDP rho {rho:G4} for {study.PurposeOfUse}; {spentThisYear:G4} of this year's {budget:G4} is spent")),
        ];
    }

    public bool Trusts(string publicKey) => TrustedCoordinators.Any(t => t.PublicKey == publicKey);

    private static string List(IEnumerable<string> values) => values.Any() ? string.Join(", ", values.Order(StringComparer.Ordinal)) : "none";

    private sealed class Document
    {
        public int? Version { get; set; }

        public List<CoordinatorEntry>? TrustedCoordinators { get; set; }

        public List<string>? PurposesAllowed { get; set; }

        public List<string>? AlgorithmsAllowed { get; set; }

        public int? MinimumNodes { get; set; }

        public Dictionary<string, string>? ConsentDefault { get; set; }

        public bool? DpMayBeOff { get; set; }

        public Dictionary<string, double>? PrivacyBudgets { get; set; }

        public Dictionary<string, List<string>?>? SensitiveAllowed { get; set; }

        public List<string>? OutcomesAllowed { get; set; }

        public int? MinimumCellSize { get; set; }

        public int? RetentionYears { get; set; }
    }

    private sealed class CoordinatorEntry
    {
        public string? Name { get; set; }

        public string? PublicKey { get; set; }
    }
}
