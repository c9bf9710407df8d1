using System.Data.Common;
using System.Security.Cryptography;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Serialization;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>A request the protocol refuses: becomes an RFC 9457 problem with this status.</summary>
public sealed class ProtocolRefusalException(int status, string title, string detail) : Exception(detail)
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    /// <summary>
    /// The refusal rule (one of Security.RefusalRules) when the refusal is one the coordinator audits as a counted request_refused
    /// (Security/RequestRefusals.cs): a hostile party can cause it at will, so it must not write an audit row each time.
    /// </summary>
    public string? Rule { get; init; }
}

/// <summary>Whether the coordinator requires TLS client certificates, and the fingerprint of the one the connection presented (null: none).</summary>
public sealed record ClientCertificateCheck(bool Required, string? Presented)
{
    public static readonly ClientCertificateCheck NotRequired = new(false, null);
}

/// <summary>
/// What enrolled nodes may ask of and give to the coordinator (the /v1/node endpoints). Enrollments,
/// study decisions and contributions are audited with the state change; refusals are audited in a
/// transaction of their own, since the refused change rolls back.
/// </summary>
public sealed partial class NodeGateway(CoordinatorStore store, IAdditiveThresholdScheme scheme, CoordinatorMetrics metrics, CoordinatorAuditTrail audit, CoordinatorSignals signals)
{
    /// <summary>The token's public id, its SHA-256 (<see cref="EnrollmentProof.TokenId"/>), as the dashboard and the audit trail name it.</summary>
    public static string HashToken(string token) => EnrollmentProof.TokenId(token);

    /// <summary>A one-time token: 192 random bits; the store keeps its id and the MAC key derived from it, never the token.</summary>
    public string CreateEnrollmentToken(DateTimeOffset now, TimeSpan lifetime)
    {
        var token = "ftwin-enroll-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        store.Write((c, t) =>
        {
            EnrollmentQueries.Insert(c, t, HashToken(token), EnrollmentProof.MacKey(token), now, now.Add(lifetime));
            RoundEngine.Event(c, t, now, "token_created", null, null, "enrollment token issued");
            audit.Append(c, t, CoordinatorAuditRecords.EnrollmentTokenCreated(HashToken(token), now.Add(lifetime).ToString("O")), now);
        });
        return token;
    }

    /// <summary>Revokes an enrollment token that no node has used yet; false if it is unknown, used or already revoked.</summary>
    public bool RevokeEnrollmentToken(string tokenSha256, string requestedBy, DateTimeOffset now) => store.Write((c, t) =>
    {
        if (!EnrollmentQueries.RevokeUnused(c, t, tokenSha256))
        {
            return false;
        }

        RoundEngine.Event(c, t, now, "token_revoked", null, null, "enrollment token revoked");
        audit.Append(c, t, CoordinatorAuditRecords.EnrollmentTokenRevoked(tokenSha256, requestedBy), now);
        return true;
    });

    /// <summary>Revokes a node's enrollment: its signed requests are refused from now on (SignedNodeRequests reads revoked=0 only).</summary>
    public bool RevokeNode(NodeId node, string requestedBy, DateTimeOffset now) => store.Write((c, t) =>
    {
        if (!NodeQueries.Revoke(c, t, node.Value))
        {
            return false;
        }

        RoundEngine.Event(c, t, now, "node_revoked", null, node.Value, "enrollment revoked");
        audit.Append(c, t, CoordinatorAuditRecords.NodeRevoked(node.Value, requestedBy), now);
        return true;
    });

    /// <param name="request">The signed enrollment.</param>
    /// <param name="signingKey">The key that signed the request (RFC 9421).</param>
    /// <param name="coordinatorPublicKey">This coordinator's key: the MAC covers the key the node pinned, so it must be this one.</param>
    /// <param name="clientCertificate">
    /// When the coordinator requires client certificates, the SHA-256 fingerprint of the certificate the connection presented (null:
    /// none); the enrollment must carry that very fingerprint. Null and unchecked otherwise.
    /// </param>
    /// <param name="now">The enrollment's time.</param>
    public EnrollResponse Enroll(EnrollRequest request, string signingKey, string coordinatorPublicKey, ClientCertificateCheck clientCertificate, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(clientCertificate);
        try
        {
            return EnrollOrRefuse(request, signingKey, coordinatorPublicKey, clientCertificate, now);
        }
        catch (ProtocolRefusalException e) when (e.Rule is null)
        {
            store.Write((c, t) =>
            {
                if (e.Status == StatusCodes.Status401Unauthorized)
                {
                    RoundEngine.Event(c, t, now, "enroll_refused", null, null, e.Message);
                }

                audit.Append(c, t, CoordinatorAuditRecords.EnrollmentRefused(request.PublicKey, $"{e.Title}: {e.Message}"), now);
            });
            throw;
        }
    }

    private EnrollResponse EnrollOrRefuse(EnrollRequest request, string signingKey, string coordinatorPublicKey, ClientCertificateCheck clientCertificate, DateTimeOffset now)
    {
        if (request.PublicKey != signingKey)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Key mismatch", "The enrollment request must be signed by the key it enrolls.");
        }

        if (string.IsNullOrWhiteSpace(request.NodeName) || request.NodeName.Length > 100)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid node name", "node_name is required, at most 100 characters.");
        }

        if (request.TlsClientCertificateSha256 is { } fingerprint && !EnrollmentProof.IsFingerprint(fingerprint))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid TLS fingerprint", "tls_client_certificate_sha256 must be the SHA-256 of the certificate's DER, 64 lower-case hex digits.");
        }

        // With client certificates required, the connection must present the certificate the enrollment registers (the MAC below
        // covers the fingerprint, so it cannot be swapped for an attacker's either).
        if (clientCertificate.Required && (request.TlsClientCertificateSha256 is null || request.TlsClientCertificateSha256 != clientCertificate.Presented))
        {
            throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Client certificate refused",
                "This coordinator requires TLS client certificates: the enrollment must carry the fingerprint of the certificate its connection presents.")
            { Rule = Security.RefusalRules.ClientCertificateMismatch };
        }

        return store.Write((c, t) =>
        {
            var hash = request.TokenId;
            var token = EnrollmentQueries.Find(c, t, hash);
            var existing = NodeQueries.NodeWithKey(c, t, request.PublicKey);
            if (token is null || token.revoked != 0 || StoredTime.Parse(token.expires_at) < now)
            {
                throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Enrollment refused", "The enrollment token is unknown, revoked or expired.");
            }

            if (token.mac_key is null)
            {
                throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Enrollment refused",
                    "This enrollment token was issued before enrollment was bound to keys (federation protocol 3), and cannot be checked: ask the ACO for a new token.")
                { Rule = Security.RefusalRules.EnrollmentTokenLegacy };
            }

            // The proof of the token, bound to this key, this coordinator and this TLS certificate: a request copied off the wire and
            // replayed with another node key (or another certificate) fails here, before the token is looked at as used or not.
            if (!EnrollmentProof.Verify(token.mac_key, hash, request.PublicKey, coordinatorPublicKey, request.TlsClientCertificateSha256, request.Mac))
            {
                throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Enrollment refused",
                    "The enrollment's MAC does not verify: it must be made with the token over this node's key, the coordinator's key and the TLS certificate's fingerprint.")
                { Rule = Security.RefusalRules.EnrollmentMacMismatch };
            }

            if (token.used_by is not null)
            {
                // Idempotent for the node that used it (a retried enrollment); refused for anyone else.
                if (existing == token.used_by)
                {
                    return new EnrollResponse(new NodeId(existing), Security.CoordinatorKeys.KeyId, coordinatorPublicKey);
                }

                throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Enrollment refused", "The enrollment token was already used.");
            }

            if (existing is not null)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Already enrolled", "This public key is already enrolled.");
            }

            if (NodeQueries.KeyEverHeld(c, t, request.PublicKey))
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Key retired", "This public key was a node's key and was replaced by a rotation; a retired key is never enrolled again.");
            }

            var nodeId = NodeId.New();
            NodeQueries.Insert(c, t, nodeId.Value, request.NodeName, request.PublicKey, now, FederationProtocol.Version, request.TlsClientCertificateSha256);
            EnrollmentQueries.MarkUsed(c, t, hash, nodeId.Value, now);
            RoundEngine.Event(c, t, now, "node_enrolled", null, nodeId.Value, request.NodeName);
            audit.Append(c, t, CoordinatorAuditRecords.NodeEnrolled(nodeId.Value, request.NodeName, request.PublicKey, hash), now);
            return new EnrollResponse(nodeId, Security.CoordinatorKeys.KeyId, coordinatorPublicKey);
        });
    }

    public IReadOnlyList<NodeRecord> Roster() => store.Read(c =>
        NodeQueries.Active(c).Select(n => new NodeRecord(new NodeId(n.node_id), n.name, n.public_key)).ToList());

    public void RecordDecision(NodeId node, StudyDecision decision, DateTimeOffset now) => store.Write((c, t) =>
    {
        var study = StudyQueries.Find(c, t, decision.Study.Value)
            ?? throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown study", $"No study '{decision.Study}'.");
        if (study.State != StudyState.Offered)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Study not open", $"Study '{decision.Study}' is {study.state}; decisions are no longer taken.");
        }

        StudyQueries.RecordDecision(c, t, decision.Study.Value, node.Value, decision.Accept, Truncate(decision.Rule), Truncate(decision.Reason), now);
        RoundEngine.Event(c, t, now, decision.Accept ? "study_accepted" : "study_refused", decision.Study.Value, node.Value, Truncate(decision.Rule));
        audit.Append(c, t, CoordinatorAuditRecords.StudyDecisionReceived(decision.Study.Value, study.Spec.PurposeOfUse.Code, node.Value, decision.Accept, decision.Rule), now);
    });

    private static string? PurposeOf(DbConnection c, DbTransaction t, StudyId study) =>
        StudyQueries.Find(c, t, study.Value)?.Spec.PurposeOfUse.Code;

    private static string Truncate(string s) => s.Length <= 500 ? s : s[..500];
}
