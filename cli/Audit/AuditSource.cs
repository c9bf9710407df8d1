using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Protocol.Audit;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Cli.Audit;

/// <summary>Which service's trail a command reads.</summary>
internal enum AuditService
{
    Node,
    Coordinator,
}

/// <summary>An audit trail that cannot be read (no directory, no identity, a store without the audit tables).</summary>
internal sealed class AuditSourceException(string message) : Exception(message)
{
    public AuditSourceException()
        : this("The audit trail cannot be read.")
    {
    }

    public AuditSourceException(string message, Exception innerException)
        : this(message + " " + innerException.Message)
    {
    }
}

/// <summary>
/// A node's or coordinator's audit trail read straight from its SQLite file, for `ftwin audit`: no
/// migration runs, nothing is created or written, so the command can be pointed at a copy kept as
/// evidence as well as at a live directory.
/// </summary>
internal sealed record AuditSource(AuditService Service, string Directory, string StorePath, List<AuditEntry> Entries, List<AuditCheckpoint> Checkpoints)
{
    public static AuditSource Open(AuditService service, string directory)
    {
        directory = Path.GetFullPath(directory);
        var store = Path.Combine(directory, service == AuditService.Node ? "node.db" : "coordinator.db");
        if (!File.Exists(store))
        {
            throw new AuditSourceException($"{store} does not exist: {directory} is not a {(service == AuditService.Node ? "node" : "coordinator")} directory.");
        }

        var connectionString = new SqliteConnectionStringBuilder { DataSource = store, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 30 }.ToString();
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        if (!AuditLog.Exists(connection))
        {
            throw new AuditSourceException($"{store} has no audit trail (audit_log, audit_checkpoints): it was last opened by a build from before the audit trail; start the service once to migrate it.");
        }

        var (entries, checkpoints) = AuditLog.ReadAll(connection);
        return new AuditSource(service, directory, store, entries, checkpoints);
    }

    /// <summary>
    /// A coordinator's trail read through its store, opened as its commands open it (<see cref="Commands.CoordinatorStoreOptions"/>):
    /// how a coordinator on PostgreSQL is read, where there is no file to open read-only.
    /// </summary>
    public static AuditSource Open(string directory, FederatedTwin.Coordinator.Storage.CoordinatorStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var (entries, checkpoints) = store.Read(AuditLog.ReadAll);
        var where = store.Kind == FederatedTwin.Coordinator.Storage.CoordinatorStoreKind.Sqlite ? store.Path : store.Dialect.StoreName;
        return new AuditSource(AuditService.Coordinator, Path.GetFullPath(directory), where, entries, checkpoints);
    }

    /// <summary>The service's public key from its sealed identity (this needs the directory's keys/ key ring).</summary>
    public string ServicePublicKey()
    {
        try
        {
            return Service == AuditService.Node ? NodeDirectory.ReadPublicKey(Directory) : CoordinatorKeys.ReadPublicKey(Directory);
        }
        catch (Exception e) when (e is FileNotFoundException or System.Security.Cryptography.CryptographicException)
        {
            throw new AuditSourceException($"Cannot read the service's public key from {Directory} ({e.Message}); pass it with --public-key.");
        }
    }

    /// <summary>
    /// Checks the chain and its checkpoints under <paramref name="publicKey"/>; for a node whose key was rotated, each
    /// checkpoint under the key of its span, and the spans against the node's key history file (identity-keys.json).
    /// </summary>
    public AuditVerification Verify(string publicKey)
    {
        List<IdentityKeySpan>? history = null;
        string? damaged = null;
        try
        {
            history = Service == AuditService.Node ? FederatedTwin.Node.Identity.IdentityKeyHistory.Read(Directory)?.Select(k => k.Span).ToList() : null;
        }
        catch (InvalidDataException e)
        {
            damaged = e.Message;
        }

        var verification = AuditVerifier.Verify(Entries, Checkpoints, publicKey, history);
        return damaged is null ? verification : verification with { Problems = [.. verification.Problems, new AuditProblem(AuditProblemKind.KeyHistoryMismatch, 1, damaged)] };
    }
}
