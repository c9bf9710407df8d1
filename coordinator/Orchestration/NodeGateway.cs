using System.Security.Cryptography;
using System.Text;
using Dapper;
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
}

/// <summary>
/// What enrolled nodes may ask of and give to the coordinator (the /v1/node endpoints). Enrollments,
/// study decisions and contributions are audited with the state change; refusals are audited in a
/// transaction of their own, since the refused change rolls back.
/// </summary>
public sealed partial class NodeGateway(CoordinatorStore store, IAdditiveThresholdScheme scheme, CoordinatorMetrics metrics, CoordinatorAuditTrail audit, CoordinatorSignals signals)
{
    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public string CreateEnrollmentToken(DateTimeOffset now, TimeSpan lifetime)
    {
        var token = "ftwin-enroll-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        store.Write((c, t) =>
        {
            c.Execute("INSERT INTO enrollment_tokens(token_hash, created_at, expires_at) VALUES (@h, @now, @exp)",
                new { h = HashToken(token), now = now.ToString("O"), exp = now.Add(lifetime).ToString("O") }, t);
            RoundEngine.Event(c, t, now, "token_created", null, null, "enrollment token issued");
            audit.Append(c, t, CoordinatorAuditRecords.EnrollmentTokenCreated(HashToken(token), now.Add(lifetime).ToString("O")), now);
        });
        return token;
    }

    /// <summary>Revokes an enrollment token that no node has used yet; false if it is unknown, used or already revoked.</summary>
    public bool RevokeEnrollmentToken(string tokenSha256, string requestedBy, DateTimeOffset now) => store.Write((c, t) =>
    {
        if (c.Execute("UPDATE enrollment_tokens SET revoked=1 WHERE token_hash=@h AND used_by IS NULL AND revoked=0", new { h = tokenSha256 }, t) == 0)
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
        if (c.Execute("UPDATE nodes SET revoked=1 WHERE node_id=@id AND revoked=0", new { id = node.Value }, t) == 0)
        {
            return false;
        }

        RoundEngine.Event(c, t, now, "node_revoked", null, node.Value, "enrollment revoked");
        audit.Append(c, t, CoordinatorAuditRecords.NodeRevoked(node.Value, requestedBy), now);
        return true;
    });

    public EnrollResponse Enroll(EnrollRequest request, string signingKey, string coordinatorPublicKey, DateTimeOffset now)
    {
        try
        {
            return EnrollOrRefuse(request, signingKey, coordinatorPublicKey, now);
        }
        catch (ProtocolRefusalException e)
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

    private EnrollResponse EnrollOrRefuse(EnrollRequest request, string signingKey, string coordinatorPublicKey, DateTimeOffset now)
    {
        if (request.PublicKey != signingKey)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Key mismatch", "The enrollment request must be signed by the key it enrolls.");
        }

        if (string.IsNullOrWhiteSpace(request.NodeName) || request.NodeName.Length > 100)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid node name", "node_name is required, at most 100 characters.");
        }

        return store.Write((c, t) =>
        {
            var hash = HashToken(request.Token);
            var token = c.QuerySingleOrDefault<(string expires_at, string? used_by, long revoked)>(
                "SELECT expires_at, used_by, revoked FROM enrollment_tokens WHERE token_hash=@hash", new { hash }, t);
            var existing = c.QuerySingleOrDefault<string?>("SELECT node_id FROM nodes WHERE public_key=@k", new { k = request.PublicKey }, t);
            if (token.expires_at is null || token.revoked != 0 || DateTimeOffset.Parse(token.expires_at, System.Globalization.CultureInfo.InvariantCulture) < now)
            {
                throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Enrollment refused", "The enrollment token is unknown, revoked or expired.");
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

            if (c.ExecuteScalar<long>("SELECT COUNT(*) FROM node_key_history WHERE public_key=@k", new { k = request.PublicKey }, t) > 0)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Key retired", "This public key was a node's key and was replaced by a rotation; a retired key is never enrolled again.");
            }

            var nodeId = NodeId.New();
            c.Execute("INSERT INTO nodes(node_id, name, public_key, enrolled_at, protocol_version) VALUES (@id, @name, @key, @now, @v)",
                new { id = nodeId.Value, name = request.NodeName, key = request.PublicKey, now = now.ToString("O"), v = FederationProtocol.Version }, t);
            c.Execute("UPDATE enrollment_tokens SET used_by=@id, used_at=@now WHERE token_hash=@hash", new { id = nodeId.Value, now = now.ToString("O"), hash }, t);
            RoundEngine.Event(c, t, now, "node_enrolled", null, nodeId.Value, request.NodeName);
            audit.Append(c, t, CoordinatorAuditRecords.NodeEnrolled(nodeId.Value, request.NodeName, request.PublicKey, hash), now);
            return new EnrollResponse(nodeId, Security.CoordinatorKeys.KeyId, coordinatorPublicKey);
        });
    }

    public IReadOnlyList<NodeRecord> Roster() => store.Read(c =>
        c.Query<(string node_id, string name, string public_key)>("SELECT node_id, name, public_key FROM nodes WHERE revoked=0 ORDER BY node_id")
            .Select(n => new NodeRecord(new NodeId(n.node_id), n.name, n.public_key)).ToList());

    public void RecordDecision(NodeId node, StudyDecision decision, DateTimeOffset now) => store.Write((c, t) =>
    {
        var study = c.QuerySingleOrDefault<RoundEngine.StudyRow>("SELECT study_id, spec_json, state, offered_until, current_round, current_attempt FROM studies WHERE study_id=@id", new { id = decision.Study.Value }, t)
            ?? throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown study", $"No study '{decision.Study}'.");
        var state = study.state;
        if (state != RoundEngine.States.Offered)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Study not open", $"Study '{decision.Study}' is {state}; decisions are no longer taken.");
        }

        c.Execute("INSERT OR REPLACE INTO decisions(study_id, node_id, accept, rule, reason, decided_at) VALUES (@s, @n, @a, @rule, @reason, @now)",
            new { s = decision.Study.Value, n = node.Value, a = decision.Accept ? 1 : 0, rule = Truncate(decision.Rule), reason = Truncate(decision.Reason), now = now.ToString("O") }, t);
        RoundEngine.Event(c, t, now, decision.Accept ? "study_accepted" : "study_refused", decision.Study.Value, node.Value, Truncate(decision.Rule));
        audit.Append(c, t, CoordinatorAuditRecords.StudyDecisionReceived(decision.Study.Value, study.Spec.PurposeOfUse.Code, node.Value, decision.Accept, decision.Rule), now);
    });

    private static string? PurposeOf(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction t, StudyId study) =>
        c.QuerySingleOrDefault<string?>("SELECT spec_json FROM studies WHERE study_id=@id", new { id = study.Value }, t) is { } json
            ? WireJson.Deserialize<StudySpec>(Encoding.UTF8.GetBytes(json)).PurposeOfUse.Code
            : null;

    private static string Truncate(string s) => s.Length <= 500 ? s : s[..500];
}
