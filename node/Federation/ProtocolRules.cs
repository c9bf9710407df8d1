namespace FederatedTwin.Node.Federation;

/// <summary>
/// The named checks a node makes on every message of a round (docs/protocol.md, docs/threat-model.md), each resting only on what the
/// node pinned or computed itself: its roster, its stored commitments and submissions, its clock. A refusal is audited with its rule,
/// so an auditor can count refusals by rule and a test can assert which check stopped an attack. The checks against the accepted
/// study itself are <see cref="AcceptedStudy"/>'s; the roster's own rules are <see cref="PinnedRoster"/>'s.
/// </summary>
public static class ProtocolRules
{
    /// <summary>A key in a commitment set (the node's own included) is not on the pinned roster.</summary>
    public const string RosterUnknownKey = "roster_unknown_key";

    /// <summary>Fewer distinct rostered hospitals than the study's min_nodes (and the site's minimum_nodes), or more than its max_nodes.</summary>
    public const string RosterMinimum = "roster_minimum";

    /// <summary>A commitment, an opening or a list of them does not carry a valid signature of the rostered key it names.</summary>
    public const string ContributionSignature = "contribution_signature";

    /// <summary>A second, different commitment set for the same (study, round, attempt, kind): the coordinator showed nodes different sets.</summary>
    public const string CommitmentSetEquivocation = "commitment_set_equivocation";

    /// <summary>An opening does not hash to its commitment, a committed participant did not open, or an opening was signed over another commitment set.</summary>
    public const string OpeningMismatch = "opening_mismatch";

    /// <summary>The work names another CRP seed than the one this node keyed the attempt with, or the sets name another one.</summary>
    public const string CrpSeed = "crp_seed";

    /// <summary>The collective key is not the sum of the opened key shares over the attempt's CRP.</summary>
    public const string CollectiveKey = "collective_key";

    /// <summary>The aggregate is not the sum of the opened submissions, or leaves this node's submission out.</summary>
    public const string Aggregate = "aggregate";

    /// <summary>
    /// The node already issued a decryption share over the same values with another set of submitters (exact studies: any earlier
    /// round of the study): the difference of the two decrypted sums would isolate a hospital's update.
    /// </summary>
    public const string ParticipantSetChanged = "participant_set_changed";

    /// <summary>The attempt outlived the deadline this node computes on its own clock from the accepted study's phase deadline.</summary>
    public const string AttemptDeadline = "attempt_deadline";

    /// <summary>A later attempt of the round was seen: the earlier one gets nothing more.</summary>
    public const string AttemptSuperseded = "attempt_superseded";

    /// <summary>A phase asked out of order (an opening before the node committed, a decryption before it submitted).</summary>
    public const string ProtocolOrder = "protocol_order";

    /// <summary>The request's value count is not the layout the accepted study implies, or exceeds what one key may decrypt.</summary>
    public const string RoundLayout = "round_layout";

    /// <summary>More ciphertexts than one collective key may be decrypted for under the smudging bound (docs/crypto.md §7).</summary>
    public const string SmudgingBudget = "smudging_budget";

    /// <summary>A second decryption share for another aggregate of the same attempt.</summary>
    public const string ShareReissue = "decryption_share_reissue";

    /// <summary>A fresh noise draw for a re-run round would exceed the site's privacy budget for the purpose and year.</summary>
    public const string RedrawBudget = "redraw_budget";

    /// <summary>A fresh noise draw for a re-run round would exceed the node's lifetime privacy budget (the policy's rule of the same name at decisions).</summary>
    public const string LifetimeBudget = Policy.SitePolicy.LifetimeBudgetRule;

    /// <summary>
    /// An exact release (no DP noise) of a statistic and cohort this node already released exactly in another study, over another set of
    /// hospitals (<see cref="ReleaseLedger"/>): the two sums would differ by the statistic of the hospitals in one set and not the other
    /// (with one hospital more or less, that hospital's own).
    /// </summary>
    public const string ReleaseDifferencing = "release_differencing";

    /// <summary>
    /// An exact counting study would send counts under the site's minimum_cell_size, so the decrypted sum could hold such a count; refused
    /// unless the site policy's exact_small_counts allows it (the coordinator's suppression then keeps it from analysts).
    /// </summary>
    public const string ExactSmallCounts = "exact_small_counts";

    /// <summary>
    /// A decryption share asked for an attempt whose secret this node deleted: after its share was issued, when a later attempt
    /// superseded it or its deadline passed, or when the store was restored from a backup (the node cannot know which secrets were
    /// used after the backup was taken, so a restore deletes them all: a secret used twice could decrypt two different aggregates).
    /// </summary>
    public const string AttemptSecretRetired = "attempt_secret_retired";

    /// <summary>A t-of-n study's key-share commitment without a well-formed channel key, or this node's own not the one it derives.</summary>
    public const string CommitteeChannelKey = "committee_channel_key";

    /// <summary>
    /// A t-of-n study's dealt shares refused: a dealer of the key-share commitment set missing or dealing twice, a stranger dealing, a
    /// manifest not covering exactly the other key holders, a bad dealer signature, a share that does not open on the channel from its
    /// dealer, or one for another point.
    /// </summary>
    public const string CommitteeShareBundle = "committee_share_bundle";

    /// <summary>A t-of-n study's decrypting set refused: missing, a member twice, a member outside the key-share commitment set, or without this node.</summary>
    public const string CommitteeDecryptSet = "committee_decrypt_set";

    /// <summary>A decrypting set, or a key-share set, smaller than the study's t or the site's min_committee_threshold.</summary>
    public const string CommitteeThreshold = Policy.SitePolicy.CommitteeThresholdRule;
}

/// <summary>Why an attempt secret was deleted (attempt_keys.secret_retired_reason; the refusal's reason names it).</summary>
public static class RetiredBecause
{
    /// <summary>This node issued the attempt's decryption share.</summary>
    public const string ShareIssued = "share_issued";

    /// <summary>A later attempt of the round began.</summary>
    public const string Superseded = "superseded";

    /// <summary>The attempt outlived this node's deadline for it.</summary>
    public const string Deadline = "deadline";

    /// <summary>The store was restored from a backup (`ftwin node restore`).</summary>
    public const string Restored = "restored";
}
