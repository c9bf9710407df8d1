using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The federation's observed outcomes by year (<see cref="OutcomeTotalsStudy"/>), one encrypted sum of the nodes' noisy totals.
/// What the coordinator keeps and shows is the release (<see cref="OutcomeTotalsStudyResult.Publish"/>): the decoded noisy sums
/// with each measure's noise SD, small counts of patient-years suppressed. The decrypted sum exists only in the round results.
/// </summary>
public sealed class FederatedOutcomesAlgorithm(IAdditiveThresholdScheme scheme) : IStudyAlgorithm
{
    public string Name => OutcomeTotalsStudy.AlgorithmName;

    /// <summary>The study's parameters (dp_rho required), and its true ρ within 1% of the stated one (<see cref="StudyAccounting"/>).</summary>
    public void Validate(StudySpec study)
    {
        _ = OutcomeTotalsStudy.Parse(study);
        _ = StudyAccounting.Require(study, scheme.MaxParties);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums) =>
        OutcomeTotalsStudy.Basis(study).Request(study, OutcomeTotalsStudy.VectorLength(OutcomeTotalsStudy.Parse(study)));

    public RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums)
    {
        var outcomes = OutcomeTotalsStudy.Parse(study);
        var decoded = new FixedPointCodec(outcomes.Layout, scheme.MaxParties).Decode(sums[^1]);
        return RoundOutcome.Finish(OutcomeTotalsStudyResult.Publish(outcomes, decoded));
    }
}
