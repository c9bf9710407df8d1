using FederatedTwin.Protocol.Federation;
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
/// as many nodes as the site demands. Later issues add consent, sensitivity, budgets and retention.
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
        """;

    private SitePolicy(int version, IReadOnlyList<TrustedCoordinator> trusted, IReadOnlySet<string> purposes, IReadOnlySet<string> algorithms, int minimumNodes)
    {
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

        return new SitePolicy(1, trusted, (d.PurposesAllowed ?? []).ToHashSet(StringComparer.Ordinal), (d.AlgorithmsAllowed ?? []).ToHashSet(StringComparer.Ordinal), d.MinimumNodes.Value);
    }

    /// <summary>Rules in order; the first that refuses decides. The rule names appear in decisions and audits.</summary>
    public PolicyDecision Decide(StudySpec study)
    {
        if (!PurposesAllowed.Contains(study.PurposeOfUse.Code))
        {
            return new PolicyDecision(false, "purposes_allowed", $"purpose of use {study.PurposeOfUse} is not allowed by this site (allowed: {List(PurposesAllowed)})");
        }

        if (!AlgorithmsAllowed.Contains(study.Algorithm))
        {
            return new PolicyDecision(false, "algorithms_allowed", $"algorithm {study.Algorithm} is not allowed by this site (allowed: {List(AlgorithmsAllowed)})");
        }

        if (study.MinNodes < MinimumNodes)
        {
            return new PolicyDecision(false, "minimum_nodes", $"the study may run with {study.MinNodes} nodes; this site requires at least {MinimumNodes}");
        }

        return new PolicyDecision(true, "all_rules_passed", $"purpose {study.PurposeOfUse}, algorithm {study.Algorithm} and minimum of {study.MinNodes} nodes are allowed");
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
    }

    private sealed class CoordinatorEntry
    {
        public string? Name { get; set; }

        public string? PublicKey { get; set; }
    }
}
