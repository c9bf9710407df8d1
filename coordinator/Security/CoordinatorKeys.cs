using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// The coordinator's Ed25519 identity (sealed at rest with ASP.NET Core Data Protection, key ring in
/// DATA_DIR/keys) and the analysts' admin token (DATA_DIR/admin.token, owner-only).
/// </summary>
public sealed class CoordinatorKeys : IDisposable
{
    public const string KeyId = "coordinator";

    private CoordinatorKeys(Ed25519Identity identity, string adminToken, bool identityCreated)
    {
        Identity = identity;
        AdminToken = adminToken;
        IdentityCreated = identityCreated;
    }

    public Ed25519Identity Identity { get; }

    /// <summary>True when this load generated the identity key (the audit trail records it).</summary>
    public bool IdentityCreated { get; }

    /// <summary>The admin token as it was when the coordinator started.</summary>
    public string AdminToken { get; }

    public static CoordinatorKeys LoadOrCreate(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var identity = SealedIdentity.LoadOrCreate(dataDir, CreateProtector(dataDir), out var created);
        AdminTokens.EnsureCreated(dataDir);
        return new CoordinatorKeys(identity, AdminTokens.Read(dataDir), created);
    }

    /// <summary>
    /// The coordinator's public key, read from its sealed identity without creating anything (for
    /// `ftwin audit verify`). Throws FileNotFoundException when the directory has no identity.
    /// </summary>
    public static string ReadPublicKey(string dataDir) => SealedIdentity.ReadPublicKey(dataDir, CreateProtector(dataDir), "coordinator");

    private static IDataProtector CreateProtector(string dataDir) =>
        SealedIdentity.Protector(dataDir, "FederatedTwin.Coordinator", "FederatedTwin.Coordinator.IdentityKey.v1");

    /// <summary>The admin token stored in a data directory, for the CLI on the same host.</summary>
    public static string ReadAdminToken(string dataDir) => AdminTokens.Read(dataDir);

    public bool IsAdminToken(string? presented) => AdminTokens.Matches(presented, AdminToken);

    public void Dispose() => Identity.Dispose();
}
