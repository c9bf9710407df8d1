using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Composition;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The population composition (age band × sex × condition count, with per-condition prevalence), one
/// encrypted sum of the nodes' noisy counts. What the coordinator keeps and shows is the release: noisy
/// counts rounded to non-negative integers, margins from them, cells under the minimum cell size hidden
/// with complementary suppression (CompositionRelease audits it). The exact decrypted sum exists only in
/// the round results, which nobody but the engine reads.
/// </summary>
public sealed class FederatedCompositionAlgorithm : IStudyAlgorithm
{
    public string Name => CompositionStudy.AlgorithmName;

    public void Validate(StudySpec study) => _ = CompositionStudy.Parse(study);

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            ["min_nodes"] = study.MinNodes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        return new RoundRequest(Name, CompositionStudy.VectorLength, parameters);
    }

    public JsonObject? AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var composition = CompositionStudy.Parse(study);
        var counts = sums[^1].Select(v => (double)v).ToArray();
        var release = CompositionRelease.Publish(counts.AsSpan(0, CompositionLayout.CompositionCells), counts.AsSpan(CompositionLayout.CompositionCells), CompositionLayout.ConditionNames, composition.MinimumCellSize);
        var model = new JsonObject
        {
            ["id"] = $"composition/{composition.Year}/{study.Id.Value}",
            ["kind"] = "composition",
            ["outcome"] = "composition",
            ["year"] = composition.Year,
            ["minimum_cell_size"] = composition.MinimumCellSize,
            ["composition"] = Table(release.Composition),
            ["prevalence"] = new JsonObject(CompositionLayout.ConditionNames.Select((name, j) => KeyValuePair.Create(name, (JsonNode?)Table(release.Prevalence[j])))),
            ["study_id"] = study.Id.Value,
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
            ["privacy"] = new JsonObject { ["dp"] = composition.Rho > 0, ["rho"] = composition.Rho > 0 ? composition.Rho : null, ["l2_sensitivity"] = CompositionLayout.L2Sensitivity },
        };
        return new JsonObject { ["algorithm"] = Name, ["model"] = model };
    }

    /// <summary>A published table: shape, labels and cells (null = suppressed), margins included as the last index of each dimension.</summary>
    private static JsonObject Table(PublishedTable table) => new()
    {
        ["name"] = table.Name,
        ["shape"] = new JsonArray([.. table.Labels.Select(l => (JsonNode)l.Count)]),
        ["labels"] = new JsonArray([.. table.Labels.Select(l => (JsonNode)new JsonArray([.. l.Select(x => (JsonNode)x)]))]),
        ["cells"] = new JsonArray([.. table.Cells.Select(c => c is { } v ? (JsonNode)v : null)]),
        ["suppressed"] = table.SuppressedCount,
    };
}
