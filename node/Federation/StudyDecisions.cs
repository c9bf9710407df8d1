using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// The node's answer to a study offer, stored with the study exactly as offered (decisions.spec_json): every later round
/// is checked against that stored study (<see cref="AcceptedStudy"/>), never against what the coordinator re-sends.
/// <paramref name="maxParties"/> is the encryption scheme's: it fixes the study's fixed-point layouts, hence what its noise
/// really spends (<see cref="StudyAccounting"/>).
/// </summary>
public sealed class StudyDecisions(NodeDirectory node, int maxParties, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Decisions for a node on the default encryption scheme (<see cref="RlweThresholdScheme.Default"/>), by <paramref name="clock"/> (the system's unless given).</summary>
    public StudyDecisions(NodeDirectory node, TimeProvider? clock = null)
        : this(node, RlweThresholdScheme.Default.MaxParties, clock)
    {
    }

    /// <summary>
    /// The policy decision, recorded with the privacy it spends in one transaction: the ρ a study declares (per hospital record)
    /// is charged in the ledger's unit, k²ρ with k the policy's max_sites_per_person (<see cref="PrivacyUnit"/>), to the purpose's
    /// budget for the calendar year and to the node's lifetime budget when the node accepts (whether or not the study later
    /// completes — its noisy statistics may already have left), so concurrent offers cannot overspend either.
    /// </summary>
    public PolicyDecision Decide(StudySpec study)
    {
        ArgumentNullException.ThrowIfNull(study);

        // Loaded before the transaction: a new or changed policy is audited (policy_loaded) on a connection of its own,
        // which would wait on this transaction's lock.
        var (policy, policySha256) = node.LoadPolicyWithHash();
        return node.Store.Write((c, t) => Decide(c, t, study, policy, policySha256));
    }

    private PolicyDecision Decide(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction t, StudySpec study, SitePolicy policy, string policySha256)
    {
        var year = _clock.GetUtcNow().Year;
        var existing = StudyQueries.Decision(c, t, study.Id.Value);
        if (existing is { } known)
        {
            return new PolicyDecision(known.Accept, known.Rule, known.Reason); // an offer seen again: the same answer, charged once
        }

        var unit = policy.PrivacyUnit;
        var spent = PrivacyLedgerReport.SpentBefore(c, t, unit, study.PurposeOfUse.Code, year);
        var decision = policy.Decide(study, spent);
        if (decision.Accept && RosterDecision(c, t, study, policy) is { } refusal)
        {
            decision = refusal;
        }

        if (decision.Accept)
        {
            var (refused, account) = Accounting(study);
            decision = refused ?? (account is null ? decision : decision with { Reason = $"{decision.Reason}; {account.Describe()}" });
        }

        if (SitePolicy.StudyRho(study) > 0)
        {
            // Both spends the rules check, and whom they protect: the coordinator shows this reason to the study's analysts.
            decision = decision with
            {
                Reason = FormattableString.Invariant($"{decision.Reason} (rho spent per {unit.Name}: {spent.PurposeThisYear:G4} for {study.PurposeOfUse} this year, {spent.Lifetime:G4} over the node's life, all purposes{(policy.LifetimeBudget is { } l ? FormattableString.Invariant($", of {l.Rho:G4}") : string.Empty)})"),
            };
        }

        var now = _clock.GetUtcNow().ToString("O");
        StudyQueries.InsertDecision(c, t, new DecisionRecord(study.Id.Value, decision.Accept, decision.Rule, decision.Reason, study.PurposeOfUse.Code, study.Algorithm, now,
            System.Text.Encoding.UTF8.GetString(WireJson.Serialize(study))));
        if (decision.Accept && SitePolicy.StudyRho(study) is > 0 and var rho)
        {
            // The study's ρ per hospital record and the k it is charged under: the charge is k²ρ (PrivacyLedgerReport).
            PrivacyLedgerQueries.InsertStudyCharge(c, t, study.Id.Value, study.PurposeOfUse.Code, year, rho, unit.GroupSize, now);
        }

        // The study computes every round on the data as published now (docs/architecture.md, "Snapshots"): pinned in this transaction,
        // so a node restarted mid-study resumes on the same version, and named in the audit entry, so a compliance officer can say
        // which data the study saw. An ingest that publishes later is seen by the next study, never by this one.
        long? dataVersion = null;
        if (decision.Accept)
        {
            dataVersion = FeatureQueries.PublishedVersion(c, t);
            StudyQueries.PinSnapshot(c, t, study.Id.Value, dataVersion.Value, study.Rounds, 2L * RoundParticipant.PhasesPerAttempt * study.PhaseDeadlineSeconds, now);
        }

        var charge = decision.Accept && SitePolicy.StudyRho(study) is > 0 and var charged ? new PrivacyCharge(charged, unit) : null;
        node.Audit.Append(c, t, NodeAuditRecords.StudyDecision(study, decision, policySha256, charge, dataVersion));
        node.Audit.Checkpoint(c, t, CheckpointReasons.StudyDecision);

        return decision;
    }

    /// <summary>
    /// After the policy's rules, for a DP study: what its releases really spend as sums of the hospitals' discrete Gaussian shares
    /// (Kairouz, Liu &amp; Steinke 2021, Prop. 14; <see cref="StudyAccounting"/>), computed here from the study as offered, never taken
    /// from the coordinator's own check. The ledger charges the stated dp_rho, so a study whose true ρ exceeds it by more than
    /// 1% is refused (rule <see cref="AcceptedStudy.TrueRho"/>); an accepted one's reason carries both figures.
    /// </summary>
    private (PolicyDecision? Refused, PrivacyAccount? Account) Accounting(StudySpec study)
    {
        PrivacyAccount? account;
        try
        {
            account = StudyAccounting.Account(study, maxParties);
        }
        catch (StudyFileException e)
        {
            return (new PolicyDecision(false, AcceptedStudy.TrueRho, $"the study's privacy cannot be accounted for: {e.Message}"), null);
        }

        return account is null || account.Holds
            ? (null, account)
            : (new PolicyDecision(false, AcceptedStudy.TrueRho, $"{account.Describe()}: more than 1% over the stated rho the ledger would charge"), account);
    }

    /// <summary>
    /// After the policy's rules: the federation roster this node pinned must exist and list at least the study's min_nodes (and the
    /// site's minimum_nodes) hospitals, or no attempt of the study could ever pass this node's checks (docs/threat-model.md).
    /// </summary>
    private static PolicyDecision? RosterDecision(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction t, StudySpec study, SitePolicy policy)
    {
        var roster = RosterQueries.LatestDocument(c, t);
        if (roster is not { } r)
        {
            return new PolicyDecision(false, PinnedRoster.Missing, "this node has no pinned federation roster (`ftwin node roster pin`): it cannot tell member hospitals from keys the coordinator enrolled");
        }

        var members = SignedRoster.Parse(r.Document).Roster.Members.Count;
        var needed = Math.Max(study.MinNodes, policy.MinimumNodes);
        return members < needed
            ? new PolicyDecision(false, ProtocolRules.RosterMinimum, $"the pinned roster ({r.Federation} version {r.Version}) lists {members} hospitals; the study needs at least {needed}")
            : null;
    }
}
