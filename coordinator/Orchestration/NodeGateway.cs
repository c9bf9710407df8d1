using System.Security.Cryptography;
using System.Text;
using Dapper;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Crypto;
using FederatedTwin.Protocol.Crypto.Serialization;
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
public sealed class NodeGateway(CoordinatorStore store, IAdditiveThresholdScheme scheme, CoordinatorMetrics metrics, CoordinatorAuditTrail audit)
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

    public WorkResponse WorkFor(NodeId node) => store.Read(c =>
    {
        var items = new List<WorkItem>();
        var offered = c.Query<RoundEngine.StudyRow>("""
            SELECT s.study_id, s.spec_json, s.state, s.offered_until, s.current_round, s.current_attempt FROM studies s
            WHERE s.state='offered' AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.study_id=s.study_id AND d.node_id=@node)
            """, new { node = node.Value });
        items.AddRange(offered.Select(s => new WorkItem(WorkKind.StudyOffer, s.Spec)));
        var running = c.Query<RoundEngine.StudyRow>("SELECT study_id, spec_json, state, offered_until, current_round, current_attempt FROM studies WHERE state='running'");
        foreach (var s in running)
        {
            var a = RoundEngine.CurrentAttempt(c, null, s.study_id, s.current_round, s.current_attempt, ciphertexts: false);
            if (!a.Participants.Contains(node.Value))
            {
                continue;
            }

            WorkKind kind;
            string statement;
            switch (a.phase)
            {
                case RoundEngine.Phases.KeyGen:
                    (kind, statement) = (WorkKind.KeyShare, SignedStatement.KeyShare);
                    break;
                case RoundEngine.Phases.Encrypt:
                    (kind, statement) = (WorkKind.Encrypt, SignedStatement.Update);
                    break;
                case RoundEngine.Phases.Decrypt:
                    (kind, statement) = (WorkKind.Decrypt, SignedStatement.DecryptionShare);
                    break;
                default:
                    continue;
            }

            if (HasContributed(c, a, statement, node))
            {
                continue;
            }

            items.Add(new WorkItem(kind, s.Spec, (int)a.round, (int)a.attempt, a.Deadline, a.crp_seed, a.Request));
        }

        return new WorkResponse(items);
    });

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

    /// <summary>Accepts a key share, encrypted update or decryption share for the current attempt, after checking its node signature.</summary>
    public void Contribute(NodeId node, string kind, StudyId study, int round, int attempt, Contribution contribution, DateTimeOffset now)
    {
        try
        {
            Accept(node, kind, study, round, attempt, contribution, now);
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

        var current = c.QuerySingleOrDefault<(long current_round, long current_attempt, string state)>(
            "SELECT current_round, current_attempt, state FROM studies WHERE study_id=@id", new { id = study.Value }, t);
        if (current.state != RoundEngine.States.Running || current.current_round != round || current.current_attempt != attempt)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Not the current attempt", $"Study '{study}' round {round} attempt {attempt} is not in progress.");
        }

        var a = RoundEngine.CurrentAttempt(c, t, study.Value, round, attempt);
        var expectedPhase = kind switch
        {
            SignedStatement.KeyShare => RoundEngine.Phases.KeyGen,
            SignedStatement.Update => RoundEngine.Phases.Encrypt,
            _ => RoundEngine.Phases.Decrypt,
        };
        if (!a.Participants.Contains(node.Value))
        {
            throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not a participant", "This node is not a participant of the attempt.");
        }

        if (a.phase != expectedPhase)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong phase", $"The attempt is in phase {a.phase}, not {expectedPhase}.");
        }

        if (kind == SignedStatement.DecryptionShare && contribution.AggregateDigest != a.aggregate_digest)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Wrong aggregate", "The decryption share is bound to another aggregate.");
        }

        var publicKey = c.QuerySingle<string>("SELECT public_key FROM nodes WHERE node_id=@id", new { id = node.Value }, t);
        var statement = SignedStatement.For(kind, study, round, attempt, contribution.Payload, kind == SignedStatement.DecryptionShare ? contribution.AggregateDigest : null);
        if (!Ed25519Identity.Verify(publicKey, statement, contribution.Signature))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Bad contribution signature", "The contribution's signature does not verify under the node's key.");
        }

        CheckPayload(kind, a, contribution.Payload);
        var digest = SignedStatement.Digest(contribution.Payload);
        var stored = c.QuerySingleOrDefault<string?>("SELECT digest FROM contributions WHERE study_id=@s AND round=@r AND attempt=@a AND kind=@k AND node_id=@n",
            new { s = study.Value, r = round, a = attempt, k = kind, n = node.Value }, t);
        if (stored is not null)
        {
            if (stored != digest)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Already contributed", "The node already contributed something else to this phase of the attempt.");
            }

            return; // a retry of the same contribution
        }

        c.Execute("INSERT INTO contributions(study_id, round, attempt, kind, node_id, payload, signature, digest, received_at) VALUES (@s, @r, @a, @k, @n, @p, @sig, @d, @now)",
            new { s = study.Value, r = round, a = attempt, k = kind, n = node.Value, p = contribution.Payload, sig = contribution.Signature, d = digest, now = now.ToString("O") }, t);
        audit.Append(c, t, CoordinatorAuditRecords.ContributionReceived(study.Value, PurposeOf(c, t, study), node.Value, kind, round, attempt, digest, contribution.Payload.Length), now);
        metrics.Contributions.Add(1, new KeyValuePair<string, object?>("kind", kind));
    });

    public CollectiveKeyAnnouncement KeyAnnouncement(NodeId node, StudyId study, int round, int attempt) => store.Read(c =>
    {
        var a = ParticipantAttempt(c, node, study, round, attempt);
        if (a.collective_key is null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Key not ready", "The collective key is not formed yet.");
        }

        var shares = RoundEngine.Contributions(c, null, a, SignedStatement.KeyShare).Select(s => new SignedContribution(new NodeId(s.node_id), s.public_key, s.payload, s.signature)).ToList();
        return new CollectiveKeyAnnouncement(study, round, attempt, a.crp_seed, a.collective_key, shares);
    });

    public AggregateAnnouncement Aggregate(NodeId node, StudyId study, int round, int attempt) => store.Read(c =>
    {
        var a = ParticipantAttempt(c, node, study, round, attempt);
        if (a.aggregate is null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Aggregate not ready", "The aggregate is not formed yet.");
        }

        var submissions = RoundEngine.Contributions(c, null, a, SignedStatement.Update).Select(s => new SignedContribution(new NodeId(s.node_id), s.public_key, s.payload, s.signature)).ToList();
        return new AggregateAnnouncement(study, round, attempt, a.aggregate, submissions, a.Deadline);
    });

    private static RoundEngine.AttemptRow ParticipantAttempt(Microsoft.Data.Sqlite.SqliteConnection c, NodeId node, StudyId study, int round, int attempt)
    {
        var a = c.QuerySingleOrDefault<RoundEngine.AttemptRow>("""
            SELECT study_id, round, attempt, phase, participants_json, crp_seed, request_json, collective_key, aggregate, aggregate_digest, phase_deadline, started_at
            FROM attempts WHERE study_id=@id AND round=@round AND attempt=@attempt
            """, new { id = study.Value, round, attempt })
            ?? throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown attempt", $"No attempt {attempt} of round {round} of study '{study}'.");
        return a.Participants.Contains(node.Value) ? a : throw new ProtocolRefusalException(StatusCodes.Status403Forbidden, "Not a participant", "This node is not a participant of the attempt.");
    }

    private void CheckPayload(string kind, RoundEngine.AttemptRow a, byte[] payload)
    {
        try
        {
            switch (kind)
            {
                case SignedStatement.KeyShare:
                    _ = scheme.AggregatePublicKey(a.crp_seed, [payload]);
                    break;
                case SignedStatement.Update:
                    scheme.NewSum(a.Request.ValueCount).Add(payload);
                    break;
                default:
                    _ = scheme.CombineDecryptionShares(a.aggregate!, [payload]);
                    break;
            }
        }
        catch (CryptoFormatException e)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Malformed contribution", e.Message);
        }
    }

    private static bool HasContributed(Microsoft.Data.Sqlite.SqliteConnection c, RoundEngine.AttemptRow a, string kind, NodeId node) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@s AND round=@r AND attempt=@a AND kind=@k AND node_id=@n",
            new { s = a.study_id, r = a.round, a = a.attempt, k = kind, n = node.Value }) > 0;

    private static string? PurposeOf(Microsoft.Data.Sqlite.SqliteConnection c, Microsoft.Data.Sqlite.SqliteTransaction t, StudyId study) =>
        c.QuerySingleOrDefault<string?>("SELECT spec_json FROM studies WHERE study_id=@id", new { id = study.Value }, t) is { } json
            ? WireJson.Deserialize<StudySpec>(Encoding.UTF8.GetBytes(json)).PurposeOfUse.Code
            : null;

    private static string Truncate(string s) => s.Length <= 500 ? s : s[..500];
}
