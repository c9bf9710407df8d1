using System.Text.Json.Nodes;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Coordinator.Registry;

/// <summary>A registry document that the twin cannot use, and why (a FedAvg model, an exact GLM that did not converge, a DP GLM that failed its release checks, ...).</summary>
public sealed record SkippedModel(string Id, string Kind, string Reason);

/// <summary>
/// The coordinator's model registry (the <c>models</c> table, filled when a study completes) as the twin reads it:
/// released GLMs (converged exact fits; DP fits after their planned rounds) as <see cref="RegisteredModel"/>s and published compositions as <see cref="ReleasedComposition"/>s.
/// Everything else is listed as skipped with the reason, never dropped silently.
/// </summary>
public sealed record RegistrySnapshot(IReadOnlyList<RegisteredModel> Models, IReadOnlyList<ReleasedComposition> Compositions,
    IReadOnlyList<(string Id, string Json)> CompositionDocuments, IReadOnlyList<SkippedModel> Skipped)
{
    /// <summary>
    /// Reads every registry row. Of a model lineage's versions (docs/models.md, "Versions") the twin sees one: the newest, or the one
    /// <paramref name="pinned"/> names (the diff page runs a scenario under each of two versions); the others are listed as skipped,
    /// superseded, so a refreshed model replaces its predecessor instead of making the outcome ambiguous.
    /// </summary>
    public static RegistrySnapshot Read(CoordinatorStore store, string? pinned = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var all = store.Read(RegistryQueries.Documents);
        var pin = pinned is null ? null : all.FirstOrDefault(r => r.model_id == pinned) ?? throw new KeyNotFoundException($"No model '{pinned}' in the registry.");
        var chosen = all.GroupBy(r => r.lineage, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Key == pin?.lineage ? pin.model_id : g.OrderBy(r => r.lineage_version).ThenBy(r => r.model_id, StringComparer.Ordinal).Last().model_id, StringComparer.Ordinal);
        var superseded = all.Where(r => chosen[r.lineage] != r.model_id)
            .Select(r => new SkippedModel(r.model_id, r.kind, $"version {r.lineage_version} of {r.lineage}: the twin uses {chosen[r.lineage]}")).ToList();
        // A pinned version is the only model of its kind and outcome the twin sees, so it is the one the run uses.
        superseded.AddRange(all.Where(r => pin is not null && r.lineage != pin.lineage && r.kind == pin.kind && r.outcome == pin.outcome && chosen[r.lineage] == r.model_id)
            .Select(r => new SkippedModel(r.model_id, r.kind, $"this run is pinned to {pin!.model_id} for {r.outcome}")));
        var rows = all.Where(r => chosen[r.lineage] == r.model_id && !superseded.Any(k => k.Id == r.model_id)).Select(r => (r.model_id, r.kind, r.model_json)).ToList();
        var models = new List<RegisteredModel>();
        var compositions = new List<ReleasedComposition>();
        var compositionDocuments = new List<(string, string)>();
        var skipped = superseded;
        foreach (var (id, kind, json) in rows)
        {
            switch (kind)
            {
                case RegisteredModel.GlmKind:
                    // Whether the twin may use it is the document's own decision (GlmModelDocument.IsReleased).
                    GlmModelDocument document;
                    try
                    {
                        document = GlmModelDocument.FromJson(json);
                    }
                    catch (FormatException e)
                    {
                        skipped.Add(new SkippedModel(id, kind, e.Message));
                        break;
                    }

                    if (document.NotReleasedReason is { } reason)
                    {
                        skipped.Add(new SkippedModel(id, kind, reason));
                        break;
                    }

                    try
                    {
                        models.Add(document.ToRegisteredModel());
                    }
                    catch (RegisteredModelException e)
                    {
                        skipped.Add(new SkippedModel(id, kind, e.Message));
                    }

                    break;
                case ReleasedComposition.Kind:
                    try
                    {
                        compositions.Add(ReleasedComposition.FromJson(json, id));
                        compositionDocuments.Add((id, json));
                    }
                    catch (FormatException e)
                    {
                        skipped.Add(new SkippedModel(id, kind, e.Message));
                    }

                    break;
                default:
                    skipped.Add(new SkippedModel(id, kind, $"kind '{kind}' is not evaluated by the twin (it reads GLMs and compositions)"));
                    break;
            }
        }

        return new RegistrySnapshot(models, [.. compositions.OrderBy(c => c.Year).ThenBy(c => c.CreatedAt)], compositionDocuments, skipped);
    }

    /// <summary>
    /// Writes the snapshot as a registry directory the twin reads (<c>ftwin scenario run --models DIR</c>): every GLM at
    /// its id's path (<see cref="ModelRegistry.Save"/>), every composition document as stored, at its id's path too.
    /// Returns the files written.
    /// </summary>
    public IReadOnlyList<string> Export(string directory)
    {
        var written = new List<string>();
        foreach (var m in Models)
        {
            written.Add(ModelRegistry.Save(m, directory));
        }

        foreach (var (id, json) in CompositionDocuments)
        {
            var path = Path.Combine(directory, Path.Combine([.. id.Split('/')]) + ".json");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, CompositionDocument.FromJson(json).ToIndentedJson() + "\n");
            written.Add(path);
        }

        return written;
    }
}
