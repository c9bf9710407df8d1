using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Crypto;
using FederatedTwin.Protocol.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.FedAvg;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// FedAvg (McMahan et al. 2017) for a logistic model trained with ML.NET at the nodes: each round sends the
/// global weights, each node returns its sample-weighted local weights encrypted, and the decrypted sum
/// divided by the total rows is the next global model. The study's `rounds` is the number of rounds.
/// </summary>
public sealed class FederatedFedAvgAlgorithm(IAdditiveThresholdScheme scheme) : IStudyAlgorithm
{
    public string Name => FedAvgStudy.AlgorithmName;

    public void Validate(StudySpec study) => _ = FedAvgStudy.Parse(study, scheme.MaxParties);

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var fedAvg = FedAvgStudy.Parse(study, scheme.MaxParties);
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
        };
        if (previousSums.Count > 0)
        {
            parameters[FedAvgStudy.WeightsParameter] = FedAvgStudy.SerializeWeights(Global(fedAvg, previousSums[^1]));
        }

        return new RoundRequest(Name, fedAvg.Layout(scheme.MaxParties).Sum(b => b.Length), parameters);
    }

    public JsonObject? AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        if (round < study.Rounds)
        {
            return null;
        }

        var fedAvg = FedAvgStudy.Parse(study, scheme.MaxParties);
        var weights = Global(fedAvg, sums[^1]);
        var rows = (long)new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties).Decode(sums[^1])[^1];
        var names = fedAvg.Rows.Features.Prepend("(Intercept)").ToList();
        var ordered = weights.Skip(weights.Length - 1).Concat(weights.Take(weights.Length - 1)).ToList(); // intercept first, as the GLM's terms
        return new JsonObject
        {
            ["algorithm"] = Name,
            ["model"] = new JsonObject
            {
                ["id"] = $"fedavg/{fedAvg.Rows.Outcome}/{study.Id.Value}",
                ["kind"] = "fedavg",
                ["family"] = "binomial",
                ["link"] = "logit",
                ["outcome"] = fedAvg.Rows.Outcome,
                ["offset"] = null,
                ["terms"] = new JsonArray([.. names.Select((n, i) => (JsonNode)new JsonObject { ["name"] = n, ["coefficient"] = ordered[i] })]),
                ["rows"] = rows,
                ["rounds"] = round,
                ["local_iterations"] = fedAvg.LocalIterations,
                ["l2"] = fedAvg.L2,
                ["study_id"] = study.Id.Value,
                ["purpose_of_use"] = study.PurposeOfUse.Code,
                ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
                ["privacy"] = new JsonObject { ["dp"] = false, ["rho"] = null },
            },
        };
    }

    private double[] Global(FedAvgStudy fedAvg, long[] sum) =>
        FedAvgAggregate.Average(new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties).Decode(sum));
}
