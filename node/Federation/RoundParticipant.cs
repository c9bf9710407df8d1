using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// A contribution the node will not make, with the reason it gives (and logs and records) and the rule that refused it
/// (<see cref="ProtocolRules"/>, <see cref="AcceptedStudy"/>, <see cref="PinnedRoster"/>), so an auditor can count refusals by rule.
/// </summary>
public sealed class ParticipationRefusedException(string reason, string? rule = null) : Exception(reason)
{
    public string? Rule { get; } = rule;
}

/// <summary>
/// The node's side of a round (docs/protocol.md, protocol version 2): five phases per attempt, each checked against what this node
/// pinned or computed itself, never against what the coordinator says about it.
/// <list type="number">
/// <item><see cref="CommitKeyShare"/>: a fresh secret for the attempt, sealed at rest; only the hash of its public share leaves.</item>
/// <item><see cref="OpenKeyShare"/>: the complete commitment set, every key on the pinned roster and at least the minimum of distinct
/// hospitals, recorded (a second, different set is refused); then the share, signed over the set's digest.</item>
/// <item><see cref="CommitUpdate"/>: every committed share opened and matching its commitment, the collective key their sum; then the
/// statistics are computed, encrypted and stored, and only their hash leaves.</item>
/// <item><see cref="OpenUpdate"/>: the update commitment set checked the same way (committers were key holders); then the ciphertext.</item>
/// <item><see cref="DecryptionShare"/>: every committed ciphertext opened and matching, the aggregate their sum, the node's own among
/// them, and the set of submitters the same as every earlier share this node issued over the same values (exact studies: over the
/// whole study, and over every earlier exact release of the same statistic and cohort in other studies: <see cref="ReleaseLedger"/>),
/// so two decrypted sums never differ by one hospital's update. The share is bound to the aggregate and the set.</item>
/// </list>
/// Every phase first checks the work against the study this node accepted (<see cref="AcceptedStudy"/>), the attempt against the
/// deadline the node computes on its own clock, and the attempt's CRP seed against the one it keyed with. Every contribution is
/// stored before it is sent, so a retry sends the same bytes, and audited in the same transaction (by SHA-256); every refusal is
/// audited with its rule.
/// </summary>
public sealed partial class RoundParticipant(NodeDirectory node, IAdditiveThresholdScheme scheme, IEnumerable<ILocalAlgorithm> algorithms, ILogger<RoundParticipant> logger, TimeProvider? clock = null)
{
    /// <summary>The coordinator's phases of an attempt: the node allows an attempt this many phase deadlines from its first step in it.</summary>
    public const int PhasesPerAttempt = 5;

    /// <summary>The most parties the encryption scheme sums: it fixes the fixed-point layouts, hence a study's privacy account.</summary>
    public int MaxParties => scheme.MaxParties;

    private readonly Dictionary<string, ILocalAlgorithm> _algorithms = algorithms.ToDictionary(a => a.Name, StringComparer.Ordinal);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Phase 1: a fresh secret for this attempt (sealed at rest) and a signed commitment to its public share.</summary>
    public Contribution CommitKeyShare(WorkItem work) => AuditRefusal(AuditActions.KeyShareRefused, work, () =>
    {
        // Refused before any key exists: no collective key can be formed for a round this node would not contribute to.
        var accepted = CheckAccepted(work);
        var roster = RequireRosterWithSelf();
        if (roster.Roster.Members.Count < Minimum(accepted))
        {
            throw new ParticipationRefusedException($"The pinned roster lists {roster.Roster.Members.Count} hospitals; study {accepted.Spec.Id} needs at least {Minimum(accepted)}.", ProtocolRules.RosterMinimum);
        }

        var seed = work.CrpSeed is { } s && s.Length == scheme.CrpSeedLength ? s : throw new ParticipationRefusedException($"The key-share request carries no {scheme.CrpSeedLength}-byte CRP seed.", ProtocolRules.CrpSeed);
        RaiseWatermark(work);
        CheckNotSuperseded(work);
        var stored = AttemptKey(work);
        if (stored is null)
        {
            RetireExpiredSecrets(); // a new attempt is a good moment to drop the secrets of attempts that ran out
            var secret = scheme.GenerateSecret();
            var share = scheme.GeneratePublicKeyShare(secret, seed);
            node.Store.Write((c, t) =>
            {
                var inserted = FederationQueries.InsertKeyShare(c, t, Attempt(work), node.Protector.Protect(secret.Export()), share, seed, Now().ToString("O"));
                if (inserted == 1)
                {
                    node.Audit.Append(c, t, NodeAuditRecords.KeyShareGenerated(work, SignedStatement.Digest(share)));
                }

                return inserted;
            });
            stored = AttemptKey(work)!;
        }

        CheckAttempt(work, accepted, stored);
        var digest = System.Security.Cryptography.SHA256.HashData(stored.KeyShare);

        // A t-of-n study: the attempt's channel key (derived from the attempt secret) is named in the commitment, under the same signature.
        var channel = accepted.Spec.CommitteeThreshold is null ? null : OwnChannelKey(work);
        return new Contribution(work.Study.Id, work.Round, work.Attempt, digest,
            node.Identity.Sign(SignedStatement.Commitment(ContributionKind.KeyShare, work.Study.Id, work.Round, work.Attempt, stored.CrpSeed, digest, channelKey: channel)), ChannelKey: channel);
    });

    /// <summary>Phase 2: the complete key-share commitment set, checked and recorded; then this node's public key share.</summary>
    public Contribution OpenKeyShare(WorkItem work, CommitmentSet commitments) => AuditRefusal(AuditActions.KeyShareRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(commitments);
        var (accepted, roster, key) = Continue(work);
        var setDigest = CheckCommitmentSet(work, accepted, roster, commitments, ContributionKind.KeyShare, key.CrpSeed, key.KeyShare, keySetDigest: null);
        if (accepted.AcceptedRho <= 0)
        {
            // An exact study: an attempt over a set of hospitals the release ledger would refuse at decryption (another set than the
            // study's earlier shares, or than an earlier exact release of the same statistic) is refused before this node's key joins it.
            Ledger.Check(accepted, Algorithm(accepted).ReleasedStatistics(accepted.Spec), commitments.Keys(), ReleaseLedger.Hospitals(roster, commitments.Keys()), valuesSha256: null);
        }

        RecordCommitmentSet(work, roster, commitments, setDigest);
        return new Contribution(work.Study.Id, work.Round, work.Attempt, key.KeyShare,
            node.Identity.Sign(SignedStatement.Opening(ContributionKind.KeyShare, work.Study.Id, work.Round, work.Attempt, key.CrpSeed, key.KeyShare, setDigest)), CommitmentSetDigest: setDigest);
    });

    /// <summary>Phase 3: the collective key checked against the opened shares; this site's update computed, encrypted, stored and committed to.</summary>
    /// <remarks>A t-of-n study: first every dealer's share (<paramref name="dealt"/>) is checked and summed into this node's committee secret.</remarks>
    public Contribution CommitUpdate(WorkItem work, CollectiveKeyAnnouncement announcement, DealtShares? dealt = null) => AuditRefusal(AuditActions.SubmissionRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(announcement);
        var (accepted, roster, key) = Continue(work);
        var keySet = RecordedSet(work, ContributionKind.KeyShare)
            ?? throw new ParticipationRefusedException("This node never saw the attempt's key-share commitment set, so it never opened its share: no collective key can include it.", ProtocolRules.ProtocolOrder);
        if (announcement.Commitments.Digest() != keySet.Digest)
        {
            throw new ParticipationRefusedException("The key announcement's commitment set is not the one this node saw before it opened its share.", ProtocolRules.CommitmentSetEquivocation);
        }

        if (!announcement.CrpSeed.AsSpan().SequenceEqual(key.CrpSeed))
        {
            throw new ParticipationRefusedException("The key announcement names another CRP seed than the one this node keyed the attempt with.", ProtocolRules.CrpSeed);
        }

        var shares = CheckOpenings(work, roster, announcement.Commitments, announcement.Shares, ContributionKind.KeyShare, key.CrpSeed, keySet.Digest);
        var recomputed = scheme.AggregatePublicKey(key.CrpSeed, [.. shares.Select(s => (ReadOnlyMemory<byte>)s.Payload)]);
        if (!recomputed.AsSpan().SequenceEqual(announcement.CollectiveKey))
        {
            throw new ParticipationRefusedException("The collective key is not the sum of the opened key shares over the attempt's CRP: refusing to encrypt under it.", ProtocolRules.CollectiveKey);
        }

        if (accepted.Spec.CommitteeThreshold is { } threshold)
        {
            FormCommitteeSecret(work, roster, key, keySet, announcement.Commitments, dealt, threshold);
        }

        var stored = node.Store.Read(c => FederationQueries.SubmissionCiphertext(c, Attempt(work)));
        if (stored is null)
        {
            var request = work.Request ?? throw new ParticipationRefusedException("The round request is missing.", AcceptedStudy.RoundParameters);
            var algorithm = _algorithms[request.Algorithm];
            var (statistics, draw) = Statistics(work, accepted, request, algorithm);
            var values = statistics.Values;
            if (values.Length != request.ValueCount)
            {
                throw new ParticipationRefusedException($"The round asks for {request.ValueCount} values; this node's {algorithm.Name} computed {values.Length}.", ProtocolRules.RoundLayout);
            }

            CheckExactCounts(accepted, algorithm, values);

            var ciphertext = scheme.Encrypt(announcement.CollectiveKey, values);
            var digest = SignedStatement.Digest(ciphertext);
            var valuesSha = ValuesDigest(values);
            node.Store.Write((c, t) =>
            {
                var inserted = FederationQueries.InsertSubmission(c, t, Attempt(work), ciphertext, digest, values.Length, Now().ToString("O"), valuesSha, draw);
                if (inserted == 1)
                {
                    // What will leave the node: recorded once, when sealed; a retry sends these same bytes.
                    node.Audit.Append(c, t, NodeAuditRecords.Submission(work, digest, values.Length, ciphertext.Length, statistics.Blocks, draw));
                }

                return inserted;
            });
            stored = node.Store.Read(c => FederationQueries.StoredSubmissionCiphertext(c, Attempt(work)));
        }

        var committed = System.Security.Cryptography.SHA256.HashData(stored);
        return new Contribution(work.Study.Id, work.Round, work.Attempt, committed,
            node.Identity.Sign(SignedStatement.Commitment(ContributionKind.Update, work.Study.Id, work.Round, work.Attempt, key.CrpSeed, committed, keySet.Digest)), CommitmentSetDigest: keySet.Digest);
    });

    /// <summary>Phase 4: the complete update commitment set, checked and recorded; then this node's ciphertext.</summary>
    public Contribution OpenUpdate(WorkItem work, CommitmentSet commitments) => AuditRefusal(AuditActions.SubmissionRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(commitments);
        var (accepted, roster, key) = Continue(work);
        var own = OwnSubmission(work) ?? throw new ParticipationRefusedException("This node committed no update to the attempt: there is nothing to open.", ProtocolRules.ProtocolOrder);
        var keySet = RecordedSet(work, ContributionKind.KeyShare) ?? throw new ParticipationRefusedException("This node never saw the attempt's key-share commitment set.", ProtocolRules.ProtocolOrder);
        var setDigest = CheckCommitmentSet(work, accepted, roster, commitments, ContributionKind.Update, key.CrpSeed, own.Ciphertext, keySet.Digest);
        var keyHolders = keySet.Keys.ToHashSet(StringComparer.Ordinal);
        if (commitments.Commitments.FirstOrDefault(c => !keyHolders.Contains(c.NodePublicKey)) is { } stranger)
        {
            throw new ParticipationRefusedException($"An update commitment comes from {stranger.NodePublicKey}, which holds no share of the attempt's key.", ProtocolRules.OpeningMismatch);
        }

        Ledger.Check(accepted, Algorithm(accepted).ReleasedStatistics(accepted.Spec), commitments.Keys(), ReleaseLedger.Hospitals(roster, commitments.Keys()), own.ValuesSha256);
        RecordCommitmentSet(work, roster, commitments, setDigest);
        return new Contribution(work.Study.Id, work.Round, work.Attempt, own.Ciphertext,
            node.Identity.Sign(SignedStatement.Opening(ContributionKind.Update, work.Study.Id, work.Round, work.Attempt, key.CrpSeed, own.Ciphertext, setDigest)), CommitmentSetDigest: setDigest);
    });

    /// <summary>Phase 5: the aggregate checked against the opened updates; this node's one decryption share for it.</summary>
    public Contribution DecryptionShare(WorkItem work, AggregateAnnouncement aggregate) => AuditRefusal(AuditActions.DecryptionShareRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(aggregate);
        var (accepted, roster, key) = Continue(work);
        var digest = SignedStatement.Digest(aggregate.Aggregate);
        var decryptSet = accepted.Spec.CommitteeThreshold is { } t ? CheckDecryptSet(work, aggregate, t) : null;
        var decryptSetDigest = decryptSet is null ? null : ParticipantSet.Digest(decryptSet);
        var issued = node.Store.Read(c => FederationQueries.Share(c, Attempt(work)));
        if (issued is { } previous)
        {
            return previous.AggregateDigest == digest && previous.DecryptSetDigest == decryptSetDigest
                ? SignShare(work, key.CrpSeed, previous.Share, digest, previous.UpdateSetDigest, decryptSetDigest)
                : throw new ParticipationRefusedException(previous.AggregateDigest == digest
                    ? "This node already issued its decryption share of the attempt for another decrypting set."
                    : "This node already issued a decryption share for another aggregate of the same attempt.", ProtocolRules.ShareReissue);
        }

        var (own, updateSet, ciphertexts, submitters, hospitals, released) = CheckAggregate(work, accepted, roster, key, aggregate);
        var sealedSecret = node.Store.Read(c => FederationQueries.SealedSecret(c, Attempt(work)));
        if (sealedSecret.Length == 0)
        {
            var retired = node.Store.Read(c => FederationQueries.SecretRetirement(c, Attempt(work)));
            throw new ParticipationRefusedException(
                $"This node deleted its secret for attempt {work.Attempt} of round {work.Round} ({retired?.Reason ?? "deleted"}{(retired?.At is { } at ? " at " + at : string.Empty)}): it helps decrypt nothing more of that attempt.",
                ProtocolRules.AttemptSecretRetired);
        }

        var secret = scheme.ImportSecret(node.Protector.Unprotect(sealedSecret));
        var share = decryptSet is null
            ? scheme.GenerateDecryptionShare(secret, aggregate.Aggregate)
            : CommitteeDecryptionShare(work, secret, decryptSet, aggregate.Aggregate);
        var submittersSha = ParticipantSet.Digest(submitters);
        node.Store.Write((c, t) =>
        {
            // The release ledger's check and entry in one transaction: what this share releases (values, statistics, exact or not)
            // and over whom (keys, hospitals), refused if it would difference against a release already recorded.
            ReleaseLedger.Check(c, t, accepted, released, submitters, hospitals, own.ValuesSha256);
            var inserted = ReleaseLedger.Record(c, t, work, digest, share, Now(), submitters, hospitals, own.ValuesSha256, updateSet.Digest, released, exact: accepted.AcceptedRho <= 0, decryptSetDigest);
            if (inserted == 1)
            {
                // The node's part in the round ends here: record what it decrypted, over which set, and sign the trail's head.
                node.Audit.Append(c, t, NodeAuditRecords.DecryptionShareIssued(work, digest, updateSet.Digest, submitters, submittersSha, SignedStatement.Digest(share), ciphertexts));
                node.Audit.Checkpoint(c, t, CheckpointReasons.Round);

                // The secret has done its one job: a retry is answered with the stored share, and a second share for another aggregate
                // is refused anyway, so nothing needs it any more. Deleted in the share's own transaction: never both kept and issued.
                RetireSecrets(c, t, Attempt(work), RetiredBecause.ShareIssued);
            }

            return inserted;
        });
        var stored = node.Store.Read(c => FederationQueries.StoredShare(c, Attempt(work)));
        return SignShare(work, key.CrpSeed, stored.Share, stored.AggregateDigest, stored.UpdateSetDigest, stored.DecryptSetDigest);
    });

    /// <summary>
    /// The aggregate announcement against what this node recorded and submitted: the update commitment set it saw, every opening matching,
    /// its own update among them, the aggregate their sum, within one key's decryption budget; then the submitters and what a share releases.
    /// </summary>
    private (OwnSubmissionRow Own, RecordedCommitmentSet UpdateSet, int Ciphertexts, IReadOnlyList<string> Submitters, IReadOnlyList<string> Hospitals, IReadOnlyList<ReleasedStatistic> Released)
        CheckAggregate(WorkItem work, AcceptedStudy accepted, PinnedRoster roster, AttemptKeyRow key, AggregateAnnouncement aggregate)
    {
        var own = OwnSubmission(work) ?? throw new ParticipationRefusedException("This node submitted nothing to the attempt.", ProtocolRules.ProtocolOrder);
        var updateSet = RecordedSet(work, ContributionKind.Update)
            ?? throw new ParticipationRefusedException("This node never saw the attempt's update commitment set, so it never opened its update.", ProtocolRules.ProtocolOrder);
        if (aggregate.Commitments.Digest() != updateSet.Digest)
        {
            throw new ParticipationRefusedException("The aggregate's commitment set is not the one this node saw before it opened its update.", ProtocolRules.CommitmentSetEquivocation);
        }

        var submissions = CheckOpenings(work, roster, aggregate.Commitments, aggregate.Submissions, ContributionKind.Update, key.CrpSeed, updateSet.Digest);
        if (!submissions.Any(s => s.Payload.AsSpan().SequenceEqual(own.Ciphertext)))
        {
            throw new ParticipationRefusedException("The aggregate's submissions do not include this node's update.", ProtocolRules.Aggregate);
        }

        // Sized by this node's own submission, never by a count the coordinator sends (a request for 2^30 values would be ~50 GB).
        var ciphertexts = (own.ValueCount + scheme.ValuesPerCiphertext - 1) / scheme.ValuesPerCiphertext;
        if (own.ValueCount > scheme.MaxValuesPerDecryption)
        {
            throw new ParticipationRefusedException($"The aggregate holds {ciphertexts} ciphertexts; one collective key may be decrypted for at most {scheme.MaxValuesPerDecryption / scheme.ValuesPerCiphertext} (docs/crypto.md §7).", ProtocolRules.SmudgingBudget);
        }

        var sum = scheme.NewSum(own.ValueCount);
        foreach (var s in submissions)
        {
            sum.Add(s.Payload);
        }

        if (!sum.ToBytes().AsSpan().SequenceEqual(aggregate.Aggregate))
        {
            throw new ParticipationRefusedException("The aggregate is not the sum of the opened submissions: refusing to help decrypt it.", ProtocolRules.Aggregate);
        }

        var submitters = aggregate.Commitments.Keys();
        var hospitals = ReleaseLedger.Hospitals(roster, submitters);
        var released = Algorithm(accepted).ReleasedStatistics(accepted.Spec);
        return (own, updateSet, ciphertexts, submitters, hospitals, released);
    }

    private Contribution SignShare(WorkItem work, byte[] crpSeed, byte[] share, string aggregateDigest, string updateSetDigest, string? decryptSetDigest = null) =>
        new(work.Study.Id, work.Round, work.Attempt, share,
            node.Identity.Sign(SignedStatement.DecryptionShare(work.Study.Id, work.Round, work.Attempt, crpSeed, share, aggregateDigest, updateSetDigest, decryptSetDigest)), aggregateDigest, updateSetDigest);

    /// <summary>Runs a phase; a refusal is audited (with its rule and reason) before it propagates.</summary>
    private Contribution AuditRefusal(string action, WorkItem work, Func<Contribution> phase)
    {
        try
        {
            return phase();
        }
        catch (ParticipationRefusedException e)
        {
            node.Audit.Append(NodeAuditRecords.Refused(action, work, e.Message, e.Rule));
            throw;
        }
    }

    private DateTimeOffset Now() => _clock.GetUtcNow();

    /// <summary>The release ledger (decryption_shares), shared by the participant-set and the cross-study differencing checks.</summary>
    private ReleaseLedger Ledger => new(node.Store);

    /// <summary>The local side of the accepted study's algorithm (CheckAccepted has refused a study whose algorithm this node lacks).</summary>
    private ILocalAlgorithm Algorithm(AcceptedStudy accepted) => _algorithms[accepted.Spec.Algorithm];

    private static AttemptRef Attempt(WorkItem work) => new(work.Study.Id.Value, work.Round, work.Attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused to contribute to {Study} round {Round} attempt {Attempt}: {Reason}")]
    internal static partial void LogRefusal(ILogger logger, string study, int round, int attempt, string reason);

    internal ILogger Logger => logger;
}
