using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using System.Data.Common;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>A key a node has held, as node_key_history keeps it.</summary>
public sealed record NodeKeyRecord(string PublicKey, string ValidFrom, string? ValidUntil, string? ReplacedBy)
{
    public string Fingerprint => KeyRotationStatement.Fingerprint(PublicKey);
}

/// <summary>An enrolled node as the ACO's administrators list it (`ftwin coordinator node list`, GET /v1/admin/nodes).</summary>
public sealed record NodeListing(string NodeId, string Name, string PublicKey, string EnrolledAt, string? LastSeenAt, long ProtocolVersion, bool Revoked, int KeyRotations)
{
    public string Fingerprint => KeyRotationStatement.Fingerprint(PublicKey);
}

/// <summary>
/// Nodes' identity keys at the coordinator: rotation (POST /v1/node/key-rotation) and the key history. A rotation is
/// accepted only from the node's current key (the RFC 9421 signature the middleware checked), with the new key's proof
/// of possession and the old key's signature over the same statement; it switches nodes.public_key in the same
/// transaction as the history and the audit entry, after which the middleware refuses the old key (401). Refusals are
/// audited in a transaction of their own, since the refused change rolls back.
/// </summary>
public sealed class NodeKeys(CoordinatorStore store, CoordinatorAuditTrail audit, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Rotates the key of <paramref name="node"/>, whose request <paramref name="signingKey"/> signed.</summary>
    public KeyRotationResponse Rotate(NodeId node, string signingKey, KeyRotationRequest request, DateTimeOffset now)
    {
        try
        {
            return RotateOrRefuse(node, signingKey, request, now);
        }
        catch (ProtocolRefusalException e)
        {
            Refused(node, request.OldPublicKey, request.NewPublicKey, e);
            throw;
        }
    }

    /// <summary>Audits a refused rotation (also one whose body could not be read).</summary>
    public void Refused(NodeId node, string? oldPublicKey, string? newPublicKey, ProtocolRefusalException refusal) =>
        audit.Append(CoordinatorAuditRecords.NodeKeyRotationRefused(node.Value, oldPublicKey, newPublicKey, refusal.Status, $"{refusal.Title}: {refusal.Message}"), _clock.GetUtcNow());

    private KeyRotationResponse RotateOrRefuse(NodeId node, string signingKey, KeyRotationRequest request, DateTimeOffset now)
    {
        if (request.NodeId != node)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Mismatched node", "The body names another node than the one whose key signed the request.");
        }

        if (!KeyRotationStatement.IsPublicKey(request.OldPublicKey) || !KeyRotationStatement.IsPublicKey(request.NewPublicKey))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid key", "old_public_key and new_public_key must each be a base64 raw Ed25519 public key (32 bytes).");
        }

        var (old, next) = (request.OldPublicKey!, request.NewPublicKey!);
        if (request.NewKeySignature is null || request.OldKeySignature is null)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Proof of possession missing",
                $"A rotation carries new_key_signature (the new key's proof of possession) and old_key_signature, both Ed25519 signatures over the statement '{KeyRotationStatement.Domain}' naming the node, the old key and the new key.");
        }

        var statement = KeyRotationStatement.For(node, old, next);
        if (!Ed25519Identity.Verify(next, statement, request.NewKeySignature))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Proof of possession invalid", "new_key_signature does not verify under the new key over the rotation statement: the sender has not shown it holds the new key.");
        }

        if (!Ed25519Identity.Verify(old, statement, request.OldKeySignature))
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Old key signature invalid", "old_key_signature does not verify under the old key over the rotation statement.");
        }

        return store.Write((c, t) =>
        {
            var current = NodeQueries.ActiveKey(c, t, node.Value)
                ?? throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Not enrolled", "This node is not enrolled, or was revoked.");
            if (current == next && signingKey == next && History(c, t, node).FirstOrDefault(k => k.PublicKey == old)?.ReplacedBy == next)
            {
                // The node asks again, with its new key, after a crash lost the answer: the rotation already happened; confirm it.
                var since = History(c, t, node).Single(k => k.PublicKey == next).ValidFrom;
                return new KeyRotationResponse(node, next, old, StoredTime.Parse(since));
            }

            if (old != current || signingKey != current)
            {
                throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Not the current key", "old_public_key must be the node's current key, and the request must be signed by it.");
            }

            var holder = NodeQueries.KeyHolder(c, t, next);
            if (holder is not null)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Key already enrolled",
                    holder == node.Value ? "The new key is one this node already holds or held; a rotation needs a key never used before." : "The new key is enrolled for another node, now or in the past.");
            }

            NodeQueries.RotateKey(c, t, node.Value, old, next, now);
            EventQueries.Append(c, t, now, "node_key_rotated", null, node.Value, $"key {KeyRotationStatement.Fingerprint(old)} replaced by {KeyRotationStatement.Fingerprint(next)}");
            audit.Append(c, t, CoordinatorAuditRecords.NodeKeyRotated(node.Value, old, next, request.OldKeySignature, request.NewKeySignature), now);
            audit.Checkpoint(c, t, CheckpointReasons.KeyRotation, now);
            return new KeyRotationResponse(node, next, old, now);
        });
    }

    /// <summary>Every key a node has held, oldest first.</summary>
    public IReadOnlyList<NodeKeyRecord> History(NodeId node) => store.Read(c => History(c, null, node));

    /// <summary>Every enrolled node (revoked ones too), with its current key and how often it rotated.</summary>
    public IReadOnlyList<NodeListing> List() => store.Read(c => NodeQueries.Listings(c).Select(n => new NodeListing(n.node_id, n.name, n.public_key, n.enrolled_at, n.last_seen_at, n.protocol_version, n.revoked != 0, (int)n.rotations)).ToList());

    private static List<NodeKeyRecord> History(DbConnection c, DbTransaction? t, NodeId node) =>
        [.. NodeQueries.KeyHistory(c, t, node.Value).Select(k => new NodeKeyRecord(k.public_key, k.valid_from, k.valid_until, k.replaced_by))];
}
