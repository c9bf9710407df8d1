using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The population composition (age band × sex × condition count, with per-condition prevalence), one
/// encrypted sum of the nodes' noisy counts. What the coordinator keeps and shows is the release: noisy
/// counts rounded to non-negative integers, margins from them, cells under the minimum cell size hidden
/// with complementary suppression (CompositionRelease audits it; exact counts are planned across the composition and its
/// prevalence tables together). The exact decrypted sum exists only in
/// the round results, which nobody but the engine reads. Under DP the counts travel at the study's power-of-two scale
/// (<see cref="CompositionStudy.Scale"/>), so the decoded sum is counts plus noise, a real number the release rounds.
/// </summary>
public sealed class FederatedCompositionAlgorithm(IAdditiveThresholdScheme scheme, TimeProvider? timeProvider = null) : IStudyAlgorithm
{
    private readonly TimeProvider time = timeProvider ?? TimeProvider.System;

    public string Name => CompositionStudy.AlgorithmName;

    /// <summary>The study's parameters, and under DP its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>), or a refusal with the figures.</summary>
    public void Validate(StudySpec study)
    {
        _ = CompositionStudy.Parse(study);
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        return CompositionStudy.Basis(study).Request(study, CompositionStudy.VectorLength);
    }

    public RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var composition = CompositionStudy.Parse(study);
        var counts = new FixedPointCodec(composition.Layout, scheme.MaxParties).Decode(sums[^1]);
        // Without noise the 12 tables satisfy exact identities (Σ_j prevalence_j = level × composition): planned together.
        var kind = composition.Rho > 0 ? ReleasedCounts.Noisy : ReleasedCounts.Exact;
        var release = CompositionRelease.Publish(counts.AsSpan(0, CompositionLayout.CompositionCells), counts.AsSpan(CompositionLayout.CompositionCells), CompositionLayout.ConditionNames, kind, composition.MinimumCellSize);
        var model = release.ToDocument(study.Id.Value, study.PurposeOfUse.Code, composition.Year, composition.MinimumCellSize, composition.Rho, time.GetUtcNow());
        if (StudyAccounting.Account(study, scheme.MaxParties) is { } account)
        {
            // What the release really spent, next to the stated ρ: the counts' scale and the honest shares the noise relies on.
            model = model with { Privacy = model.Privacy with { MinHonestNodes = composition.MinHonestNodes, Scale = composition.Scale, TrueRho = account.True } };
        }

        return RoundOutcome.Finish(new ModelStudyResult(Name, model));
    }
}
