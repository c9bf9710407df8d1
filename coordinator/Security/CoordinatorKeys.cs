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

    private CoordinatorKeys(Ed25519Identity identity, string adminToken)
    {
        Identity = identity;
        AdminToken = adminToken;
    }

    public Ed25519Identity Identity { get; }

    public string AdminToken { get; }

    public static CoordinatorKeys LoadOrCreate(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var provider = DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dataDir, "keys")), b => b.SetApplicationName("FederatedTwin.Coordinator"));
        var protector = provider.CreateProtector("FederatedTwin.Coordinator.IdentityKey.v1");
        var sealedPath = Path.Combine(dataDir, "identity.key.sealed");
        Ed25519Identity identity;
        if (File.Exists(sealedPath))
        {
            identity = Ed25519Identity.Import(protector.Unprotect(File.ReadAllBytes(sealedPath)));
        }
        else
        {
            identity = Ed25519Identity.Generate();
            WriteOwnerOnly(sealedPath, protector.Protect(identity.ExportPrivateKey()));
        }

        var tokenPath = Path.Combine(dataDir, "admin.token");
        if (!File.Exists(tokenPath))
        {
            WriteOwnerOnly(tokenPath, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));
        }

        return new CoordinatorKeys(identity, File.ReadAllText(tokenPath).Trim());
    }

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
