using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>The checks every phase of <see cref="RoundParticipant"/> makes, each on what the node itself pinned, stored or computed.</summary>
public sealed partial class RoundParticipant
{
    private sealed record AttemptKeyRow(byte[] KeyShare, byte[] CrpSeed, DateTimeOffset CreatedAt);

    private sealed record OwnSubmissionRow(byte[] Ciphertext, int ValueCount, string ValuesSha256);

    private sealed record RecordedCommitmentSet(string Digest, IReadOnlyList<string> Keys);

    /// <summary>
    /// The work against the study this node accepted: that study, unchanged; its algorithm; the round within a DP study's plan; the
    /// request's parameters exactly the study's, and its value count the layout those parameters imply and within what one key may
    /// decrypt, checked before anything is allocated for it.
    /// </summary>
    private AcceptedStudy CheckAccepted(WorkItem work)
    {
        var accepted = AcceptedStudy.Load(node.Store, work.Study.Id);
        accepted.CheckSameStudy(work.Study);
        var algorithm = _algorithms.GetValueOrDefault(accepted.Spec.Algorithm) ?? throw new ParticipationRefusedException($"This node has no local algorithm {accepted.Spec.Algorithm}.", AcceptedStudy.RoundParameters);
        accepted.CheckRound(work.Round, algorithm, scheme.MaxParties);
        if (work.Request is not { } request)
        {
            throw new ParticipationRefusedException("The work carries no round request to check against the accepted study.", AcceptedStudy.RoundParameters);
        }

        accepted.CheckRequest(request, algorithm);
        int expected;
        try
        {
            expected = algorithm.ValueCount(request, scheme.MaxParties);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or System.Text.Json.JsonException or StudyFileException)
        {
            throw new ParticipationRefusedException($"The round's request has no layout this node can derive: {e.Message}", ProtocolRules.RoundLayout);
        }

        if (request.ValueCount != expected)
        {
            throw new ParticipationRefusedException($"The round asks for {request.ValueCount} values; the layout of study {accepted.Spec.Id} for this round has {expected}.", ProtocolRules.RoundLayout);
        }

        if (expected > scheme.MaxValuesPerDecryption)
        {
            throw new ParticipationRefusedException($"The round's {expected} values exceed what one collective key may be decrypted for ({scheme.MaxValuesPerDecryption}, docs/crypto.md §7).", ProtocolRules.SmudgingBudget);
        }

        return accepted;
    }

    /// <summary>
    /// The checks every phase after the first starts with: the accepted study, the pinned roster (with this node on it), the attempt
    /// not superseded, this node's key share for it (it committed one: otherwise nothing of the attempt is its to continue), the
    /// attempt's CRP seed and this node's own deadline.
    /// </summary>
    private (AcceptedStudy Accepted, PinnedRoster Roster, AttemptKeyRow Key) Continue(WorkItem work)
    {
        var accepted = CheckAccepted(work);
        var roster = RequireRosterWithSelf();
        CheckNotSuperseded(work);
        var key = AttemptKey(work) ?? throw new ParticipationRefusedException("This node committed no key share to the attempt: it has no part in it to continue.", ProtocolRules.ProtocolOrder);
        CheckAttempt(work, accepted, key);
        return (accepted, roster, key);
    }

    /// <summary>The fewest distinct rostered hospitals an attempt may have: the study's min_nodes and the site's own minimum_nodes.</summary>
    private int Minimum(AcceptedStudy accepted) => Math.Max(accepted.Spec.MinNodes, node.LoadPolicy().MinimumNodes);

    /// <summary>The pinned roster, which must list this node's own key (a rotated key not yet on the roster takes part in nothing).</summary>
    private PinnedRoster RequireRosterWithSelf()
    {
        var roster = PinnedRoster.Require(node.Store);
        return roster.Roster.MemberOf(node.Identity.PublicKey) is not null
            ? roster
            : throw new ParticipationRefusedException($"This node's own key is not on its pinned roster (version {roster.Version}): pin the roster that lists it.", ProtocolRules.RosterUnknownKey);
    }

    private AttemptKeyRow? AttemptKey(WorkItem work)
    {
        var row = node.Store.Read(c => FederationQueries.KeyShare(c, Attempt(work)));
        return row is { } r
            ? new AttemptKeyRow(r.KeyShare, r.CrpSeed ?? [], DateTimeOffset.Parse(r.CreatedAt, System.Globalization.CultureInfo.InvariantCulture))
            : null;
    }

    /// <summary>
    /// The attempt as this node keyed it: the CRP seed it keyed with (the coordinator cannot switch seeds under a share), and the
    /// deadline it computes on its own clock, from when it first took part in the attempt, as the accepted study's phase deadline
    /// times the phases of an attempt. A coordinator that keeps an attempt open (to combine a late share with a later attempt, or
    /// with a forged deadline in its work items) gets nothing after that.
    /// </summary>
    private void CheckAttempt(WorkItem work, AcceptedStudy accepted, AttemptKeyRow key)
    {
        if (work.CrpSeed is not null && !work.CrpSeed.AsSpan().SequenceEqual(key.CrpSeed))
        {
            throw new ParticipationRefusedException("The work names another CRP seed than the one this node keyed the attempt with.", ProtocolRules.CrpSeed);
        }

        var deadline = key.CreatedAt.AddSeconds((double)Phases(accepted) * accepted.Spec.PhaseDeadlineSeconds);
        if (Now() > deadline)
        {
            node.Store.Write((c, t) => RetireSecrets(c, t, Attempt(work), RetiredBecause.Deadline));
            throw new ParticipationRefusedException(
                FormattableString.Invariant($"Attempt {work.Attempt} of round {work.Round} began here at {key.CreatedAt:O}; by this node's clock its deadline ({Phases(accepted)} × {accepted.Spec.PhaseDeadlineSeconds} s) passed at {deadline:O}: nothing more is contributed to it."),
                ProtocolRules.AttemptDeadline);
        }
    }

    /// <summary>
    /// A commitment set, complete and from the roster: for this attempt, kind and CRP seed; one commitment per key, each key on the
    /// pinned roster and each signature valid under it; this node's own commitment among them and equal to what it committed; at
    /// least the minimum of distinct hospitals and at most the study's max_nodes. Returns the set's digest.
    /// </summary>
    private string CheckCommitmentSet(WorkItem work, AcceptedStudy accepted, PinnedRoster roster, CommitmentSet set, string kind, byte[] crpSeed, byte[] ownPayload, string? keySetDigest)
    {
        if (set.Study != work.Study.Id || set.Round != work.Round || set.Attempt != work.Attempt || set.Kind != kind)
        {
            throw new ParticipationRefusedException($"The commitment set names study {set.Study} round {set.Round} attempt {set.Attempt} kind {set.Kind}, not this work's.", ProtocolRules.OpeningMismatch);
        }

        if (!set.CrpSeed.AsSpan().SequenceEqual(crpSeed))
        {
            throw new ParticipationRefusedException("The commitment set names another CRP seed than the one this node keyed the attempt with.", ProtocolRules.CrpSeed);
        }

        if (set.Commitments.Select(c => c.NodePublicKey).Distinct(StringComparer.Ordinal).Count() != set.Commitments.Count)
        {
            throw new ParticipationRefusedException("A key appears twice in the commitment set.", ProtocolRules.OpeningMismatch);
        }

        foreach (var c in set.Commitments)
        {
            if (roster.Roster.MemberOf(c.NodePublicKey) is null)
            {
                throw new ParticipationRefusedException(
                    $"A {kind} commitment comes from key {c.NodePublicKey} (node {c.Node}), which is not on this node's pinned roster (version {roster.Version}): refusing to take part with it.",
                    ProtocolRules.RosterUnknownKey);
            }

            // A t-of-n study's key-share commitment names the member's channel key, under the same signature; an n-of-n one none.
            var channel = kind == ContributionKind.KeyShare && accepted.Spec.CommitteeThreshold is not null
                ? c.ChannelKey is { Length: CommitteeChannelKey.PublicKeyLength } k ? k : throw new ParticipationRefusedException($"The key-share commitment of {roster.Roster.MemberOf(c.NodePublicKey)!.Name} names no 32-byte channel key: no share could reach it privately.", ProtocolRules.CommitteeChannelKey)
                : c.ChannelKey is null ? null : throw new ParticipationRefusedException("A commitment names a channel key outside a t-of-n study's key-share set.", ProtocolRules.CommitteeChannelKey);
            if (c.Digest.Length != 32 || !Ed25519Identity.Verify(c.NodePublicKey, SignedStatement.Commitment(kind, work.Study.Id, work.Round, work.Attempt, crpSeed, c.Digest, keySetDigest, channel), c.Signature))
            {
                throw new ParticipationRefusedException($"The {kind} commitment of {roster.Roster.MemberOf(c.NodePublicKey)!.Name} is not signed by its key for this attempt.", ProtocolRules.ContributionSignature);
            }
        }

        var ownDigest = System.Security.Cryptography.SHA256.HashData(ownPayload);
        if (!set.Commitments.Any(c => c.NodePublicKey == node.Identity.PublicKey && c.Digest.AsSpan().SequenceEqual(ownDigest)))
        {
            throw new ParticipationRefusedException($"The {kind} commitment set does not hold this node's own commitment.", ProtocolRules.OpeningMismatch);
        }

        if (kind == ContributionKind.KeyShare && accepted.Spec.CommitteeThreshold is { } threshold)
        {
            if (!set.Commitments.First(c => c.NodePublicKey == node.Identity.PublicKey).ChannelKey!.AsSpan().SequenceEqual(OwnChannelKey(work)))
            {
                throw new ParticipationRefusedException("The key-share commitment set names another channel key for this node than the one it committed: shares sealed to it would reach someone else.", ProtocolRules.CommitteeChannelKey);
            }

            if (set.Commitments.Count < threshold)
            {
                throw new ParticipationRefusedException($"The key-share commitment set holds {set.Commitments.Count} key holder(s); study {accepted.Spec.Id} decrypts with {threshold} (committee_threshold): nothing could ever be decrypted.", ProtocolRules.CommitteeThreshold);
            }
        }

        var members = set.Commitments.Count; // distinct keys, each a distinct rostered member (the roster lists each key once)
        if (members < Minimum(accepted) || members > accepted.Spec.MaxNodes)
        {
            throw new ParticipationRefusedException(
                $"The {kind} commitment set holds {members} rostered hospital(s); study {accepted.Spec.Id} needs {Minimum(accepted)} to {accepted.Spec.MaxNodes} (min_nodes, the site's minimum_nodes, max_nodes).",
                ProtocolRules.RosterMinimum);
        }

        return set.Digest();
    }

    /// <summary>
    /// Records the commitment set this node accepted for (study, round, attempt, kind), audited with every member's committed digest.
    /// A different set for the same key is refused: the coordinator showed this node one set and may be showing others another.
    /// </summary>
    private void RecordCommitmentSet(WorkItem work, PinnedRoster roster, CommitmentSet set, string digest)
    {
        var kind = set.Kind;
        node.Store.Write((c, t) =>
        {
            var existing = FederationQueries.CommitmentSetDigest(c, t, Attempt(work), kind);
            if (existing is not null)
            {
                return existing == digest ? 0 : throw new ParticipationRefusedException(
                    $"This node already accepted a different {kind} commitment set for round {work.Round} attempt {work.Attempt} ({existing[..16]}…, now {digest[..16]}…): the coordinator is showing different sets.",
                    ProtocolRules.CommitmentSetEquivocation);
            }

            FederationQueries.InsertCommitmentSet(c, t, Attempt(work), kind, digest, System.Text.Json.JsonSerializer.Serialize(set.Keys()), Now().ToString("O"));
            node.Audit.Append(c, t, NodeAuditRecords.CommitmentSetAccepted(work, set, roster.Roster));
            return 1;
        });
    }

    private RecordedCommitmentSet? RecordedSet(WorkItem work, string kind)
    {
        var row = node.Store.Read(c => FederationQueries.CommitmentSet(c, Attempt(work), kind));
        return row is { } r ? new RecordedCommitmentSet(r.Digest, System.Text.Json.JsonSerializer.Deserialize<List<string>>(r.KeysJson) ?? []) : null;
    }

    /// <summary>
    /// Openings against the commitment set this node recorded: exactly one per commitment, each hashing to its commitment and signed
    /// by its rostered key over the same set digest this node saw (so every participant revealed after seeing the same set).
    /// </summary>
    private static List<SignedContribution> CheckOpenings(WorkItem work, PinnedRoster roster, CommitmentSet set, IReadOnlyList<SignedContribution> openings, string kind, byte[] crpSeed, string setDigest)
    {
        var committed = set.Commitments.ToDictionary(c => c.NodePublicKey, c => c.Digest, StringComparer.Ordinal);
        if (openings.Count != committed.Count || openings.Select(o => o.NodePublicKey).Distinct(StringComparer.Ordinal).Count() != openings.Count)
        {
            throw new ParticipationRefusedException($"{openings.Count} {kind} opening(s) for {committed.Count} commitment(s): every committed participant opens exactly once.", ProtocolRules.OpeningMismatch);
        }

        foreach (var o in openings)
        {
            if (!committed.TryGetValue(o.NodePublicKey, out var digest))
            {
                throw new ParticipationRefusedException($"A {kind} opening comes from key {o.NodePublicKey}, which committed to nothing in this attempt.", ProtocolRules.OpeningMismatch);
            }

            if (!System.Security.Cryptography.SHA256.HashData(o.Payload).AsSpan().SequenceEqual(digest))
            {
                throw new ParticipationRefusedException($"The {kind} opened by {roster.Roster.MemberOf(o.NodePublicKey)?.Name ?? o.NodePublicKey} does not match its commitment.", ProtocolRules.OpeningMismatch);
            }

            if (!Ed25519Identity.Verify(o.NodePublicKey, SignedStatement.Opening(kind, work.Study.Id, work.Round, work.Attempt, crpSeed, o.Payload, setDigest), o.Signature))
            {
                throw new ParticipationRefusedException(
                    $"The {kind} opened by {roster.Roster.MemberOf(o.NodePublicKey)?.Name ?? o.NodePublicKey} is not signed over the commitment set this node saw: it was shown another set.",
                    ProtocolRules.OpeningMismatch);
            }
        }

        return [.. openings];
    }

    private OwnSubmissionRow? OwnSubmission(WorkItem work)
    {
        var row = node.Store.Read(c => FederationQueries.Submission(c, Attempt(work)));
        return row is { } r ? new OwnSubmissionRow(r.Ciphertext, (int)r.ValueCount, r.ValuesSha256 ?? string.Empty) : null;
    }

    /// <summary>
    /// An exact counting study (a census; a composition without dp_rho) sends counts of patients. Counts are non-negative, so when each of
    /// this node's own is at least the site's minimum cell size every count of the decrypted sum is too, and no small count reaches even the
    /// coordinator. Otherwise the sum may hold one that only the coordinator's suppression keeps from analysts: refused unless the site
    /// policy allows exact small counts (CMS cell size suppression policy: no count of 1 to 10; zero is hidden too, as small as any).
    /// </summary>
    private void CheckExactCounts(AcceptedStudy accepted, ILocalAlgorithm algorithm, long[] values)
    {
        if (accepted.AcceptedRho > 0 || !algorithm.SendsCounts)
        {
            return;
        }

        var policy = node.LoadPolicy();
        var small = values.Count(v => v < policy.MinimumCellSize);
        if (small > 0 && !policy.ExactSmallCounts)
        {
            throw new ParticipationRefusedException(
                $"Study {accepted.Spec.Id} is exact and {small} of the {values.Length} counts this node would send are under the site's minimum cell size ({policy.MinimumCellSize}), so the decrypted sum could hold a count under it: exact small counts are not allowed by this site's policy (exact_small_counts). The study needs dp_rho, coarser cells, or the site's consent to exact small counts.",
                ProtocolRules.ExactSmallCounts);
        }
    }

    /// <summary>
    /// Records the highest attempt seen per round: nothing more is issued for an attempt below it, so their secrets are deleted in the
    /// same transaction.
    /// </summary>
    private void RaiseWatermark(WorkItem work) => node.Store.Write((c, t) =>
    {
        FederationQueries.RaiseWatermark(c, t, Attempt(work));
        return RetireSecrets(c, t, Attempt(work), RetiredBecause.Superseded, belowAttempt: true);
    });

    /// <summary>
    /// Deletes the secrets of attempts past the deadline this node computes for them (<see cref="CheckAttempt"/>): an attempt the
    /// coordinator abandoned is never asked for again, and its secret would otherwise stay in the store. Run when the node starts and
    /// when it keys a new attempt. Attempts of a study it no longer holds as accepted are left to the other rules.
    /// </summary>
    public int RetireExpiredSecrets()
    {
        var retired = 0;
        foreach (var (attempt, createdAt) in node.Store.Read(FederationQueries.HeldSecrets))
        {
            AcceptedStudy accepted;
            try
            {
                accepted = AcceptedStudy.Load(node.Store, new StudyId(attempt.Study));
            }
            catch (ParticipationRefusedException)
            {
                continue;
            }

            var deadline = DateTimeOffset.Parse(createdAt, System.Globalization.CultureInfo.InvariantCulture).AddSeconds((double)Phases(accepted) * accepted.Spec.PhaseDeadlineSeconds);
            if (Now() > deadline)
            {
                retired += node.Store.Write((c, t) => RetireSecrets(c, t, attempt, RetiredBecause.Deadline));
            }
        }

        return retired;
    }

    private void CheckNotSuperseded(WorkItem work)
    {
        var highest = node.Store.Read(c => FederationQueries.HighestAttempt(c, Attempt(work)));
        if (highest is { } h && work.Attempt < h)
        {
            throw new ParticipationRefusedException($"Attempt {work.Attempt} of round {work.Round} was superseded by attempt {h}: this node contributes nothing more to it.", ProtocolRules.AttemptSuperseded);
        }
    }

    /// <summary>SHA-256 of the plaintext vector this node encrypted: kept only in its own store, to tell re-sent values from fresh ones.</summary>
    private static string ValuesDigest(long[] values) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan())));
}
