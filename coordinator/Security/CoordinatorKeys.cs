using System.Security.Cryptography;
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

    private const string IdentityFile = "identity.key.sealed";

    private CoordinatorKeys(Ed25519Identity identity, string adminToken, bool identityCreated)
    {
        Identity = identity;
        AdminToken = adminToken;
        IdentityCreated = identityCreated;
    }

    public Ed25519Identity Identity { get; }

    /// <summary>True when this load generated the identity key (the audit trail records it).</summary>
    public bool IdentityCreated { get; }

    public string AdminToken { get; }

    public static CoordinatorKeys LoadOrCreate(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var protector = CreateProtector(dataDir);
        var sealedPath = Path.Combine(dataDir, IdentityFile);
        Ed25519Identity identity;
        var created = false;
        if (File.Exists(sealedPath))
        {
            identity = Ed25519Identity.Import(protector.Unprotect(File.ReadAllBytes(sealedPath)));
        }
        else
        {
            identity = Ed25519Identity.Generate();
            WriteOwnerOnly(sealedPath, protector.Protect(identity.ExportPrivateKey()));
            created = true;
        }

        var tokenPath = Path.Combine(dataDir, "admin.token");
        if (!File.Exists(tokenPath))
        {
            WriteOwnerOnly(tokenPath, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));
        }

        return new CoordinatorKeys(identity, File.ReadAllText(tokenPath).Trim(), created);
    }

    /// <summary>
    /// The coordinator's public key, read from its sealed identity without creating anything (for
    /// `ftwin audit verify`). Throws FileNotFoundException when the directory has no identity.
    /// </summary>
    public static string ReadPublicKey(string dataDir)
    {
        var sealedPath = Path.Combine(dataDir, IdentityFile);
        if (!File.Exists(sealedPath))
        {
            throw new FileNotFoundException($"{dataDir} holds no coordinator identity ({IdentityFile}).", sealedPath);
        }

        using var identity = Ed25519Identity.Import(CreateProtector(dataDir).Unprotect(File.ReadAllBytes(sealedPath)));
        return identity.PublicKey;
    }

    private static IDataProtector CreateProtector(string dataDir) =>
        DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dataDir, "keys")), b => b.SetApplicationName("FederatedTwin.Coordinator"))
            .CreateProtector("FederatedTwin.Coordinator.IdentityKey.v1");

    /// <summary>The admin token stored in a data directory, for the CLI on the same host.</summary>
    public static string ReadAdminToken(string dataDir) => File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim();

    public bool IsAdminToken(string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(presented), System.Text.Encoding.UTF8.GetBytes(AdminToken));

    private static void WriteOwnerOnly(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    public void Dispose() => Identity.Dispose();
}
