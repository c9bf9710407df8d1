using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// A federated sum (histogram) of a named vector every node computes from its own data
/// (<see cref="LocalVectors"/>). One round per study round; the result is the last round's sum.
/// </summary>
public sealed class FederatedSumAlgorithm : IStudyAlgorithm
{
    public const string AlgorithmName = "federated-sum";

    public string Name => AlgorithmName;

    public void Validate(StudySpec study)
    {
        try
        {
            _ = LocalVectors.Labels(Vector(study));
        }
        catch (ArgumentException e)
        {
            // Named as the field it is, so the dashboard shows it beside the parameters and the CLI names it.
            throw new StudyFileException("parameters.vector", e.Message);
        }
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var vector = Vector(study);
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["vector"] = vector,
            ["purpose_of_use"] = study.PurposeOfUse.Code,
        };
        return new RoundRequest(AlgorithmName, LocalVectors.Labels(vector).Count, parameters);
    }

    public JsonObject? AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        if (round < study.Rounds)
        {
            return null;
        }

        var labels = LocalVectors.Labels(Vector(study));
        return new JsonObject
        {
            ["algorithm"] = AlgorithmName,
            ["vector"] = Vector(study),
            ["labels"] = new JsonArray([.. labels.Select(l => (JsonNode)l)]),
            ["sums"] = new JsonArray([.. sums[^1].Select(v => (JsonNode)v)]),
        };
    }

    private static string Vector(StudySpec study) =>
        study.Parameters?.GetValueOrDefault("vector") ?? LocalVectors.PatientsByAgeBandAndSex;
}
