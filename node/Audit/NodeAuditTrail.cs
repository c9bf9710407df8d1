using System.Text.Json.Nodes;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Audit;

/// <summary>
/// The node's tamper-evident audit trail (audit_log and audit_checkpoints in node.db; format in
/// protocol/Audit). Entries are appended in the same transaction as the action they record whenever
/// the action is a write to node.db, so an action and its audit entry commit or roll back together.
/// The actor is the node id the coordinator assigned, or "node-unenrolled" before enrollment.
/// Checkpoints are signed with the node's identity key.
/// </summary>
public sealed class NodeAuditTrail(NodeStore store, Func<System.Data.Common.DbConnection, System.Data.Common.DbTransaction?, Ed25519Identity> identity, int checkpointInterval = AuditChain.DefaultCheckpointInterval, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public const string UnenrolledActor = "node-unenrolled";

    // The signing key is resolved in the appending transaction: after an identity_key_rotated entry it is the new key (IdentityKeyChain).
    private readonly AuditLog _log = new((c, t) => identity(c, t), checkpointInterval);
    private string? _policyRecorded;

    /// <summary>The node's current public key: checkpoints from now on verify under it.</summary>
    public string PublicKey => store.Read(c => identity(c, null).PublicKey);

    public AuditEntry Append(AuditRecord record) => store.Write((c, t) => Append(c, t, record));

    public AuditEntry Append(SqliteConnection connection, SqliteTransaction transaction, AuditRecord record) =>
        _log.Append(connection, transaction, Actor(connection, transaction), record, _clock.GetUtcNow());

    public AuditCheckpoint? Checkpoint(string reason) => store.Write((c, t) => Checkpoint(c, t, reason));

    public AuditCheckpoint? Checkpoint(SqliteConnection connection, SqliteTransaction transaction, string reason) =>
        _log.Checkpoint(connection, transaction, reason, _clock.GetUtcNow());

    /// <summary>
    /// Records a policy load when the policy file's hash differs from the last one the trail holds (a
    /// new or changed policy), and an invalid policy once per content. The node reads its policy for
    /// every decision; unchanged loads are not repeated.
    /// </summary>
    public void PolicyLoaded(string sha256, SitePolicy? policy, string? error)
    {
        var key = (error is null ? "ok:" : "bad:") + sha256;
        if (key == _policyRecorded)
        {
            return;
        }

        store.Write((c, t) =>
        {
            var (lastAction, lastSha) = LatestPolicyEntry(c, t, AuditActions.PolicyLoaded, AuditActions.PolicyRejected);
            var (_, inForce) = LatestPolicyEntry(c, t, AuditActions.PolicyLoaded);
            if (error is null && !(lastAction == AuditActions.PolicyLoaded && lastSha == sha256))
            {
                Append(c, t, NodeAuditRecords.PolicyLoaded(sha256, inForce, policy!));
            }
            else if (error is not null && !(lastAction == AuditActions.PolicyRejected && lastSha == sha256))
            {
                Append(c, t, NodeAuditRecords.PolicyRejected(sha256, inForce, error));
            }

            return 0;
        });
        _policyRecorded = key;
    }

    /// <summary>The SHA-256 of the policy last loaded successfully (the one in force), from the audit trail.</summary>
    public string? PolicyInForce() => store.Read(c =>
    {
        using var t = c.BeginTransaction();
        return LatestPolicyEntry(c, t, AuditActions.PolicyLoaded).Sha256;
    });

    /// <summary>A compliance officer's signed approval of a policy change (who approved which hash, replacing which).</summary>
    public void PolicyApproved(string sha256, string inForce, string officer) => Append(NodeAuditRecords.PolicyApproved(sha256, inForce, officer));

    private static (string? Action, string? Sha256) LatestPolicyEntry(SqliteConnection c, SqliteTransaction t, params string[] actions)
    {
        var last = AuditTrailQueries.Latest(c, t, actions);
        return last is { } l ? (l.Action, JsonNode.Parse(l.Detail)?["sha256"]?.GetValue<string>()) : (null, null);
    }

    private static string Actor(SqliteConnection connection, SqliteTransaction transaction) =>
        StudyQueries.NodeId(connection, transaction) ?? UnenrolledActor;
}
