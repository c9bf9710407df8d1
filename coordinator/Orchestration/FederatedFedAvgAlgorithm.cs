using System.Globalization;
using System.Text.Json.Nodes;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// FedAvg (McMahan et al. 2017) for a logistic model trained with ML.NET at the nodes: each round sends the
/// global weights, each node returns its sample-weighted local weights encrypted, and the decrypted sum
/// divided by the total rows is the next global model. The study's `rounds` is the number of rounds.
/// With dp_rho the study runs DP-FedSGD instead (<see cref="FedAvgPrivacy"/>): each round sends the point at which the
/// nodes evaluate their clipped, noised gradient sums, and the coordinator's momentum optimizer is replayed from the
/// persisted sums, so a restarted coordinator continues exactly where it was.
/// </summary>
public sealed class FederatedFedAvgAlgorithm(IAdditiveThresholdScheme scheme) : IStudyAlgorithm
{
    public string Name => FedAvgStudy.AlgorithmName;

    /// <summary>The study's parameters, and under DP its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>), or a refusal with the figures.</summary>
    public void Validate(StudySpec study)
    {
        _ = FedAvgStudy.Parse(study, scheme.MaxParties);
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var fedAvg = FedAvgStudy.Parse(study, scheme.MaxParties);
        var parameters = new Dictionary<string, string>(study.Parameters ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            ["purpose_of_use"] = study.PurposeOfUse.Code,
            [GlmStudy.MinNodesParameter] = study.MinNodes.ToString(CultureInfo.InvariantCulture),
            [FedAvgStudy.RoundsParameter] = study.Rounds.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in StudyPrivacy.DerivedRoundParameters(study))
        {
            parameters[key] = value;
        }

        if (fedAvg.Privacy is { } dp)
        {
            parameters[FedAvgPrivacy.PointParameter] = FedAvgStudy.SerializeWeights(Replay(fedAvg, dp, previousSums).NextPoint);
        }
        else if (previousSums.Count > 0)
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
        var codec = new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties);
        var names = fedAvg.Rows.Features.Prepend("(Intercept)").ToList();
        List<double> ordered;
        JsonObject privacy;
        double rows;
        if (fedAvg.Privacy is { } dp)
        {
            ordered = [.. dp.ToOriginalScale(Replay(fedAvg, dp, sums).Theta)]; // intercept first already
            rows = Math.Max(0, Math.Round(codec.Decode(sums[^1])[^1])); // the last round's noisy row count (post-processing)
            privacy = new JsonObject
            {
                ["dp"] = true,
                ["rho"] = dp.Dp.Rho,
                ["rounds_planned"] = dp.Dp.Rounds,
                ["rho_per_round"] = dp.Dp.RoundRho,
                ["rounds_run"] = sums.Count,
                ["rho_spent"] = dp.Dp.RoundRho * sums.Count,
                ["max_rows_per_patient"] = dp.Dp.MaxRowsPerPatient,
                ["min_honest_nodes"] = dp.Dp.MinHonestNodes,
                ["true_rho"] = StudyAccounting.Account(study, scheme.MaxParties)?.True, // as sums of discrete Gaussian shares (KLS21 Prop. 14)
                ["mechanism"] = "dp-fedsgd",
                ["clip"] = dp.Clip,
                ["learning_rate"] = dp.LearningRate,
                ["momentum"] = dp.Momentum,
            };
        }
        else
        {
            var weights = Global(fedAvg, sums[^1]);
            rows = (long)codec.Decode(sums[^1])[^1];
            ordered = [.. weights.Skip(weights.Length - 1).Concat(weights.Take(weights.Length - 1))]; // intercept first, as the GLM's terms
            privacy = new JsonObject { ["dp"] = false, ["rho"] = null };
        }

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
                ["rows"] = (long)rows,
                ["rounds"] = round,
                ["local_iterations"] = fedAvg.Privacy is null ? fedAvg.LocalIterations : null,
                ["l2"] = fedAvg.Privacy is null ? fedAvg.L2 : null,
                ["study_id"] = study.Id.Value,
                ["purpose_of_use"] = study.PurposeOfUse.Code,
                ["created_at"] = DateTimeOffset.UtcNow.ToString("O"),
                ["privacy"] = privacy,
            },
        };
    }

    /// <summary>The DP optimizer after the decoded sums so far; a malformed sum fails the study with a reason.</summary>
    private (double[] Theta, double[] NextPoint) Replay(FedAvgStudy fedAvg, FedAvgPrivacy dp, IReadOnlyList<long[]> sums)
    {
        var codec = new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties);
        try
        {
            return dp.Replay(sums.Select(s => codec.Decode(s)));
        }
        catch (ArgumentException e)
        {
            throw new StudyAlgorithmException(e.Message);
        }
    }

    private double[] Global(FedAvgStudy fedAvg, long[] sum) =>
        FedAvgAggregate.Average(new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties).Decode(sum));
}
