using FederatedTwin.Twin.Mssp;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>MSSP terms of a scenario: settled each performance year on the twin's Medicare-eligible part.</summary>
public sealed record MsspTerms(MsspTrack Track, AssignedBeneficiaries Assigned, decimal BenchmarkPerBeneficiaryYear, bool QualityStandardMet,
    MsrMlrChoice? MsrMlr, decimal? ParticipantRevenue, bool LowRevenue, decimal? QualityScore, int? AgreementStartYear = null);

/// <summary>A parsed, validated scenario file, with the model set its <c>models:</c> field (or the override) named.</summary>
public sealed record ScenarioDefinition(
    string Name,
    uint Seed,
    int Population,
    int StartYear,
    int Horizon,
    int Replicates,
    ModelSet Models,
    IReadOnlyList<TwinIntervention> Interventions,
    MsspTerms? Mssp)
{
    /// <summary>Which sources of uncertainty the replicates draw (<c>uncertainty:</c> in the file; default all available).</summary>
    public UncertaintyMode Uncertainty { get; init; } = UncertaintyMode.All;
}

/// <summary>The uncertainty a scenario's intervals carry (docs/scenarios.md, "Uncertainty in the twin's intervals").</summary>
public enum UncertaintyMode
{
    /// <summary>Every available source: Monte Carlo, the coefficients, the composition and the intervention effects.</summary>
    All,
    /// <summary>Monte Carlo only: coefficients, composition and effects at their point values (the behaviour before issue 20).</summary>
    MonteCarloOnly,
}

/// <summary>How to resolve a scenario file's <c>models:</c> field.</summary>
public sealed record ScenarioParseOptions
{
    /// <summary>Directory that relative registry paths are resolved against (the scenario file's directory); default: the working directory.</summary>
    public string? BaseDirectory { get; init; }

    /// <summary>"demo" or a registry directory that replaces the file's registry (<c>ftwin scenario run --models</c>); the file's use/unit_costs still apply.</summary>
    public string? ModelsOverride { get; init; }

    /// <summary>"demo", "none" or a registry directory that replaces the file's <c>models.fallback</c> (<c>--fallback</c>).</summary>
    public string? FallbackOverride { get; init; }

    /// <summary>Registries known by name (the coordinator's endpoint offers its own registry as "coordinator").</summary>
    public IReadOnlyDictionary<string, NamedRegistry>? NamedRegistries { get; init; }

    /// <summary>False where registry directories must not be read (a server reading a client's file): only demo and named registries.</summary>
    public bool AllowDirectories { get; init; } = true;
}

/// <summary>A registry held in memory: its GLMs and composition releases (e.g. the coordinator's models table).</summary>
public sealed record NamedRegistry(IReadOnlyList<FederatedTwin.Analytics.Registry.RegisteredModel> Models,
    IReadOnlyList<ReleasedComposition> Compositions);
