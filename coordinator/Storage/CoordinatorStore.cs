using FederatedTwin.Hosting.Storage;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>
/// The coordinator's SQLite store (coordinator.db). All round state lives here, never only in
/// memory, so the process can be killed at any point and resume. Every state change is one
/// transaction. The store holds ciphertexts and decrypted sums, never one node's plaintext update.
/// Foreign keys are enforced on every connection; pages are SQLite's default size.
/// </summary>
/// <param name="dataDir">The coordinator's data directory.</param>
/// <param name="maxSizeBytes">The store size cap (hosting/Storage/StoreSizeCap.cs), on every connection; null for none.</param>
public sealed class CoordinatorStore(string dataDir, long? maxSizeBytes = null)
    : SqliteStore(new SqliteSettings(System.IO.Path.Combine(dataDir, "coordinator.db"), ForeignKeys: true, MaxSizeBytes: maxSizeBytes), Migrations.Schema);
