using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>A roster document this node will not pin, with the rule that refused it (audited once per document).</summary>
public sealed class RosterRefusedException(string rule, string reason) : Exception(reason)
{
    public string Rule { get; } = rule;
}

/// <summary>
/// The federation roster this node pinned (node.db, table rosters): the only list of hospitals and node keys it counts when it
/// checks who took part in an attempt. The coordinator never decides membership (docs/threat-model.md, "the pinned roster").
/// A roster is pinned only when one of this site's compliance officers (policy-signers.txt) approved exactly that document, it
/// lists this node's own key, it names the same federation as the roster before it, and its version is higher: so neither the
/// coordinator (which may relay rosters) nor anyone who can write a file in the node directory can add a member, and an old
/// roster that still lists a revoked key cannot be replayed. Every pin and every refusal is audited.
/// </summary>
public sealed record PinnedRoster(SignedRoster Document, string Sha256, string ApprovedBy, string PinnedAt)
{
    /// <summary>No roster is pinned: the node takes part in no attempt (it cannot tell hospitals from keys the coordinator made up).</summary>
    public const string Missing = "roster_missing";

    /// <summary>The document is not a valid roster.</summary>
    public const string Malformed = "roster_malformed";

    /// <summary>No compliance officer listed in this node's policy-signers.txt approved the document.</summary>
    public const string Unsigned = "roster_unsigned";

    /// <summary>The document's version is not higher than the pinned one (a replayed or conflicting roster).</summary>
    public const string Rollback = "roster_rollback";

    /// <summary>The document names another federation than the pinned roster.</summary>
    public const string FederationChanged = "roster_federation_changed";

    /// <summary>The document does not list this node's own key.</summary>
    public const string SelfMissing = "roster_self_missing";

    public FederationRoster Roster => Document.Roster;

    public int Version => Roster.Version;

    /// <summary>The highest roster version pinned, or null.</summary>
    public static PinnedRoster? Load(NodeStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var row = store.Read(RosterQueries.Latest);
        return row is { } r ? new PinnedRoster(SignedRoster.Parse(r.Document), r.Sha256, r.ApprovedBy, r.PinnedAt) : null;
    }

    /// <summary>The pinned roster, or a refusal with rule <see cref="Missing"/>.</summary>
    public static PinnedRoster Require(NodeStore store) =>
        Load(store) ?? throw new ParticipationRefusedException(
            "This node has no pinned federation roster: it cannot tell member hospitals from keys the coordinator enrolled, so it takes part in nothing (`ftwin node roster pin`).",
            Missing);

    /// <summary>
    /// Pins a roster document (from a file its officer handed over, or as the coordinator relayed it). Returns the pinned roster
    /// (the same one when this exact document is already pinned); refuses with a <see cref="RosterRefusedException"/>, audited.
    /// </summary>
    /// <param name="node">The node directory.</param>
    /// <param name="document">The roster document.</param>
    /// <param name="source">Where the document came from, for the audit trail.</param>
    /// <param name="clock">The clock the pin or refusal is timed by (default: the system's).</param>
    public static PinnedRoster Pin(NodeDirectory node, byte[] document, string source, TimeProvider? clock = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(document);
        clock ??= TimeProvider.System;
        var sha = SignedStatement.Digest(document);
        try
        {
            return PinOrRefuse(node, document, source, clock);
        }
        catch (RosterRefusedException e)
        {
            node.Store.Write((c, t) =>
            {
                // One audit entry per refused document, however often the coordinator relays it.
                if (RosterQueries.InsertRefusal(c, t, sha, e.Rule, clock.GetUtcNow().ToString("O")) == 1)
                {
                    node.Audit.Append(c, t, NodeAuditRecords.RosterRefused(sha, source, e.Rule, e.Message));
                }

                return 0;
            });
            throw;
        }
    }

    private static PinnedRoster PinOrRefuse(NodeDirectory node, byte[] document, string source, TimeProvider clock)
    {
        SignedRoster signed;
        try
        {
            signed = SignedRoster.Parse(document);
        }
        catch (RosterException e)
        {
            throw new RosterRefusedException(Malformed, $"The roster document is not valid: {e.Message}.");
        }

        var officers = PolicySignature.Officers(node.Path);
        if (officers.Count == 0)
        {
            throw new RosterRefusedException(Unsigned, $"No compliance officer is listed in {PolicySignature.SignersFile}: a roster is pinned only with an officer's approval (`ftwin roster sign`).");
        }

        var approval = signed.ApprovedBy(officers) ?? throw new RosterRefusedException(
            Unsigned, $"Roster version {signed.Roster.Version} of {signed.Roster.Federation} carries no valid approval by a compliance officer of this site ({PolicySignature.SignersFile}).");
        if (signed.Roster.MemberOf(node.Identity.PublicKey) is null)
        {
            throw new RosterRefusedException(SelfMissing, $"Roster version {signed.Roster.Version} of {signed.Roster.Federation} does not list this node's key {node.Identity.PublicKey}.");
        }

        var canonicalSha = signed.Roster.Sha256();
        var current = Load(node.Store);
        if (current is not null)
        {
            if (current.Roster.Federation != signed.Roster.Federation)
            {
                throw new RosterRefusedException(FederationChanged, $"The pinned roster is of federation {current.Roster.Federation}; this one is of {signed.Roster.Federation}.");
            }

            if (signed.Roster.Version == current.Version && canonicalSha == current.Roster.Sha256())
            {
                return current; // the same roster again (perhaps with more approvals): nothing changes
            }

            if (signed.Roster.Version <= current.Version)
            {
                throw new RosterRefusedException(Rollback, $"Roster version {signed.Roster.Version} is not newer than the pinned version {current.Version}: rosters only move forward.");
            }
        }

        var now = clock.GetUtcNow().ToString("O");
        node.Store.Write((c, t) =>
        {
            RosterQueries.Insert(c, t, signed.Roster.Version, signed.Roster.Federation, canonicalSha, signed.ToJson(), approval.Signer, now);
            node.Audit.Append(c, t, NodeAuditRecords.RosterPinned(signed.Roster, canonicalSha, approval.Signer, source, current?.Roster));
            node.Audit.Checkpoint(c, t, CheckpointReasons.Roster);
            return 0;
        });
        node.Store.Event("roster_pinned", null, $"{signed.Roster.Federation} version {signed.Roster.Version}, {signed.Roster.Members.Count} members, approved by {approval.Signer}");
        return new PinnedRoster(signed, canonicalSha, approval.Signer, now);
    }
}
