using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using System.Data.Common;

namespace FederatedTwin.Coordinator.Audit;

/// <summary>
/// The coordinator's tamper-evident audit trail (audit_log and audit_checkpoints in coordinator.db;
/// format in protocol/Audit). Entries are appended in the same transaction as the state change they
/// record, with the same timestamp; checkpoints are signed with the coordinator's identity key.
/// </summary>
public sealed class CoordinatorAuditTrail(CoordinatorStore store, CoordinatorKeys keys, int checkpointInterval = AuditChain.DefaultCheckpointInterval)
{
    /// <summary>The coordinator's actor name in its entries (the key id nodes pin it under).</summary>
    public const string Actor = CoordinatorKeys.KeyId;

    private readonly AuditLog _log = new(keys.Identity, checkpointInterval);

    public string PublicKey => keys.Identity.PublicKey;

    public AuditEntry Append(AuditRecord record, DateTimeOffset now) => store.Write((c, t) => Append(c, t, record, now));

    public AuditEntry Append(DbConnection connection, DbTransaction transaction, AuditRecord record, DateTimeOffset now) =>
        _log.Append(connection, transaction, Actor, record, now);

    public AuditCheckpoint? Checkpoint(string reason, DateTimeOffset now) => store.Write((c, t) => Checkpoint(c, t, reason, now));

    public AuditCheckpoint? Checkpoint(DbConnection connection, DbTransaction transaction, string reason, DateTimeOffset now) =>
        _log.Checkpoint(connection, transaction, reason, now);
}
