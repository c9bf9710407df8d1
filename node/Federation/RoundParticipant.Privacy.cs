using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>The round's values and the privacy they spend (<see cref="RoundParticipant"/>).</summary>
public sealed partial class RoundParticipant
{
    /// <summary>
    /// The round's values, and which noise draw of the round they are (0: an exact study). A round that adds DP noise is charged
    /// once per draw, with the noised vector kept: a later attempt of the same round and request re-sends the kept values (no fresh
    /// draw, no second spend) as long as no decryption share of this node was ever issued over them. Once one was, the kept values
    /// are released, and re-sending them over another set of submitters would let the two sums be subtracted (a hospital's update
    /// with only its own noise share): so the re-run draws fresh noise and is charged again, k²ρ in the ledger's unit
    /// (<see cref="PrivacyUnit"/>), against the site's budget for the purpose and year (<see cref="ProtocolRules.RedrawBudget"/>)
    /// and its lifetime budget (<see cref="ProtocolRules.LifetimeBudget"/>), both checked in the transaction that records the
    /// charge. The first draw's ρ must be the accepted study's over its planned rounds, and the study's rounds together may not
    /// spend more than it was accepted for.
    /// </summary>
    private (LocalStatistics Statistics, int Draw) Statistics(WorkItem work, AcceptedStudy accepted, RoundRequest request, ILocalAlgorithm algorithm)
    {
        var rho = algorithm.RoundRho(request, scheme.MaxParties);
        var spentByOtherRounds = node.Store.Read(c => PrivacyLedgerQueries.OtherRoundsRho(c, work.Study.Id.Value, work.Round)) ?? 0;
        accepted.CheckSpend(rho, spentByOtherRounds, algorithm, scheme.MaxParties);
        var data = accepted.Data(node.Store); // every round on the data the study pinned when accepted
        if (rho <= 0)
        {
            return (algorithm.Compute(request, node, data, scheme.MaxParties), 0);
        }

        var requestSha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(WireJson.Serialize(request)));
        var kept = node.Store.Read(c => PrivacyLedgerQueries.LatestDraw(c, work.Study.Id.Value, work.Round));
        if (kept is { } previous)
        {
            if (previous.RequestSha256 != requestSha)
            {
                throw new ParticipationRefusedException("This round already released noisy statistics for another request: a second release would spend its privacy budget again.", AcceptedStudy.RoundParameters);
            }

            var keptValues = FromBytes(previous.NoisedValues);
            var released = node.Store.Read(c => FederationQueries.SharesOverValues(c, work.Study.Id.Value, ValuesDigest(keptValues))) > 0;
            if (!released)
            {
                // The layout (the audit's statistic kinds) is the request's; the freshly computed values are discarded unreleased.
                return (algorithm.Compute(request, node, data, scheme.MaxParties) with { Values = keptValues }, (int)previous.Draw);
            }
        }

        var draw = kept is { } k ? (int)k.Draw + 1 : 1;
        var statistics = algorithm.Compute(request, node, data, scheme.MaxParties);
        var purpose = work.Study.PurposeOfUse.Code;
        var year = Now().Year;
        var policy = node.LoadPolicy();
        var unit = policy.PrivacyUnit;
        node.Store.Write((c, t) =>
        {
            if (draw > 1)
            {
                // A re-run's fresh draw is a release of its own: charged on top of the study's plan, within the site's budgets.
                var charge = unit.Charge(rho);
                var spent = PrivacyLedgerReport.SpentBefore(c, t, unit, purpose, year);
                var budget = policy.PrivacyBudgets.TryGetValue(purpose, out var b) ? b : 0;
                if (!SitePolicy.WithinBudget(spent.PurposeThisYear, charge, budget))
                {
                    throw new ParticipationRefusedException(
                        FormattableString.Invariant($"Round {work.Round} was already released over another set of hospitals; re-running it needs fresh noise, charged again ({unit.ChargeText(rho)}), and {purpose}'s budget has {Math.Max(0, budget - spent.PurposeThisYear):G4} of {budget:G4} left this year."),
                        ProtocolRules.RedrawBudget);
                }

                if (policy.LifetimeBudget is not { } lifetime || !SitePolicy.WithinBudget(spent.Lifetime, charge, lifetime.Rho))
                {
                    throw new ParticipationRefusedException(
                        policy.LifetimeBudget is null
                            ? FormattableString.Invariant($"Round {work.Round} was already released over another set of hospitals; re-running it needs fresh noise, charged again ({unit.ChargeText(rho)}), and this site sets no lifetime_privacy_budget.")
                            : FormattableString.Invariant($"Round {work.Round} was already released over another set of hospitals; re-running it needs fresh noise, charged again ({unit.ChargeText(rho)}), and this node's lifetime budget has {Math.Max(0, policy.LifetimeBudget.Rho - spent.Lifetime):G4} of {policy.LifetimeBudget.Rho:G4} left (all purposes and years)."),
                        ProtocolRules.LifetimeBudget);
                }
            }

            return PrivacyLedgerQueries.InsertRound(c, t, new LedgerRound(work.Study.Id.Value, work.Round, purpose, year, rho, request.Algorithm, Now().ToString("O"), draw, unit.GroupSize),
                requestSha, ToBytes(statistics.Values));
        });
        var stored = node.Store.Read(c => PrivacyLedgerQueries.NoisedValues(c, work.Study.Id.Value, work.Round, draw));
        return (statistics with { Values = FromBytes(stored) }, draw);
    }

    private static byte[] ToBytes(long[] values) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    private static long[] FromBytes(byte[] bytes) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(bytes).ToArray();
}
