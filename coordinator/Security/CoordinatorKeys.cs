using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// The coordinator's Ed25519 identity (sealed at rest with ASP.NET Core Data Protection, key ring in
/// DATA_DIR/keys) and the analysts' admin token, of which DATA_DIR/admin.token (owner-only) keeps only a salted hash
/// (<see cref="AdminTokens"/>): the token is shown once, by whatever made it.
/// </summary>
public sealed class CoordinatorKeys : IDisposable
{
    public const string KeyId = "coordinator";

    private readonly string _dataDir;

    private CoordinatorKeys(Ed25519Identity identity, string dataDir, bool identityCreated, AdminTokenFile adminTokenFile, string? createdAdminToken)
    {
        Identity = identity;
        _dataDir = dataDir;
        IdentityCreated = identityCreated;
        AdminTokenFile = adminTokenFile;
        CreatedAdminToken = createdAdminToken;
    }

    public Ed25519Identity Identity { get; }

    /// <summary>True when this load generated the identity key (the audit trail records it).</summary>
    public bool IdentityCreated { get; }

    /// <summary>Whether this load created the admin token or hashed a plaintext one (the audit trail records either).</summary>
    public AdminTokenFile AdminTokenFile { get; }

    /// <summary>The admin token when this load created it (the one time it exists outside its bearer's hands), else null.</summary>
    public string? CreatedAdminToken { get; }

    /// <summary>The admin token's verifier, read from admin.token now: a token issued while the coordinator runs takes effect at once.</summary>
    public AdminTokenVerifier? AdminToken => AdminTokens.LoadVerifier(_dataDir);

    public static CoordinatorKeys LoadOrCreate(string dataDir)
    {
        Hosting.Files.OwnerOnly.CreateDirectory(dataDir);
        var identity = SealedIdentity.LoadOrCreate(dataDir, CreateProtector(dataDir), out var created);
        var tokenFile = AdminTokens.EnsureHashed(dataDir, out var token);
        return new CoordinatorKeys(identity, dataDir, created, tokenFile, token);
    }

    /// <summary>
    /// The coordinator's public key, read from its sealed identity without creating anything (for
    /// `ftwin audit verify`). Throws FileNotFoundException when the directory has no identity.
    /// </summary>
    public static string ReadPublicKey(string dataDir) => SealedIdentity.ReadPublicKey(dataDir, CreateProtector(dataDir), "coordinator");

    private static IDataProtector CreateProtector(string dataDir) =>
        SealedIdentity.Protector(dataDir, "FederatedTwin.Coordinator", "FederatedTwin.Coordinator.IdentityKey.v1");

    /// <summary>A new admin token for the data directory, replacing the old one (whose bearers are refused from now on); shown once by the caller.</summary>
    public static string IssueAdminToken(string dataDir)
    {
        Hosting.Files.OwnerOnly.CreateDirectory(dataDir);
        return AdminTokens.Issue(dataDir);
    }

    public void Dispose() => Identity.Dispose();
}
