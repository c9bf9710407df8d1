using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// The federation roster as the coordinator relays it. The coordinator is a courier only: nodes pin a roster when their own compliance
/// officers approved it (node/Federation/PinnedRoster.cs), never because the coordinator serves it. Publishing checks the document is
/// well formed and newer, so the ACO does not relay something every node would refuse.
/// </summary>
public sealed partial class NodeGateway
{
    public SignedRoster PublishRoster(byte[] document, DateTimeOffset now)
    {
        SignedRoster roster;
        try
        {
            roster = SignedRoster.Parse(document);
        }
        catch (RosterException e)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid roster", e.Message);
        }

        return store.Write((c, t) =>
        {
            var sha = roster.Roster.Sha256();
            var latest = RosterQueries.LatestHead(c, t);
            var moreApprovals = latest is { } same && same.version == roster.Roster.Version && same.sha256 == sha;
            if (latest is { } l && !moreApprovals && (l.federation != roster.Roster.Federation || l.version >= roster.Roster.Version))
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Roster not newer",
                    $"The published roster is {l.federation} version {l.version}; a new one must be of the same federation with a higher version, or the same roster with more approvals (got {roster.Roster.Federation} version {roster.Roster.Version}).");
            }

            // The same version again (the same members, more officers' approvals) replaces the relayed document: nodes whose officer
            // approved only now can pin it.
            RosterQueries.Publish(c, t, roster.Roster.Version, roster.Roster.Federation, sha, roster.ToJson(), now);
            RoundEngine.Event(c, t, now, "roster_published", null, null, $"{roster.Roster.Federation} version {roster.Roster.Version}, {roster.Roster.Members.Count} members");
            audit.Append(c, t, CoordinatorAuditRecords.RosterPublished(roster.Roster.Federation, roster.Roster.Version, sha, roster.Roster.Members.Count, roster.Approvals.Count), now);
            return roster;
        });
    }

    /// <summary>The newest published roster document, as published (its approvals included), or null.</summary>
    public byte[]? LatestRoster() => store.Read(c => RosterQueries.Latest(c, null)?.document);
}
