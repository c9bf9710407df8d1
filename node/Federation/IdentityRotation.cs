using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Identity;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>A finished rotation: the node, its old and new keys, and when the coordinator switched.</summary>
public sealed record IdentityRotationResult(NodeId Node, string OldPublicKey, string NewPublicKey, DateTimeOffset ValidFrom, Uri Coordinator, bool Resumed);

/// <summary>The rotation lock is held by another process (another `ftwin node key rotate`, or the running node finishing one).</summary>
public sealed class IdentityRotationBusyException() : Exception("Another process is rotating this node's identity key right now; try again when it has finished.");

/// <summary>
/// Replaces the node's Ed25519 identity key (docs/operations.md, "Rotate or revoke a node's key"), in phases that each
/// leave the node in a state the next run finishes, whichever process runs it and wherever it is killed:
/// <list type="number">
/// <item><see cref="Prepare"/>: a new key, sealed to identity.key.pending.sealed and flushed before anything leaves the node.</item>
/// <item><see cref="Request"/>: POST /v1/node/key-rotation, signed (RFC 9421) by the current key, carrying the new key and
/// both keys' signatures over the rotation statement. If the coordinator refuses the current key because it already holds the
/// new one (it accepted the request, and the node died before it recorded the answer), the same request is sent again signed by
/// the new key, and the coordinator confirms it.</item>
/// <item><see cref="Commit"/>: in one transaction of node.db, a checkpoint signed by the old key, the identity_key_rotated entry
/// (with both signatures), and a checkpoint of that entry signed by the new key. From here the trail names the new key as the
/// identity, for every process that signs (node/Identity/NodeIdentityKeys.cs).</item>
/// <item><see cref="Finish"/>: identity-keys.json rewritten from the trail, and the pending key renamed over identity.key.sealed.</item>
/// </list>
/// A refusal of the rotation itself (400, 409, in a response signed by the coordinator) is audited and the pending key destroyed.
/// </summary>
public sealed class IdentityRotation(NodeDirectory node, HttpClient? http = null)
{
    private static readonly TimeSpan SignatureWindow = TimeSpan.FromSeconds(60);

    /// <summary>Rotates the key, or finishes a rotation a crash left pending (then no new key is made).</summary>
    public static async Task<IdentityRotationResult> Rotate(NodeDirectory node, HttpClient? http, CancellationToken cancellationToken) =>
        await Run(node, http, startNew: true, cancellationToken) ?? throw new InvalidOperationException("A rotation that may start a new key always ends with a result.");

    /// <summary>Finishes a rotation a crash left pending; null when none is pending or another process holds the rotation lock.</summary>
    public static async Task<IdentityRotationResult?> ResumePending(NodeDirectory node, HttpClient? http, CancellationToken cancellationToken)
    {
        if (!File.Exists(node.Keys.PendingPath))
        {
            return null;
        }

        try
        {
            return await Run(node, http, startNew: false, cancellationToken);
        }
        catch (IdentityRotationBusyException)
        {
            return null;
        }
    }

    private static async Task<IdentityRotationResult?> Run(NodeDirectory node, HttpClient? http, bool startNew, CancellationToken cancellationToken)
    {
        using var gate = node.Keys.TryLock() ?? throw new IdentityRotationBusyException();
        var rotation = new IdentityRotation(node, http);
        var enrollment = node.Store.GetEnrollment() ?? throw new InvalidOperationException("This node is not enrolled: there is no coordinator to rotate its key with. Enroll it first (`ftwin node enroll`).");
        var coordinator = new Uri(enrollment.CoordinatorUrl);
        var current = node.Identity; // the key the trail names now (owned by the directory, like the pending one)
        var pending = node.Keys.Pending();
        if (pending is not null && pending.PublicKey == current.PublicKey)
        {
            // The trail already names the pending key: only the files are left to do.
            var (old, validFrom) = rotation.Finish();
            return new IdentityRotationResult(new NodeId(enrollment.NodeId), old, current.PublicKey, validFrom, coordinator, Resumed: true);
        }

        if (pending is null && !startNew)
        {
            return null;
        }

        var resumed = pending is not null;
        pending ??= rotation.Prepare();
        var response = await rotation.Request(current, pending, cancellationToken);
        rotation.Commit(current, pending, response);
        rotation.Finish();
        return new IdentityRotationResult(response.NodeId, current.PublicKey, pending.PublicKey, response.ValidFrom, coordinator, resumed);
    }

    /// <summary>Phase 1: a fresh key, sealed as the pending identity and flushed to the disk.</summary>
    public Ed25519Identity Prepare()
    {
        var next = Ed25519Identity.Generate();
        node.Keys.WritePending(next);
        node.Store.Event("identity_key_rotation_started", null, $"new key {KeyRotationStatement.Fingerprint(next.PublicKey)} sealed as pending");
        return next;
    }

    /// <summary>Phase 2: the coordinator checks both signatures and switches to the new key; its answer is signed.</summary>
    public async Task<KeyRotationResponse> Request(Ed25519Identity current, Ed25519Identity next, CancellationToken cancellationToken)
    {
        var enrollment = node.Store.GetEnrollment() ?? throw new InvalidOperationException("This node is not enrolled.");
        if (Hosting.Security.UrlPolicy.Refusal(new Uri(enrollment.CoordinatorUrl), "the coordinator URL this node enrolled with") is { } insecure)
        {
            throw new CoordinatorRefusedException(0, "Insecure coordinator URL", insecure);
        }

        var policy = node.LoadPolicy();
        if (!policy.Trusts(enrollment.CoordinatorPublicKey))
        {
            throw new CoordinatorRefusedException(0, "Untrusted coordinator", $"The coordinator this node enrolled with ({enrollment.CoordinatorUrl}) is not among trusted_coordinators in {node.PolicyPath}: refusing to talk to it.");
        }

        var nodeId = new NodeId(enrollment.NodeId);
        var statement = KeyRotationStatement.For(nodeId, current.PublicKey, next.PublicKey);
        // Ed25519 signatures are deterministic (RFC 8032 section 5.1.6): a resumed rotation sends byte-identical signatures.
        var request = new KeyRotationRequest(nodeId, current.PublicKey, next.PublicKey, current.Sign(statement), next.Sign(statement));
        var client = http ?? CoordinatorTransport.Client(node, new Uri(enrollment.CoordinatorUrl), TimeSpan.FromSeconds(60));
        try
        {
            KeyRotationResponse response;
            try
            {
                response = await Client(client, current, enrollment).Post<KeyRotationResponse>(KeyRotationStatement.Path, request, cancellationToken);
            }
            catch (CoordinatorRefusedException e) when (EnrollmentEvidence.CoordinatorHolds(e, enrollment.NodeId, current.PublicKey, next.PublicKey))
            {
                // The coordinator already switched to the new key (this rotation reached it before a crash): confirm with the new key.
                response = await Client(client, next, enrollment).Post<KeyRotationResponse>(KeyRotationStatement.Path, request, cancellationToken);
            }

            if (response.NodeId != nodeId || response.PublicKey != next.PublicKey || response.PreviousPublicKey != current.PublicKey)
            {
                throw new CoordinatorRefusedException(200, "Unexpected key rotation answer", $"The coordinator answered for node {response.NodeId} with key {response.PublicKey} replacing {response.PreviousPublicKey}; this node asked to replace {current.PublicKey} by {next.PublicKey}. The rotation stays pending.");
            }

            return response;
        }
        catch (CoordinatorRefusedException e) when (e.Problem is not null && e.Status is 400 or 409)
        {
            // Refused by the coordinator in a signed answer: the rotation will not happen with this key. Destroy it.
            node.Audit.Append(NodeAuditRecords.IdentityKeyRotationFailed(enrollment.NodeId, current.PublicKey, next.PublicKey, e.Status, $"{e.Title}: {e.Detail}"));
            node.Keys.DeletePending();
            throw;
        }
        catch (CoordinatorRefusedException e) when (EnrollmentEvidence.Read(e, enrollment.NodeId, current.PublicKey) is { } refusal)
        {
            EnrollmentEvidence.Record(node, refusal);
            throw;
        }
        finally
        {
            if (http is null)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// Phase 3: the rotation in the node's own trail, in one transaction: the old key signs the head just before the
    /// rotation entry, the new key signs the rotation entry. Does nothing if the trail already records it.
    /// </summary>
    public void Commit(Ed25519Identity current, Ed25519Identity next, KeyRotationResponse response)
    {
        var enrollment = node.Store.GetEnrollment() ?? throw new InvalidOperationException("This node is not enrolled.");
        var statement = KeyRotationStatement.For(response.NodeId, current.PublicKey, next.PublicKey);
        var committed = node.Store.Write((c, t) =>
        {
            var identity = node.Keys.Current(c, t).PublicKey;
            if (identity == next.PublicKey)
            {
                return false;
            }

            if (identity != current.PublicKey)
            {
                throw new InvalidOperationException($"The node's identity changed to {identity} during the rotation from {current.PublicKey}: nothing recorded.");
            }

            node.Audit.Checkpoint(c, t, CheckpointReasons.KeyRotation); // by the old key, of the head before the rotation
            node.Audit.Append(c, t, NodeAuditRecords.IdentityKeyRotated(enrollment.NodeId, current.PublicKey, next.PublicKey, current.Sign(statement), next.Sign(statement), response.ValidFrom, enrollment.CoordinatorUrl));
            node.Audit.Checkpoint(c, t, CheckpointReasons.KeyRotation); // by the new key, of the rotation entry
            return true;
        });
        if (committed)
        {
            node.Store.Event("identity_key_rotated", null, $"identity key {KeyRotationStatement.Fingerprint(current.PublicKey)} replaced by {KeyRotationStatement.Fingerprint(next.PublicKey)}");
        }
    }

    /// <summary>
    /// Phase 4: the key history file from the trail, then the pending key renamed over the sealed identity (the old
    /// private key is gone from the disk). Returns the key retired last and when the coordinator switched.
    /// </summary>
    public (string RetiredKey, DateTimeOffset ValidFrom) Finish()
    {
        var enrollment = node.Store.GetEnrollment() ?? throw new InvalidOperationException("This node is not enrolled.");
        var (entries, _) = node.Store.Read(FederatedTwin.Protocol.Audit.AuditLog.ReadAll);
        var currentKey = IdentityKeyChain.CurrentKey(entries) ?? throw new InvalidOperationException("The audit trail is empty.");
        var retired = IdentityKeyHistory.FromTrail(entries, currentKey);
        IdentityKeyHistory.Write(node.Path, enrollment.NodeId, retired);
        if (node.Keys.Pending()?.PublicKey == currentKey)
        {
            node.Keys.PromotePending();
        }

        var rotation = entries.Last(e => e.Action == AuditActions.IdentityKeyRotated);
        var validFrom = System.Text.Json.Nodes.JsonNode.Parse(rotation.Detail)?["coordinator_valid_from"]?.GetValue<string>() is { } at ? AuditChain.ParseTimestamp(at) : AuditChain.ParseTimestamp(rotation.At);
        return (retired[^1].PublicKey, validFrom);
    }

    private CoordinatorClient Client(HttpClient client, Ed25519Identity identity, Storage.NodeStore.Enrollment enrollment) =>
        new(client, identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, SignatureWindow, () =>
        {
            var head = node.Store.Read(c => FederatedTwin.Protocol.Audit.AuditLog.Head(c, null));
            return FederationProtocol.AuditHead(head?.Seq ?? 0, head?.Hash);
        });
}
