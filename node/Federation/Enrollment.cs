using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// Enrolls a node with a coordinator: the coordinator's key must already be pinned in the site
/// policy (trusted_coordinators), the one-time token comes from the ACO, and the request is signed
/// by the key it registers. The coordinator's URL is checked first (https beyond loopback, <see cref="UrlPolicy"/>),
/// before the node directory, the policy or the token is touched and before any connection.
/// </summary>
public static class Enrollment
{
    public static Task<NodeId> Enroll(NodeDirectory node, Uri coordinator, string token, string nodeName, CancellationToken cancellationToken) =>
        Enroll(node, coordinator, token, nodeName, TimeProvider.System, cancellationToken);

    /// <summary>The same, with the enrollment's time read from <paramref name="clock"/>.</summary>
    public static async Task<NodeId> Enroll(NodeDirectory node, Uri coordinator, string token, string nodeName, TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        UrlPolicy.Require(coordinator, "the coordinator URL");
        ArgumentNullException.ThrowIfNull(clock);
        var existing = node.Store.GetEnrollment();
        if (existing is not null)
        {
            return new NodeId(existing.NodeId);
        }

        var policy = node.LoadPolicy();
        using var http = new HttpClient { BaseAddress = coordinator, Timeout = TimeSpan.FromSeconds(30) };
        using var identityResponse = await http.GetAsync(new Uri("/v1/identity", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        identityResponse.EnsureSuccessStatusCode();
        var identityJson = await ResponseLimits.Read(identityResponse, ResponseLimits.Default, cancellationToken);
        var identity = WireJson.Deserialize<CoordinatorIdentity>(identityJson);
        if (identity.ProtocolVersion != FederationProtocol.Version)
        {
            var reason = $"The coordinator speaks protocol version {identity.ProtocolVersion}; this node speaks {FederationProtocol.Version}.";
            node.Audit.Append(NodeAuditRecords.EnrollmentRefused(coordinator, identity.PublicKey, reason));
            throw new CoordinatorRefusedException(0, "Protocol version mismatch", reason);
        }

        if (!policy.Trusts(identity.PublicKey))
        {
            node.Audit.Append(NodeAuditRecords.EnrollmentRefused(coordinator, identity.PublicKey, "the coordinator's key is not among trusted_coordinators in the site policy"));
            throw new CoordinatorRefusedException(0, "Untrusted coordinator", $"The coordinator at {coordinator} presents key {identity.PublicKey}, which is not among trusted_coordinators in {node.PolicyPath}. Pin it there first (compare it with `ftwin coordinator key` on the coordinator's host).");
        }

        var client = new CoordinatorClient(http, node.Identity, CoordinatorClient.EnrollKeyId(node.Identity), identity.PublicKey, TimeSpan.FromSeconds(60), time: clock);
        EnrollResponse response;
        try
        {
            response = await client.Post<EnrollResponse>("/v1/node/enroll", new EnrollRequest(token, nodeName, node.Identity.PublicKey), cancellationToken);
        }
        catch (CoordinatorRefusedException e)
        {
            node.Audit.Append(NodeAuditRecords.EnrollmentFailed(coordinator, e.Status, $"{e.Title}: {e.Detail}"));
            throw;
        }

        node.Store.Write((c, t) =>
        {
            StudyQueries.InsertEnrollment(c, t, response.NodeId.Value, coordinator.ToString(), identity.PublicKey, clock.GetUtcNow().ToString("O"));
            node.Audit.Append(c, t, NodeAuditRecords.Enrolled(response.NodeId.Value, coordinator, identity.PublicKey));
            node.Audit.Checkpoint(c, t, CheckpointReasons.Enrollment);
            return 0;
        });
        node.Store.Event("enrolled", null, $"node id {response.NodeId} with coordinator {coordinator}");
        return response.NodeId;
    }
}
