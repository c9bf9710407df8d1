using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Composition;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The population composition (age band × sex × condition count, with per-condition prevalence), one
/// encrypted sum of the nodes' noisy counts. What the coordinator keeps and shows is the release: noisy
/// counts rounded to non-negative integers, margins from them, cells under the minimum cell size hidden
/// with complementary suppression (CompositionRelease audits it; exact counts are planned across the composition and its
/// prevalence tables together). The exact decrypted sum exists only in
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
        // Without noise the 12 tables satisfy exact identities (Σ_j prevalence_j = level × composition): planned together.
        var kind = composition.Rho > 0 ? ReleasedCounts.Noisy : ReleasedCounts.Exact;
        var release = CompositionRelease.Publish(counts.AsSpan(0, CompositionLayout.CompositionCells), counts.AsSpan(CompositionLayout.CompositionCells), CompositionLayout.ConditionNames, kind, composition.MinimumCellSize);
        var model = release.ToRegistryJson(study.Id.Value, study.PurposeOfUse.Code, composition.Year, composition.MinimumCellSize, composition.Rho, DateTimeOffset.UtcNow);
        return new JsonObject { ["algorithm"] = Name, ["model"] = model };
    }
}
