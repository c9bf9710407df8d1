using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Crypto;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// The node's side of a t-of-n study (docs/protocol.md, "t-of-n committees"; Mouchet, Bertrand and Hubaux, J. Cryptology 2023):
/// the attempt's channel key, named in its signed key-share commitment; the Shamir shares of its attempt secret dealt to every other
/// key holder over the private channel (<see cref="DealShares"/>); every dealer's share checked and summed into its committee secret
/// before it encrypts (<see cref="FormCommitteeSecret"/>); its signed word that it is ready to decrypt (<see cref="DecryptReady"/>);
/// and its decryption share weighted for the decrypting set, which it checks (<see cref="CheckDecryptSet"/>).
/// </summary>
public sealed partial class RoundParticipant
{
    private static readonly byte[] ChannelSalt = Encoding.ASCII.GetBytes("ftwin-committee-channel-key");

    private ICommitteeThresholdScheme Committee => scheme as ICommitteeThresholdScheme
        ?? throw new ParticipationRefusedException($"The encryption scheme {scheme.Name} has no t-of-n decryption.", ProtocolRules.CommitteeThreshold);

    /// <summary>The phases of an attempt, hence the node's own deadline for it: two more (share_deal, decrypt_ready) in a t-of-n study.</summary>
    private static int Phases(AcceptedStudy accepted) => accepted.Spec.CommitteeThreshold is null ? PhasesPerAttempt : PhasesPerAttempt + 2;

    /// <summary>
    /// A t-of-n study's phase after key_open: this node's Shamir shares f(α_j) of its attempt secret, one sealed to each other member of
    /// the key-share commitment set it recorded (their channel keys as their signed commitments name them), signed over the manifest.
    /// </summary>
    public Contribution DealShares(WorkItem work, CollectiveKeyAnnouncement announcement) => AuditRefusal(AuditActions.KeyShareRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(announcement);
        var (accepted, _, key) = Continue(work);
        var threshold = accepted.Spec.CommitteeThreshold ?? throw new ParticipationRefusedException($"Study {accepted.Spec.Id} decrypts with every participant: nothing is dealt.", ProtocolRules.ProtocolOrder);
        var keySet = RecordedSet(work, ContributionKind.KeyShare)
            ?? throw new ParticipationRefusedException("This node never accepted the attempt's key-share commitment set: it deals to nobody.", ProtocolRules.ProtocolOrder);
        if (announcement.Commitments.Digest() != keySet.Digest)
        {
            throw new ParticipationRefusedException("The key announcement's commitment set is not the one this node accepted: it deals only to the members it saw.", ProtocolRules.CommitmentSetEquivocation);
        }

        var secret = DealerSecret(work);
        var points = CommitteePoints.Of(keySet.Keys);
        var members = keySet.Keys.Order(StringComparer.Ordinal).ToList();
        var shares = Committee.DealShares(secret, threshold, [.. members.Select(k => points[k])], DealingContext(work, key.CrpSeed, keySet.Digest));
        var channels = announcement.Commitments.Commitments.ToDictionary(c => c.NodePublicKey, c => c.ChannelKey!, StringComparer.Ordinal);
        var own = node.Identity.PublicKey;
        using var channel = ChannelKeyFor(work, secret);
        var sealedShares = new List<SealedShare>();
        for (var i = 0; i < members.Count; i++)
        {
            if (members[i] != own)
            {
                var binding = new ChannelBinding(work.Study.Id, work.Round, work.Attempt, key.CrpSeed, own, members[i], channel.PublicKey, channels[members[i]]);
                sealedShares.Add(new SealedShare(members[i], channel.Seal(binding, shares[i])));
            }
        }

        var bundle = new ShareBundle(sealedShares);
        var payload = bundle.ToBytes();
        var manifest = bundle.Manifest();
        node.Audit.Append(NodeAuditRecords.CommitteeSharesDealt(work, threshold, manifest, payload.Length));
        return new Contribution(work.Study.Id, work.Round, work.Attempt, payload,
            node.Identity.Sign(SignedStatement.ShareDeal(work.Study.Id, work.Round, work.Attempt, key.CrpSeed, keySet.Digest, threshold, manifest)), CommitmentSetDigest: keySet.Digest);
    });

    /// <summary>
    /// A t-of-n study's phase after update_open: the aggregate checked as for a decryption share (and the release ledger consulted), then
    /// this node's signed word that it holds its committee secret and will decrypt the aggregate if it is in the decrypting set.
    /// </summary>
    public Contribution DecryptReady(WorkItem work, AggregateAnnouncement aggregate) => AuditRefusal(AuditActions.DecryptionShareRefused, work, () =>
    {
        ArgumentNullException.ThrowIfNull(aggregate);
        var (accepted, roster, key) = Continue(work);
        if (accepted.Spec.CommitteeThreshold is null)
        {
            throw new ParticipationRefusedException($"Study {accepted.Spec.Id} decrypts with every participant: there is no decrypting set to be ready for.", ProtocolRules.ProtocolOrder);
        }

        var (own, updateSet, _, submitters, hospitals, released) = CheckAggregate(work, accepted, roster, key, aggregate);
        Ledger.Check(accepted, released, submitters, hospitals, own.ValuesSha256);
        if (node.Store.Read(c => FederationQueries.SealedSecret(c, Attempt(work))).Length == 0 || node.Store.Read(c => FederationQueries.CommitteePoint(c, Attempt(work))) is null)
        {
            throw new ParticipationRefusedException("This node holds no committee secret for the attempt: it cannot help decrypt.", ProtocolRules.AttemptSecretRetired);
        }

        var digest = SignedStatement.Digest(aggregate.Aggregate);
        return new Contribution(work.Study.Id, work.Round, work.Attempt, Convert.FromHexString(digest),
            node.Identity.Sign(SignedStatement.DecryptReady(work.Study.Id, work.Round, work.Attempt, key.CrpSeed, digest, updateSet.Digest)), digest, updateSet.Digest);
    });

    /// <summary>
    /// Before this node encrypts: every other member of the key-share commitment set it recorded dealt it exactly one share, each under a
    /// manifest signed by the dealer's rostered key that covers exactly the set's other members, each opening on the channel from that
    /// dealer's committed channel key; their sum with its own share is its committee secret s'_j, sealed in place of its attempt secret.
    /// </summary>
    private void FormCommitteeSecret(WorkItem work, PinnedRoster roster, AttemptKeyRow key, RecordedCommitmentSet keySet, CommitmentSet keyCommitments, DealtShares? dealt, int threshold)
    {
        if (node.Store.Read(c => FederationQueries.CommitteePoint(c, Attempt(work))) is not null)
        {
            return; // formed before (a retry of this phase)
        }

        if (dealt is null || dealt.Study != work.Study.Id || dealt.Round != work.Round || dealt.Attempt != work.Attempt)
        {
            throw new ParticipationRefusedException("No dealt shares for this attempt: this node cannot form its committee secret.", ProtocolRules.CommitteeShareBundle);
        }

        var own = node.Identity.PublicKey;
        var others = keySet.Keys.Where(k => k != own).Order(StringComparer.Ordinal).ToList();
        var dealers = dealt.Shares.Select(s => s.DealerPublicKey).ToList();
        if (dealers.Distinct(StringComparer.Ordinal).Count() != dealers.Count)
        {
            throw new ParticipationRefusedException("A dealer appears twice among the shares dealt to this node.", ProtocolRules.CommitteeShareBundle);
        }

        if (dealers.FirstOrDefault(d => !others.Contains(d)) is { } stranger)
        {
            throw new ParticipationRefusedException($"A share was dealt by key {stranger}, which is not another member of the attempt's key-share commitment set.", ProtocolRules.CommitteeShareBundle);
        }

        if (others.FirstOrDefault(k => !dealers.Contains(k)) is { } missing)
        {
            throw new ParticipationRefusedException($"{roster.Roster.MemberOf(missing)?.Name ?? missing} dealt no share to this node: its committee secret would be wrong.", ProtocolRules.CommitteeShareBundle);
        }

        var secret = DealerSecret(work);
        var points = CommitteePoints.Of(keySet.Keys);
        var point = points[own];
        var channels = keyCommitments.Commitments.ToDictionary(c => c.NodePublicKey, c => c.ChannelKey!, StringComparer.Ordinal);
        using var channel = ChannelKeyFor(work, secret);
        var shares = new List<ReadOnlyMemory<byte>> { Committee.DealShares(secret, threshold, [point], DealingContext(work, key.CrpSeed, keySet.Digest))[0] };
        foreach (var s in dealt.Shares)
        {
            var name = roster.Roster.MemberOf(s.DealerPublicKey)?.Name ?? s.DealerPublicKey;
            var recipients = s.Manifest.Select(m => m.RecipientKey).ToList();
            if (!recipients.Order(StringComparer.Ordinal).SequenceEqual(keySet.Keys.Where(k => k != s.DealerPublicKey).Order(StringComparer.Ordinal)))
            {
                throw new ParticipationRefusedException($"The shares {name} dealt are not addressed to exactly the other members of the attempt's key-share commitment set.", ProtocolRules.CommitteeShareBundle);
            }

            if (s.Manifest.Single(m => m.RecipientKey == own).Sha256 != SignedStatement.Digest(s.Sealed)
                || !Ed25519Identity.Verify(s.DealerPublicKey, SignedStatement.ShareDeal(work.Study.Id, work.Round, work.Attempt, key.CrpSeed, keySet.Digest, threshold, s.Manifest), s.Signature))
            {
                throw new ParticipationRefusedException($"The share {name} dealt to this node is not the one it signed for this attempt, commitment set and threshold.", ProtocolRules.CommitteeShareBundle);
            }

            try
            {
                shares.Add(channel.Open(new ChannelBinding(work.Study.Id, work.Round, work.Attempt, key.CrpSeed, s.DealerPublicKey, own, channels[s.DealerPublicKey], channel.PublicKey), s.Sealed));
            }
            catch (ChannelOpenException e)
            {
                throw new ParticipationRefusedException($"The share {name} dealt to this node does not open on their channel: {e.Message}", ProtocolRules.CommitteeShareBundle);
            }
        }

        ThresholdSecret committeeSecret;
        try
        {
            committeeSecret = Committee.CombineShamirShares(point, shares);
        }
        catch (Crypto.Serialization.CryptoFormatException e)
        {
            throw new ParticipationRefusedException($"A dealt share is not a share for this node's point {point}: {e.Message}", ProtocolRules.CommitteeShareBundle);
        }

        var sealedSecret = node.Protector.Protect(committeeSecret.Export());
        node.Store.Write((c, t) =>
        {
            var stored = FederationQueries.StoreCommitteeSecret(c, t, Attempt(work), sealedSecret, point);
            if (stored == 1)
            {
                node.Audit.Append(c, t, NodeAuditRecords.CommitteeSecretFormed(work, threshold, point, others));
            }

            return stored;
        });
    }

    /// <summary>
    /// The decrypting set of the aggregate announcement, as this node will weight its share for it: named, without repeats, within the
    /// key-share commitment set it recorded, at least the study's t and the site's min_committee_threshold, and with this node in it.
    /// </summary>
    private IReadOnlyList<string> CheckDecryptSet(WorkItem work, AggregateAnnouncement aggregate, int threshold)
    {
        var set = aggregate.DecryptSet ?? throw new ParticipationRefusedException("The aggregate names no decrypting set: a t-of-n share is weighted for one.", ProtocolRules.CommitteeDecryptSet);
        var keySet = RecordedSet(work, ContributionKind.KeyShare) ?? throw new ParticipationRefusedException("This node never accepted the attempt's key-share commitment set.", ProtocolRules.ProtocolOrder);
        if (set.Distinct(StringComparer.Ordinal).Count() != set.Count)
        {
            throw new ParticipationRefusedException("A member appears twice in the decrypting set.", ProtocolRules.CommitteeDecryptSet);
        }

        if (set.FirstOrDefault(k => !keySet.Keys.Contains(k)) is { } stranger)
        {
            throw new ParticipationRefusedException($"The decrypting set names key {stranger}, which holds no share of the attempt's key (not in the key-share commitment set this node accepted).", ProtocolRules.CommitteeDecryptSet);
        }

        var needed = Math.Max(threshold, node.LoadPolicy().MinCommitteeThreshold ?? int.MaxValue);
        if (set.Count < needed)
        {
            throw new ParticipationRefusedException($"The decrypting set has {set.Count} member(s); this node decrypts with at least {needed} (the study's committee_threshold and the site's min_committee_threshold).", ProtocolRules.CommitteeThreshold);
        }

        return set.Contains(node.Identity.PublicKey)
            ? [.. set.Order(StringComparer.Ordinal)]
            : throw new ParticipationRefusedException("This node is not in the decrypting set it is asked to decrypt for.", ProtocolRules.CommitteeDecryptSet);
    }

    /// <summary>This node's share, its committee secret weighted by its Lagrange coefficient for the decrypting set's points.</summary>
    private byte[] CommitteeDecryptionShare(WorkItem work, ThresholdSecret secret, IReadOnlyList<string> decryptSet, byte[] aggregate)
    {
        var keySet = RecordedSet(work, ContributionKind.KeyShare)!;
        if (!Committee.IsCommitteeSecret(secret))
        {
            throw new ParticipationRefusedException("This node never formed its committee secret for the attempt.", ProtocolRules.ProtocolOrder);
        }

        var points = CommitteePoints.Of(keySet.Keys);
        return Committee.GenerateCommitteeDecryptionShare(secret, [.. decryptSet.Select(k => points[k])], aggregate);
    }

    /// <summary>The attempt's dealer secret s_i (the committee secret replaces it once formed: then there is nothing left to deal).</summary>
    private ThresholdSecret DealerSecret(WorkItem work)
    {
        var sealedSecret = node.Store.Read(c => FederationQueries.SealedSecret(c, Attempt(work)));
        if (sealedSecret.Length == 0 || node.Store.Read(c => FederationQueries.CommitteePoint(c, Attempt(work))) is not null)
        {
            throw new ParticipationRefusedException("This node no longer holds its attempt secret (deleted, or replaced by its committee secret): it deals nothing more.", ProtocolRules.AttemptSecretRetired);
        }

        return scheme.ImportSecret(node.Protector.Unprotect(sealedSecret));
    }

    /// <summary>The public part of this node's channel key for the attempt.</summary>
    private byte[] OwnChannelKey(WorkItem work)
    {
        using var channel = ChannelKeyFor(work, DealerSecret(work));
        return channel.PublicKey;
    }

    /// <summary>
    /// The attempt's X25519 channel key, derived from the attempt secret (HKDF-SHA256, RFC 5869, bound to the attempt): ephemeral as the
    /// secret is, needing no storage of its own, and gone when the secret is replaced or deleted.
    /// </summary>
    private static CommitteeChannelKey ChannelKeyFor(WorkItem work, ThresholdSecret secret)
    {
        var ikm = secret.Export();
        var seed = HKDF.DeriveKey(HashAlgorithmName.SHA256, ikm, 32, ChannelSalt, Encoding.UTF8.GetBytes($"{work.Study.Id}\n{work.Round}\n{work.Attempt}"));
        CryptographicOperations.ZeroMemory(ikm);
        try
        {
            return CommitteeChannelKey.FromSeed(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>What a dealing is bound to: the attempt, its CRP seed and the key-share commitment set (hence the members and their points).</summary>
    private static byte[] DealingContext(WorkItem work, byte[] crpSeed, string keySetDigest) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/committee-deal\n{work.Study.Id}\n{work.Round}\n{work.Attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{keySetDigest}");

    /// <summary>Deletes attempt secrets (<see cref="FederationQueries.RetireSecrets"/>), auditing each committee secret among them (committee_secret_deleted).</summary>
    private int RetireSecrets(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction t, AttemptRef attempt, string reason, bool belowAttempt = false)
    {
        foreach (var held in FederationQueries.HeldCommitteeSecrets(c, t, attempt, belowAttempt))
        {
            node.Audit.Append(c, t, NodeAuditRecords.CommitteeSecretDeleted(held.Study, held.Round, held.Attempt, reason));
        }

        return FederationQueries.RetireSecrets(c, t, attempt, reason, Now().ToString("O"), belowAttempt);
    }
}
