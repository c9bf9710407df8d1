using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Privacy;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace FederatedTwin.Node.Policy;

/// <summary>A site policy that cannot be used: names the field (and the line, for YAML and schema errors).</summary>
public sealed class SitePolicyException : Exception
{
    public SitePolicyException()
        : this("Invalid site policy.")
    {
    }

    public SitePolicyException(string message)
        : this(message, [])
    {
    }

    public SitePolicyException(string message, IReadOnlyList<PolicySchemaError> errors)
        : base(message)
    {
        Errors = errors;
    }

    public SitePolicyException(string message, Exception innerException)
        : base(message + " " + innerException.Message, innerException)
    {
        Errors = [];
    }

    /// <summary>Every violation of the schema (empty for errors the schema cannot express, such as an unknown sensitive category).</summary>
    public IReadOnlyList<PolicySchemaError> Errors { get; }
}

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
        dp_colluding_nodes: 1          # hospitals assumed to collude with the coordinator: a DP study's noise must survive them
        exact_small_counts: false      # exact counts only when each one this node sends is at least minimum_cell_size
        privacy_budgets: {}            # zCDP rho per purpose and calendar year, e.g. HOPERAT: 1.0
        lifetime_privacy_budget: 0     # zCDP rho over the node's whole life, all purposes and years, e.g. 4.0
        # max_sites_per_person: 3      # the most hospitals of the federation a person is treated at: budgets become per person
        sensitive_allowed: {}          # sensitive categories a purpose may use, e.g. HRESCH: [hiv]; none by default
        minimum_cell_size: 11          # no study may publish a count under this
        retention_years: 6             # keep audit and quarantine records this long (45 CFR 164.316(b)(2))
        """;

    /// <summary>The categories of node/Data/sensitive-codes.csv a policy can name.</summary>
    public static IReadOnlySet<string> SensitiveCategories { get; } = new HashSet<string>(Deidentification.CodeList.Sensitive.Categories, StringComparer.Ordinal);

    private static readonly IReadOnlySet<string> ResearchPurposes = new HashSet<string>(StringComparer.Ordinal) { "HRESCH", "CLINTRCH" };

    private SitePolicy(int version, IReadOnlyList<TrustedCoordinator> trusted, IReadOnlySet<string> purposes, IReadOnlySet<string> algorithms, int minimumNodes, IReadOnlyDictionary<string, bool> optIn, bool dpMayBeOff, IReadOnlyDictionary<string, double> budgets,
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

    /// <summary>Per purpose, the sensitive categories (sensitive-codes.csv: sud, hiv, psychotherapy, reproductive, restricted) whose records a study may use; none unless listed.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>> SensitiveAllowed { get; }

    /// <summary>The outcome columns a model study may predict; null = any.</summary>
    public IReadOnlySet<string>? OutcomesAllowed { get; }

    /// <summary>The smallest count a study may publish (composition studies must not go below it).</summary>
    public int MinimumCellSize { get; }

    /// <summary>Years audit and quarantine records are kept (45 CFR 164.316(b)(2): six years for HIPAA documentation).</summary>
    public int RetentionYears { get; }

    /// <summary>The site's custom sensitive categories (sensitive_codes) and their (system, code) lists.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<(string System, string Code)>> CustomSensitiveCodes { get; private init; } = new Dictionary<string, IReadOnlyList<(string System, string Code)>>();

    /// <summary>Every sensitive code the ingest flags: the built-in lists, then this site's custom ones.</summary>
    public Deidentification.CodeList SensitiveCodes { get; private init; } = Deidentification.CodeList.Sensitive;

    /// <summary>Identifies the custom lists (null when there are none): the ingest records it with each resource it flags.</summary>
    public string? SensitiveCodesFingerprint { get; private init; }

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
    public bool ExactSmallCounts { get; private init; }

    /// <summary>zCDP ρ the node may spend per purpose of use and calendar year, in the ledger's unit; a purpose not listed has none.</summary>
    public IReadOnlyDictionary<string, double> PrivacyBudgets { get; }

    /// <summary>Whom the budgets and the ledger protect: per person (max_sites_per_person set) or per hospital record.</summary>
    public PrivacyUnit PrivacyUnit { get; private init; }

    /// <summary>zCDP ρ the node may spend over its life, all purposes and years (lifetime_privacy_budget); null: none, so nothing may be spent.</summary>
    public LifetimePrivacyBudget? LifetimeBudget { get; private init; }

    /// <summary>Per purpose, true when the site's consent default is opt-in (as configured; see <see cref="IsOptIn"/>).</summary>
    public IReadOnlyDictionary<string, bool> ConsentOptIn { get; }

    /// <summary>
    /// Whether a patient with no Consent deciding the purpose is left out (opt-in) or counted (opt-out).
    /// Unlisted purposes: research is opt-in (the Common Rule and most IRBs expect consent or a waiver,
    /// 45 CFR 46.116), treatment, payment, operations and public health opt-out (HIPAA permits them
    /// without authorization, 45 CFR 164.506, 164.512(b)).
    /// </summary>
    public bool IsOptIn(string purpose) => ConsentOptIn.TryGetValue(purpose, out var optIn) ? optIn : ResearchPurposes.Contains(purpose);

    public static SitePolicy Load(string path) => Parse(File.ReadAllText(path), path, Path.GetDirectoryName(Path.GetFullPath(path)));

    /// <summary>
    /// Validates the YAML against the embedded JSON Schema (policies/schema/site-policy.schema.json; errors name
    /// the line and field), then reads it. What the schema cannot express is checked here: that a category in
    /// sensitive_allowed exists, and that a custom code list's file is there with the SHA-256 the policy pins.
    /// </summary>
    /// <param name="yaml">The policy file's text.</param>
    /// <param name="source">The file's name or path, for messages.</param>
    /// <param name="baseDirectory">Where custom code list files are resolved (the policy file's directory); null: none may be named.</param>
    public static SitePolicy Parse(string yaml, string source = "policy.yaml", string? baseDirectory = null)
    {
        var json = SitePolicySchema.Enforce(yaml, source);
        Document d;
        try
        {
            d = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build().Deserialize<Document>(yaml)
                ?? throw new SitePolicyException($"{source}: the policy is empty.");
        }
        catch (YamlException e)
        {
            throw new SitePolicyException($"{source}, line {e.Start.Line}: {(e.InnerException ?? e).Message}");
        }

        var custom = CustomCodeLists(d.SensitiveCodes ?? [], source, baseDirectory);
        var known = SensitiveCategories.Concat(custom.Keys).ToHashSet(StringComparer.Ordinal);
        var sensitive = new Dictionary<string, IReadOnlySet<string>>(StringComparer.Ordinal);
        foreach (var (purpose, categories) in d.SensitiveAllowed ?? [])
        {
            var unknown = (categories ?? []).Where(c => !known.Contains(c)).ToList();
            if (unknown.Count > 0)
            {
                throw new SitePolicyException($"{source}, line {LineOf(yaml, source, "/sensitive_allowed/" + purpose)}: sensitive_allowed.{purpose}: unknown categor{(unknown.Count == 1 ? "y" : "ies")} {string.Join(", ", unknown)} (known: {string.Join(", ", known.Order(StringComparer.Ordinal))}; a custom one is defined in sensitive_codes).");
            }

            sensitive[purpose] = (categories ?? []).ToHashSet(StringComparer.Ordinal);
        }

        // The schema has checked every value (codes, ranges, key format); these are now plain reads.
        return new SitePolicy(1, [.. (d.TrustedCoordinators ?? []).Select(t => new TrustedCoordinator(t.Name!, t.PublicKey!))], (d.PurposesAllowed ?? []).ToHashSet(StringComparer.Ordinal),
            (d.AlgorithmsAllowed ?? []).ToHashSet(StringComparer.Ordinal), d.MinimumNodes!.Value, (d.ConsentDefault ?? []).ToDictionary(c => c.Key, c => c.Value == "opt-in", StringComparer.Ordinal),
            d.DpMayBeOff ?? false, Budgets(json["privacy_budgets"] as System.Text.Json.Nodes.JsonObject), sensitive, d.OutcomesAllowed?.ToHashSet(StringComparer.Ordinal), d.MinimumCellSize ?? 11, d.RetentionYears ?? 6, d.DpColludingNodes ?? 1)
        {
            PrivacyUnit = new PrivacyUnit(d.MaxSitesPerPerson),
            LifetimeBudget = Lifetime(json["lifetime_privacy_budget"]),
            ExactSmallCounts = d.ExactSmallCounts ?? false,
            CustomSensitiveCodes = custom,
            SensitiveCodes = custom.Count == 0 ? Deidentification.CodeList.Sensitive : Deidentification.CodeList.Sensitive.With(custom.SelectMany(c => c.Value.Select(x => (c.Key, x.System, x.Code)))),
            SensitiveCodesFingerprint = custom.Count == 0 ? null : Fingerprint(custom),
        };
    }

    /// <summary>A JSON number the schema has checked (an integer or a float in the YAML).</summary>
    private static double Number(System.Text.Json.Nodes.JsonNode? node) =>
        double.Parse(node!.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    private static int LineOf(string yaml, string source, string pointer) => SitePolicySchema.ToJson(yaml, source).Lines.GetValueOrDefault(pointer, 1);

    /// <summary>Each custom category's (system, code) list: its inline codes and the rows of its CSV file, whose SHA-256 must be the one the policy pins.</summary>
    private static Dictionary<string, IReadOnlyList<(string System, string Code)>> CustomCodeLists(Dictionary<string, CustomCategory> categories, string source, string? baseDirectory)
    {
        var result = new Dictionary<string, IReadOnlyList<(string System, string Code)>>(StringComparer.Ordinal);
        foreach (var (name, category) in categories.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var codes = (category.Codes ?? []).Select(c => (c.System!, c.Code!)).ToList();
            if (category.File is { } file)
            {
                if (baseDirectory is null)
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: a code list file can only be read from a policy file on disk.");
                }

                var root = Path.GetFullPath(baseDirectory);
                var path = Path.GetFullPath(Path.Combine(root, file));
                if (!path.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: must be inside the policy's directory ({root}).");
                }

                if (!File.Exists(path))
                {
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.file: {path} does not exist.");
                }

                var bytes = File.ReadAllBytes(path);
                var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
                if (sha256 != category.Sha256)
                {
                    // The signed policy pins the list's content: a list edited after approval is not used (45 CFR 164.316(a), documented policies).
                    throw new SitePolicyException($"{source}: sensitive_codes.{name}.sha256: {file} has SHA-256 {sha256}, not the {category.Sha256} the policy pins; review the change and update the policy.");
                }

                codes.AddRange(ReadCodeFile(bytes, file));
            }

            result[name] = codes.Distinct().ToList();
        }

        return result;
    }

    /// <summary>A code list file: a header "system,code", then one (system, code) per line; # comments and blank lines are skipped.</summary>
    private static IEnumerable<(string System, string Code)> ReadCodeFile(byte[] bytes, string file)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), detectEncodingFromByteOrderMarks: true);
        var lineNo = 0;
        var header = false;
        var rows = new List<(string, string)>();
        while (reader.ReadLine() is { } raw)
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var parts = line.Split(',');
            if (!header)
            {
                header = parts is ["system", "code"] ? true : throw new SitePolicyException($"{file}, line {lineNo}: the header must be system,code.");
                continue;
            }

            if (parts.Length != 2 || parts.Any(p => p.Trim().Length == 0))
            {
                throw new SitePolicyException($"{file}, line {lineNo}: expected system,code.");
            }

            rows.Add((parts[0].Trim(), parts[1].Trim()));
        }

        return rows.Count > 0 ? rows : throw new SitePolicyException($"{file}: lists no codes.");
    }

    /// <summary>SHA-256 over the sorted (category, system, code) triples: which custom lists flagged the data at ingest.</summary>
    private static string Fingerprint(IReadOnlyDictionary<string, IReadOnlyList<(string System, string Code)>> custom) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join('\n',
            custom.SelectMany(c => c.Value.Select(x => $"{c.Key}\t{x.System}\t{x.Code}")).Order(StringComparer.Ordinal)))));

    /// <summary>Rules in order; the first that refuses decides. The rule names appear in decisions and audits.</summary>
    public PolicyDecision Decide(StudySpec study) => Decide(study, new SpentSoFar(0, 0));

    /// <summary>The same, given what the node's privacy ledger holds (in its unit): the study's purpose this calendar year, and every purpose over the node's life.</summary>
    public PolicyDecision Decide(StudySpec study, SpentSoFar spent) =>
        Explain(study, spent).FirstOrDefault(r => !r.Accept)
        ?? new PolicyDecision(true, "all_rules_passed", $"purpose {study.PurposeOfUse}, algorithm {study.Algorithm} and minimum of {study.MinNodes} nodes are allowed"
            + (StudyRho(study) is > 0 and var rho ? $"; {PrivacyUnit.ChargeText(rho)} fits this year's and the lifetime budget" : "; exact aggregates are allowed (dp_may_be_off)"));

    /// <summary>The algorithms whose results are tables of counts of patients, published with a minimum cell size (parameters.min_cell_size).</summary>
    public static IReadOnlyList<string> CountingAlgorithms { get; } = ["federated-composition", "federated-sum"];

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

        public int? DpColludingNodes { get; set; }
        public bool? ExactSmallCounts { get; set; }

        /// <summary>Read from the validated JSON instead (a number or an object per purpose): see <see cref="Budgets"/>.</summary>
        public Dictionary<string, object>? PrivacyBudgets { get; set; }

        public int? MaxSitesPerPerson { get; set; }

        /// <summary>Read from the validated JSON instead (a number or an object): see <see cref="Lifetime"/>.</summary>
        public object? LifetimePrivacyBudget { get; set; }

        public Dictionary<string, List<string>?>? SensitiveAllowed { get; set; }

        public List<string>? OutcomesAllowed { get; set; }

        public int? MinimumCellSize { get; set; }

        public int? RetentionYears { get; set; }

        public Dictionary<string, CustomCategory>? SensitiveCodes { get; set; }
    }

    private sealed class CustomCategory
    {
        public string? Description { get; set; }

        public List<CodeEntry>? Codes { get; set; }

        public string? File { get; set; }

        public string? Sha256 { get; set; }
    }

    private sealed class CodeEntry
    {
        public string? System { get; set; }

        public string? Code { get; set; }
    }

    private sealed class CoordinatorEntry
    {
        public string? Name { get; set; }

        public string? PublicKey { get; set; }
    }
}
