using System.Globalization;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using System.Data.Common;

namespace FederatedTwin.Coordinator.Registry;

/// <summary>
/// How a finished study's model enters the registry (docs/models.md, "Versions"): a model a study template's run trained is the
/// next version of the lineage kind/outcome/template (numbered in registration order, so a failed run leaves no gap); a one-off
/// study's model is a lineage of one. A GLM document records its lineage, version and training window in itself, so the document a
/// node receives (signed over its text, <see cref="SignedModel"/>) says which data it was fitted on. The document's id stays the
/// study's (glm/outcome/study): every version is its own registry entry, never a document changed in place.
/// </summary>
internal static class ModelLineage
{
    /// <summary>The document's text as the registry stores it, with its lineage and version (null for a one-off study).</summary>
    public static (string Json, string? Lineage, int? Version) Register(DbConnection c, DbTransaction t, StudySpec spec, IRegistryDocument model)
    {
        var run = RefreshQueries.RunOf(c, t, spec.Id.Value);
        var lineage = run is { } r ? $"{model.Kind}/{model.Outcome}/{r.Template}" : null;
        int? version = lineage is null ? null : RegistryQueries.LatestVersion(c, t, lineage) + 1;
        if (model is not GlmModelDocument glm)
        {
            return (model.ToJson(), lineage, version);
        }

        var participants = RefreshQueries.Participants(c, t, spec.Id.Value).Take(spec.MaxNodes).ToList();
        var window = new TrainingWindowDocument(spec.Id.Value, run?.Template, run is { } s ? (int)s.Seq : null, Year(spec, "min_year"), Year(spec, "max_year"),
            RefreshQueries.StartedAt(c, t, spec.Id.Value) ?? glm.CreatedAt, participants.Count, participants.Count(p => p.used is not null));
        return ((glm with { Lineage = lineage, LineageVersion = version, TrainingWindow = window }).ToJson(), lineage, version);
    }

    private static int? Year(StudySpec spec, string name) =>
        spec.Parameters?.GetValueOrDefault(name) is { } text && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var year) ? year : null;
}
