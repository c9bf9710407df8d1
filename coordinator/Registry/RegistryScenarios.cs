using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Twin.Scenarios;

namespace FederatedTwin.Coordinator.Registry;

/// <summary>A registry model a scenario result used: its id, lineage and version in it.</summary>
public sealed record ModelVersionUsed(string Id, string Lineage, int Version);

/// <summary>
/// How the coordinator reads a scenario file against its own registry, for both <c>POST /v1/admin/scenarios/run</c> and
/// the dashboard's scenario page (one code path): the registry is offered by the name <see cref="RegistryName"/>, read at
/// parse time (converged GLMs and composition releases, <see cref="RegistrySnapshot"/>), and a file may not name a
/// directory on the coordinator's disk.
/// </summary>
public static class RegistryScenarios
{
    /// <summary>The name a scenario file's <c>models</c> uses for this coordinator's registry.</summary>
    public const string RegistryName = "coordinator";

    /// <summary>
    /// Parse options over the registry as it is now; the overrides replace the file's <c>models</c> and <c>fallback</c> (as `ftwin
    /// scenario run --models/--fallback`). The registry offers the newest version of each model lineage, or the version
    /// <paramref name="pinnedModel"/> names for its lineage (<see cref="RegistrySnapshot.Read"/>).
    /// </summary>
    public static ScenarioParseOptions ParseOptions(CoordinatorStore store, string? modelsOverride = null, string? fallbackOverride = null, string? pinnedModel = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var snapshot = RegistrySnapshot.Read(store, pinnedModel);
        return new ScenarioParseOptions
        {
            AllowDirectories = false,
            NamedRegistries = new Dictionary<string, NamedRegistry>(StringComparer.Ordinal) { [RegistryName] = new(snapshot.Models, snapshot.Compositions) },
            ModelsOverride = modelsOverride,
            FallbackOverride = fallbackOverride,
        };
    }

    /// <summary>Parses a scenario file against the registry (throws <see cref="ScenarioFileException"/> with the field and line).</summary>
    public static ScenarioDefinition Parse(CoordinatorStore store, string yaml, string? modelsOverride = null, string? fallbackOverride = null, string? pinnedModel = null) =>
        ScenarioParser.Parse(yaml, ParseOptions(store, modelsOverride, fallbackOverride, pinnedModel));

    /// <summary>
    /// The registry version (lineage and number) of every registry model a result used, by model id (the demo fallback's models are not
    /// in the registry and are left out): what a scenario run records so its result names the model versions behind it.
    /// </summary>
    public static IReadOnlyList<ModelVersionUsed> VersionsUsed(CoordinatorStore store, ScenarioResult result)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(result);
        var lineages = store.Read(RegistryQueries.Lineages);
        return [.. result.ModelIds.Where(lineages.ContainsKey).Order(StringComparer.Ordinal).Select(id => new ModelVersionUsed(id, lineages[id].Lineage, lineages[id].Version))];
    }
}
