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
/// <para>
/// The token never leaves the node: the request carries its public id and a MAC derived from it over the node's key, the pinned
/// coordinator key and the fingerprint of the node's TLS client certificate (<see cref="EnrollmentProof"/>), so a request copied
/// off the wire cannot enroll another key. Over https the node makes its TLS client certificate first
/// (<see cref="CoordinatorTransport"/>) and trusts the coordinator's certificate through the system's trust store, or only through
/// the CA file given (<c>--coordinator-ca</c>), which is copied into the node directory once enrolled and used from then on.
/// </para>
/// </summary>
public static class Enrollment
{
    public static Task<NodeId> Enroll(NodeDirectory node, Uri coordinator, string token, string nodeName, CancellationToken cancellationToken) =>
        Enroll(node, coordinator, token, nodeName, null, TimeProvider.System, cancellationToken);

    /// <summary>The same, with the enrollment's time read from <paramref name="clock"/>.</summary>
    public static Task<NodeId> Enroll(NodeDirectory node, Uri coordinator, string token, string nodeName, TimeProvider clock, CancellationToken cancellationToken) =>
        Enroll(node, coordinator, token, nodeName, null, clock, cancellationToken);

    /// <param name="node">The node directory.</param>
    /// <param name="coordinator">The coordinator's URL (https beyond loopback).</param>
    /// <param name="token">The one-time token from the ACO (it is not sent).</param>
    /// <param name="nodeName">The node's display name at the coordinator.</param>
    /// <param name="coordinatorCaFile">A PEM file of the CA that issues the coordinator's certificate, trusted instead of the system's store; null: the system's.</param>
    /// <param name="clock">The enrollment's time.</param>
    /// <param name="cancellationToken">Cancels the enrollment.</param>
    public static async Task<NodeId> Enroll(NodeDirectory node, Uri coordinator, string token, string nodeName, string? coordinatorCaFile, TimeProvider clock, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(coordinator);
        UrlPolicy.Require(coordinator, "the coordinator URL");
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(clock);
        var existing = node.Store.GetEnrollment();
        if (existing is not null)
        {
            return new NodeId(existing.NodeId);
        }

        var policy = node.LoadPolicy();
        if (coordinatorCaFile is not null)
        {
            _ = CoordinatorTransport.ReadCa(coordinatorCaFile); // refused before anything connects
        }

        // Over TLS the node registers its client certificate (mutual TLS, when the coordinator requires it): made before the handler that presents it.
        var tlsFingerprint = coordinator.Scheme == Uri.UriSchemeHttps ? CoordinatorTransport.EnsureClientCertificate(node, clock) : null;
        using var http = CoordinatorTransport.Client(node, coordinator, TimeSpan.FromSeconds(30), coordinatorCaFile);
        using var identityResponse = await GetIdentity(node, http, coordinator, coordinatorCaFile is not null, cancellationToken);
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
            var mac = EnrollmentProof.Mac(token, node.Identity.PublicKey, identity.PublicKey, tlsFingerprint);
            response = await client.Post<EnrollResponse>("/v1/node/enroll", new EnrollRequest(EnrollmentProof.TokenId(token), mac, nodeName, node.Identity.PublicKey, tlsFingerprint), cancellationToken);
        }
        catch (CoordinatorRefusedException e)
        {
            node.Audit.Append(NodeAuditRecords.EnrollmentFailed(coordinator, e.Status, $"{e.Title}: {e.Detail}"));
            throw;
        }

        if (coordinatorCaFile is not null)
        {
            CoordinatorTransport.PinCa(node, coordinatorCaFile);
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

    /// <summary>GET /v1/identity, the first connection: a certificate the node does not trust is said plainly and audited.</summary>
    private static async Task<HttpResponseMessage> GetIdentity(NodeDirectory node, HttpClient http, Uri coordinator, bool caPinned, CancellationToken cancellationToken)
    {
        try
        {
            return await http.GetAsync(new Uri("/v1/identity", UriKind.Relative), HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e) when (CoordinatorTransport.Explain(e, coordinator, caPinned) is { } untrusted)
        {
            node.Audit.Append(NodeAuditRecords.EnrollmentFailed(coordinator, 0, $"{untrusted.Title}: {untrusted.Detail}"));
            throw untrusted;
        }
    }
}
