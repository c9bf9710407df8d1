using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using System.Data.Common;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The round's side of the node endpoints: work items, contributions (commitments, openings, decryption shares) and the announcements
/// nodes check before their next step. The coordinator checks every contribution's signature and binding too (an opening must hash to
/// its node's commitment and be signed over the commitment set the coordinator relayed), so an honest coordinator stops a malformed or
/// equivocating participant early; nodes never rely on these checks, they make their own (RoundParticipant).
/// </summary>
public sealed partial class NodeGateway
{
    /// <summary>
    /// Keeps the data version a node's work poll carried (docs/privacy.md, "Data freshness"): the latest value and when it changed,
    /// which the study templates' refresh rules compare (<see cref="StudyRefresh"/>). A poll without one changes nothing.
    /// </summary>
    public void RecordDataVersion(NodeId node, long dataVersion, DateTimeOffset now)
    {
        if (store.Read(c => NodeQueries.DataVersion(c, null, node.Value)) != dataVersion)
        {
            store.Write((c, t) => NodeQueries.RecordDataVersion(c, t, node.Value, dataVersion, now));
        }
    }

    public WorkResponse WorkFor(NodeId node) => store.Read(c =>
    {
        var items = new List<WorkItem>();
        var offered = StudyQueries.OfferedUndecidedBy(c, null, node.Value);
        items.AddRange(offered.Select(s => new WorkItem(WorkKind.StudyOffer, s.Spec)));
        var running = StudyQueries.InState(c, null, StudyState.Running);
        foreach (var s in running)
        {
            var a = RoundQueries.Attempt(c, null, s.study_id, s.current_round, s.current_attempt, ciphertexts: false);
            if (!a.Participants.Contains(node.Value) || a.Phase.Work() is not { } kind || RoundQueries.HasContributed(c, null, a.study_id, a.round, a.attempt, a.Phase.Kind()!, node.Value))
            {
                continue;
            }

            // t-of-n: only the decrypting set is asked to decrypt.
            if (a.Phase == AttemptPhase.Decrypt && s.Spec.CommitteeThreshold is { } threshold && !RoundEngine.DecryptSet(c, null, a, threshold).Contains(node.Value))
            {
                continue;
            }

            items.Add(new WorkItem(kind, s.Spec, (int)a.round, (int)a.attempt, a.Deadline, a.crp_seed, a.Request));
        }

        var roster = RosterQueries.Latest(c, null);
        var models = RegistryQueries.CatalogEntries(c);
        return new WorkResponse(items, roster is { } r ? (int)r.version : null, roster is { } d ? SignedStatement.Digest(d.document) : null,
            models.Count == 0 ? null : ModelCatalog.Digest(models));
    });

    /// <summary>Accepts a commitment, opening or decryption share for the current attempt, after checking its node signature and binding.</summary>
    public void Contribute(NodeId node, string kind, StudyId study, int round, int attempt, Contribution contribution, DateTimeOffset now)
    {
        try
        {
            Accept(node, kind, study, round, attempt, contribution, now);
            signals.ContributionArrived.Pulse();
        }
        catch (ProtocolRefusalException e)
        {
            store.Write((c, t) =>
            {
                audit.Append(c, t, CoordinatorAuditRecords.ContributionRefused(study.Value, PurposeOf(c, t, study), node.Value, kind, round, attempt, e.Status, $"{e.Title}: {e.Message}"), now);
            });
            throw;
        }
    }

    private void Accept(NodeId node, string kind, StudyId study, int round, int attempt, Contribution contribution, DateTimeOffset now) => store.Write((c, t) =>
    {
        if (contribution.Study != study || contribution.Round != round || contribution.Attempt != attempt)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Mismatched contribution", "The body names another study, round or attempt than the path.");
        }

        var current = StudyQueries.Find(c, t, study.Value);
        if (current is null || current.State != StudyState.Running || current.current_round != round || current.current_attempt != attempt)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Not the current attempt", $"Study '{study}' round {round} attempt {attempt} is not in progress.");
        }

        var a = RoundQueries.Attempt(c, t, study.Value, round, attempt);
        if (!a.Participants.Contains(node.Value))
        {
            throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not a participant", "This node is not a participant of the attempt.");
        }

        var expectedPhase = AttemptPhases.Of(kind);
        if (a.Phase != expectedPhase)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong phase", $"The attempt is in phase {a.phase}, not {expectedPhase.ToWire()}.");
        }

        var spec = current.Spec;
        if (kind == ContributionKind.DecryptionShare && spec.CommitteeThreshold is { } threshold && !RoundEngine.DecryptSet(c, t, a, threshold).Contains(node.Value))
        {
            throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not in the decrypting set", "This node is not one of the attempt's decrypting set: its share is not asked for.");
        }

        // A t-of-n study's key-share commitment carries the node's channel key (32 bytes, X25519), which its signature covers; an n-of-n one none.
        var channelKey = contribution.ChannelKey;
        if (kind == ContributionKind.KeyShareCommitment && spec.CommitteeThreshold is not null ? channelKey?.Length != CommitteeChannelKey.PublicKeyLength : channelKey is not null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed channel key", spec.CommitteeThreshold is not null && kind == ContributionKind.KeyShareCommitment
                ? "A key-share commitment of a t-of-n study carries the node's 32-byte X25519 channel key."
                : "Only a key-share commitment of a t-of-n study carries a channel key.");
        }

        var publicKey = NodeQueries.PublicKey(c, t, node.Value);
        if (!Ed25519Identity.Verify(publicKey, Statement(c, t, kind, a, spec, node, contribution), contribution.Signature))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Bad contribution signature", "The contribution's signature does not verify under the node's key for this attempt, kind and commitment set.");
        }

        CheckPayload(kind, a, contribution.Payload);
        var digest = SignedStatement.Digest(contribution.Payload);
        var stored = RoundQueries.ContributionDigest(c, t, study.Value, round, attempt, kind, node.Value);
        if (stored is not null)
        {
            if (stored != digest)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Already contributed", "The node already contributed something else to this phase of the attempt.");
            }

            return; // a retry of the same contribution
        }

        RoundQueries.InsertContribution(c, t, study.Value, round, attempt, kind, node.Value, contribution.Payload, contribution.Signature, digest, now);
        if (channelKey is not null)
        {
            // Kept as its own row, with the commitment's signature that covers it, and relayed with the key-share commitment set.
            RoundQueries.InsertContribution(c, t, study.Value, round, attempt, ContributionKind.ChannelKey, node.Value, channelKey, contribution.Signature, SignedStatement.Digest(channelKey), now);
        }

        audit.Append(c, t, CoordinatorAuditRecords.ContributionReceived(study.Value, PurposeOf(c, t, study), node.Value, kind, round, attempt, digest, contribution.Payload.Length), now);
        store.AfterCommit(t, () => metrics.Contributions.Add(1, new KeyValuePair<string, object?>("kind", kind)));
    });

    /// <summary>
    /// What the contribution's signature must cover, rebuilt from the coordinator's own state: a commitment over a 32-byte digest (an
    /// update's also over the key-share commitment set); an opening that hashes to the node's own commitment, over the set relayed;
    /// a decryption share over this attempt's aggregate and update commitment set.
    /// </summary>
    private byte[] Statement(DbConnection c, DbTransaction t, string kind, AttemptRow a, StudySpec spec, NodeId node, Contribution contribution)
    {
        var study = new StudyId(a.study_id);
        var (round, attempt) = ((int)a.round, (int)a.attempt);
        switch (kind)
        {
            case ContributionKind.KeyShareCommitment:
            case ContributionKind.UpdateCommitment:
            {
                if (contribution.Payload.Length != 32)
                {
                    throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed commitment", "A commitment is the 32-byte SHA-256 of what it commits to.");
                }

                var opened = kind == ContributionKind.KeyShareCommitment ? ContributionKind.KeyShare : ContributionKind.Update;
                var keySet = opened == ContributionKind.Update ? RoundEngine.CommitmentSetOf(c, t, a, ContributionKind.KeyShare).Digest() : null;
                if (contribution.CommitmentSetDigest != keySet)
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong commitment set", "The update commitment is bound to another key-share commitment set than this attempt's.");
                }

                return SignedStatement.Commitment(opened, study, round, attempt, a.crp_seed, contribution.Payload, keySet, contribution.ChannelKey);
            }

            case ContributionKind.KeyShare:
            case ContributionKind.Update:
            {
                var set = RoundEngine.CommitmentSetOf(c, t, a, kind);
                var committed = set.Commitments.FirstOrDefault(k => k.Node == node)
                    ?? throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Not committed", "This node committed to nothing in this attempt: it has nothing to open.");
                if (!System.Security.Cryptography.SHA256.HashData(contribution.Payload).AsSpan().SequenceEqual(committed.Digest))
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Opening does not match commitment", "The opened payload does not hash to this node's commitment.");
                }

                var digest = set.Digest();
                if (contribution.CommitmentSetDigest != digest)
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong commitment set", "The opening is signed over another commitment set than the one this coordinator relayed.");
                }

                return SignedStatement.Opening(kind, study, round, attempt, a.crp_seed, contribution.Payload, digest);
            }

            case ContributionKind.ShareDeal:
            {
                var keySet = RoundEngine.CommitmentSetOf(c, t, a, ContributionKind.KeyShare);
                var keySetDigest = keySet.Digest();
                if (contribution.CommitmentSetDigest != keySetDigest)
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong commitment set", "The share bundle is bound to another key-share commitment set than this attempt's.");
                }

                var bundle = ParseBundle(contribution.Payload);
                var own = NodeQueries.PublicKey(c, t, node.Value);
                var expected = keySet.Keys().Where(k => k != own).ToList();
                var committee = (ICommitteeThresholdScheme)scheme;
                if (!bundle.Shares.Select(s => s.RecipientKey).Order(StringComparer.Ordinal).SequenceEqual(expected)
                    || bundle.Shares.Any(s => s.Sealed.Length != committee.ShamirShareLength + CommitteeChannelKey.Overhead))
                {
                    throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed share bundle", $"A share bundle holds one sealed share of {committee.ShamirShareLength + CommitteeChannelKey.Overhead} bytes for each of the {expected.Count} other key holders of the attempt, once.");
                }

                return SignedStatement.ShareDeal(study, round, attempt, a.crp_seed, keySetDigest, spec.CommitteeThreshold!.Value, bundle.Manifest());
            }

            case ContributionKind.DecryptReady:
            {
                var updateSet = RoundEngine.CommitmentSetOf(c, t, a, ContributionKind.Update).Digest();
                if (contribution.AggregateDigest != a.aggregate_digest || contribution.CommitmentSetDigest != updateSet
                    || !contribution.Payload.AsSpan().SequenceEqual(Convert.FromHexString(a.aggregate_digest!)))
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong aggregate", "The decrypt-ready statement is bound to another aggregate or commitment set.");
                }

                return SignedStatement.DecryptReady(study, round, attempt, a.crp_seed, a.aggregate_digest!, updateSet);
            }

            default:
            {
                var updateSet = RoundEngine.CommitmentSetOf(c, t, a, ContributionKind.Update).Digest();
                if (contribution.AggregateDigest != a.aggregate_digest || contribution.CommitmentSetDigest != updateSet)
                {
                    throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong aggregate", "The decryption share is bound to another aggregate or commitment set.");
                }

                var decryptSet = spec.CommitteeThreshold is { } threshold ? DecryptSetDigest(c, t, a, threshold) : null;
                return SignedStatement.DecryptionShare(study, round, attempt, a.crp_seed, contribution.Payload, a.aggregate_digest!, updateSet, decryptSet);
            }
        }
    }

    private static ShareBundle ParseBundle(byte[] payload)
    {
        try
        {
            return ShareBundle.Parse(payload);
        }
        catch (FormatException e)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed share bundle", $"The payload is not a share bundle: {e.Message}");
        }
    }

    /// <summary>The decrypting set of a t-of-n attempt by its members' public keys (what nodes check and bind their shares to).</summary>
    private static List<string> DecryptSetKeys(DbConnection c, DbTransaction? t, AttemptRow a, int threshold) =>
        [.. RoundEngine.DecryptSet(c, t, a, threshold).Select(n => NodeQueries.PublicKey(c, t, n)).Order(StringComparer.Ordinal)];

    private static string DecryptSetDigest(DbConnection c, DbTransaction? t, AttemptRow a, int threshold) => ParticipantSet.Digest(DecryptSetKeys(c, t, a, threshold));

    /// <summary>
    /// Every dealer's share addressed to this node in a t-of-n attempt, once every key holder dealt: the dealer's signed manifest and the
    /// one sealed share for this node (the coordinator cannot open it, and relays nobody else's).
    /// </summary>
    public DealtShares Shares(NodeId node, StudyId study, int round, int attempt) => store.Read(c =>
    {
        var a = ParticipantAttempt(c, node, study, round, attempt);
        if (!a.Phase.IsPast(AttemptPhase.ShareDeal))
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Shares not dealt", "Not every key holder has dealt its shares yet.");
        }

        var own = NodeQueries.PublicKey(c, null, node.Value);
        var relayed = new List<RelayedShare>();
        foreach (var dealt in RoundEngine.Contributions(c, null, a, ContributionKind.ShareDeal))
        {
            if (dealt.node_id == node.Value)
            {
                continue;
            }

            var bundle = ShareBundle.Parse(dealt.payload);
            if (bundle.Shares.FirstOrDefault(s => s.RecipientKey == own) is { } mine)
            {
                relayed.Add(new RelayedShare(new NodeId(dealt.node_id), dealt.public_key, bundle.Manifest(), mine.Sealed, dealt.signature));
            }
        }

        return new DealtShares(study, round, attempt, relayed);
    });

    /// <summary>The complete commitment set of an attempt (kind key-share or update), once every participant committed.</summary>
    public CommitmentSet Commitments(NodeId node, StudyId study, int round, int attempt, string kind) => store.Read(c =>
    {
        if (kind is not (ContributionKind.KeyShare or ContributionKind.Update))
        {
            throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown commitment kind", $"'{kind}' is not key-share or update.");
        }

        var a = ParticipantAttempt(c, node, study, round, attempt);
        var commitPhase = kind == ContributionKind.KeyShare ? AttemptPhase.KeyCommit : AttemptPhase.UpdateCommit;
        if (!a.Phase.IsPast(commitPhase))
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Commitments not complete", $"Not every participant has committed its {kind} yet.");
        }

        return RoundEngine.CommitmentSetOf(c, null, a, kind);
    });

    /// <summary>The key announcement's body for a participant, built once per attempt (<see cref="AnnouncementCache"/>).</summary>
    public PreparedBody KeyAnnouncementBody(NodeId node, StudyId study, int round, int attempt, AnnouncementCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var key = AnnouncementCache.Key(study, round, attempt, "key");
        var body = cache.Find(key) ?? cache.GetOrBuild(key, () => WireJson.Serialize(KeyAnnouncement(node, study, round, attempt)));
        RequireParticipant(node, study, round, attempt);
        return body;
    }

    /// <summary>The aggregate announcement's body for a participant, built once per attempt (<see cref="AnnouncementCache"/>).</summary>
    public PreparedBody AggregateBody(NodeId node, StudyId study, int round, int attempt, AnnouncementCache cache)
    {
        ArgumentNullException.ThrowIfNull(cache);
        var key = AnnouncementCache.Key(study, round, attempt, "aggregate");
        if (cache.Find(key) is { } cached)
        {
            RequireParticipant(node, study, round, attempt);
            return cached;
        }

        // A t-of-n attempt's announcement gains its decrypting set (and the decrypt phase's deadline) once decrypt_ready ends: only
        // that final form is kept; the earlier one is built per request.
        var announcement = Aggregate(node, study, round, attempt);
        var committee = announcement.DecryptSet is null && store.Read(c => StudyQueries.Get(c, null, study.Value).Spec.CommitteeThreshold is not null);
        return committee ? PreparedBody.Of(WireJson.Serialize(announcement)) : cache.GetOrBuild(key, () => WireJson.Serialize(announcement));
    }

    /// <summary>
    /// Every request's own participant check, on the attempt's state without its ciphertexts (a body was built from the attempt,
    /// so it exists; a concurrent first request may have built it under another participant's request).
    /// </summary>
    private void RequireParticipant(NodeId node, StudyId study, int round, int attempt)
    {
        var a = store.Read(c => RoundQueries.Attempt(c, null, study.Value, round, attempt, ciphertexts: false));
        if (!a.Participants.Contains(node.Value))
        {
            throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not a participant", "This node is not a participant of the attempt.");
        }
    }

    public CollectiveKeyAnnouncement KeyAnnouncement(NodeId node, StudyId study, int round, int attempt) => store.Read(c =>
    {
        var a = ParticipantAttempt(c, node, study, round, attempt);
        if (a.collective_key is null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Key not ready", "The collective key is not formed yet.");
        }

        return new CollectiveKeyAnnouncement(study, round, attempt, a.crp_seed, a.collective_key, RoundEngine.CommitmentSetOf(c, null, a, ContributionKind.KeyShare), Openings(c, a, ContributionKind.KeyShare));
    });

    public AggregateAnnouncement Aggregate(NodeId node, StudyId study, int round, int attempt) => store.Read(c =>
    {
        var a = ParticipantAttempt(c, node, study, round, attempt);
        if (a.aggregate is null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Aggregate not ready", "The aggregate is not formed yet.");
        }

        var spec = StudyQueries.Get(c, null, study.Value).Spec;
        var decryptSet = spec.CommitteeThreshold is { } threshold && a.Phase.IsPast(AttemptPhase.DecryptReady) ? DecryptSetKeys(c, null, a, threshold) : null;
        return new AggregateAnnouncement(study, round, attempt, a.aggregate, RoundEngine.CommitmentSetOf(c, null, a, ContributionKind.Update), Openings(c, a, ContributionKind.Update), a.Deadline, decryptSet);
    });

    private static List<SignedContribution> Openings(DbConnection c, AttemptRow a, string kind) =>
        [.. RoundEngine.Contributions(c, null, a, kind).Select(s => new SignedContribution(new NodeId(s.node_id), s.public_key, s.payload, s.signature))];

    private static AttemptRow ParticipantAttempt(DbConnection c, NodeId node, StudyId study, int round, int attempt)
    {
        var a = RoundQueries.FindAttempt(c, null, study.Value, round, attempt)
            ?? throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown attempt", $"No attempt {attempt} of round {round} of study '{study}'.");
        return a.Participants.Contains(node.Value) ? a : throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not a participant", "This node is not a participant of the attempt.");
    }

    private void CheckPayload(string kind, AttemptRow a, byte[] payload)
    {
        try
        {
            switch (kind)
            {
                case ContributionKind.KeyShare:
                    _ = scheme.AggregatePublicKey(a.crp_seed, [payload]);
                    break;
                case ContributionKind.Update:
                    scheme.NewSum(a.Request.ValueCount).Add(payload);
                    break;
                case ContributionKind.DecryptionShare:
                    _ = scheme.CombineDecryptionShares(a.aggregate!, [payload]);
                    break;
            }
        }
        catch (CryptoFormatException e)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed contribution", e.Message);
        }
    }
}
