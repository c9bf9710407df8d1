using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Policy;

/// <summary>
/// Reads policy.yaml into a <see cref="SitePolicy"/>: the embedded JSON Schema first (<see cref="SitePolicySchema"/>), then the
/// YAML document, the custom code lists it pins (<see cref="CodeListPinning"/>) and the budgets as stated (ρ, or (ε, δ)).
/// </summary>
internal static class SitePolicyParser
{
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
            d = FederatedTwin.Analytics.Studies.YamlInput.Deserialize<Document>(new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build(), yaml)
                ?? throw new SitePolicyException($"{source}: the policy is empty.");
        }
        catch (YamlException e)
        {
            throw new SitePolicyException($"{source}, line {e.Start.Line}: {(e.InnerException ?? e).Message}");
        }

        var custom = CodeListPinning.Read(d.SensitiveCodes ?? [], source, baseDirectory);
        var known = SitePolicy.SensitiveCategories.Concat(custom.Keys).ToHashSet(StringComparer.Ordinal);
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
            MinCommitteeThreshold = d.MinCommitteeThreshold,
            ReidentificationPurposes = (d.ReidentificationPurposes ?? []).ToHashSet(StringComparer.Ordinal),
            CustomSensitiveCodes = custom,
            SensitiveCodes = custom.Count == 0 ? Deidentification.CodeList.Sensitive : Deidentification.CodeList.Sensitive.With(custom.SelectMany(c => c.Value.Select(x => (c.Key, x.System, x.Code)))),
            SensitiveCodesFingerprint = custom.Count == 0 ? null : CodeListPinning.Fingerprint(custom),
        };
    }

    /// <summary>A JSON number the schema has checked (an integer or a float in the YAML).</summary>
    private static double Number(System.Text.Json.Nodes.JsonNode? node) =>
        double.Parse(node!.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);

    private static int LineOf(string yaml, string source, string pointer) => SitePolicySchema.ToJson(yaml, source).Lines.GetValueOrDefault(pointer, 1);

    /// <summary>Per purpose, the zCDP ρ per calendar year: as given, or the largest ρ whose (ε, δ) is within the (ε, δ) given.</summary>
    private static Dictionary<string, double> Budgets(System.Text.Json.Nodes.JsonObject? budgets) =>
        (budgets ?? []).ToDictionary(
            b => b.Key,
            b => b.Value is System.Text.Json.Nodes.JsonObject pair
                ? ZcdpAccountant.RhoForEpsilon(Number(pair["epsilon"]), Number(pair["delta"]))
                : Number(b.Value),
            StringComparer.Ordinal);

    /// <summary>The lifetime budget: a ρ as given, or the largest ρ whose (ε, δ) is within the (ε, δ) given (kept, to show it as stated).</summary>
    private static LifetimePrivacyBudget? Lifetime(System.Text.Json.Nodes.JsonNode? budget) => budget switch
    {
        null => null,
        System.Text.Json.Nodes.JsonObject pair => new LifetimePrivacyBudget(ZcdpAccountant.RhoForEpsilon(Number(pair["epsilon"]), Number(pair["delta"])), new EpsilonDelta(Number(pair["epsilon"]), Number(pair["delta"]))),
        _ => new LifetimePrivacyBudget(Number(budget)),
    };

    internal sealed class Document
    {
        public int? Version { get; set; }

        public List<CoordinatorEntry>? TrustedCoordinators { get; set; }

        public List<string>? PurposesAllowed { get; set; }

        public List<string>? AlgorithmsAllowed { get; set; }

        public int? MinimumNodes { get; set; }

        public int? MinCommitteeThreshold { get; set; }

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

        public List<string>? ReidentificationPurposes { get; set; }

        public int? MinimumCellSize { get; set; }

        public int? RetentionYears { get; set; }

        public Dictionary<string, CustomCategory>? SensitiveCodes { get; set; }
    }

    internal sealed class CustomCategory
    {
        public string? Description { get; set; }

        public List<CodeEntry>? Codes { get; set; }

        public string? File { get; set; }

        public string? Sha256 { get; set; }
    }

    internal sealed class CodeEntry
    {
        public string? System { get; set; }

        public string? Code { get; set; }
    }

    internal sealed class CoordinatorEntry
    {
        public string? Name { get; set; }

        public string? PublicKey { get; set; }
    }
}
