using System.Globalization;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// FedAvg (McMahan et al. 2017) for a logistic model trained with ML.NET at the nodes: each round sends the
/// global weights, each node returns its sample-weighted local weights encrypted, and the decrypted sum
/// divided by the total rows is the next global model. The study's `rounds` is the number of rounds.
/// With dp_rho the study runs DP-FedSGD instead (<see cref="FedAvgPrivacy"/>): each round sends the point at which the
/// nodes evaluate their clipped, noised gradient sums, and the coordinator's momentum optimizer is replayed from the
/// persisted sums, so a restarted coordinator continues exactly where it was.
/// </summary>
public sealed class FederatedFedAvgAlgorithm(IAdditiveThresholdScheme scheme, TimeProvider? timeProvider = null) : IStudyAlgorithm
{
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    public string Name => FedAvgStudy.AlgorithmName;

    /// <summary>The study's parameters, and under DP its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>), or a refusal with the figures.</summary>
    public void Validate(StudySpec study)
    {
        StudyColumns.Require(FedAvgStudy.Parse(study, scheme.MaxParties).Rows);
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var fedAvg = FedAvgStudy.Parse(study, scheme.MaxParties);
        var state = fedAvg.Privacy is { } dp ? new FedAvgRound(null, Replay(fedAvg, dp, previousSums).NextPoint)
            : previousSums.Count > 0 ? new FedAvgRound(Global(fedAvg, previousSums[^1]), null)
            : FedAvgRound.First;
        return FedAvgStudy.Basis(study).Request(study, fedAvg.Layout(scheme.MaxParties).Sum(b => b.Length), state);
    }

    public RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        if (round < study.Rounds)
        {
            return RoundOutcome.NextRound;
        }

        var fedAvg = FedAvgStudy.Parse(study, scheme.MaxParties);
        var codec = new FixedPointCodec(fedAvg.Layout(scheme.MaxParties), scheme.MaxParties);
        var names = fedAvg.Rows.Features.Prepend(ModelTerm.Intercept).ToList();
        List<double> ordered;
        ModelPrivacyDocument privacy;
        double rows;
        if (fedAvg.Privacy is { } dp)
        {
            ordered = [.. dp.ToOriginalScale(Replay(fedAvg, dp, sums).Theta)]; // intercept first already
            rows = Math.Max(0, Math.Round(codec.Decode(sums[^1])[^1])); // the last round's noisy row count (post-processing)
            privacy = new ModelPrivacyDocument(true, dp.Dp.Rho)
            {
                RoundsPlanned = dp.Dp.Rounds,
                RhoPerRound = dp.Dp.RoundRho,
                RoundsRun = sums.Count,
                RhoSpent = dp.Dp.RoundRho * sums.Count,
                MaxRowsPerPatient = dp.Dp.MaxRowsPerPatient,
                MinHonestNodes = dp.Dp.MinHonestNodes,
                TrueRho = StudyAccounting.Account(study, scheme.MaxParties)?.True, // as sums of discrete Gaussian shares (KLS21 Prop. 14)
                Mechanism = "dp-fedsgd",
                Clip = dp.Clip,
                LearningRate = dp.LearningRate,
                Momentum = dp.Momentum,
            };
        }
        else
        {
            var weights = Global(fedAvg, sums[^1]);
            rows = (long)codec.Decode(sums[^1])[^1];
            ordered = [.. weights.Skip(weights.Length - 1).Concat(weights.Take(weights.Length - 1))]; // intercept first, as the GLM's terms
            privacy = ModelPrivacyDocument.Exact;
        }

        var model = new FedAvgModelDocument(
            $"{FedAvgModelDocument.FedAvgKind}/{fedAvg.Rows.Outcome}/{study.Id.Value}",
            FedAvgModelDocument.FedAvgKind,
            "binomial",
            "logit",
            fedAvg.Rows.Outcome,
            null,
            [.. names.Select((n, i) => new ModelTermDocument(n, ordered[i]))],
            (long)rows,
            round,
            fedAvg.Privacy is null ? fedAvg.LocalIterations : null,
            fedAvg.Privacy is null ? fedAvg.L2 : null,
            study.Id.Value,
            study.PurposeOfUse.Code,
            time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture),
            privacy);
        return RoundOutcome.Finish(new ModelStudyResult(Name, model));
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
