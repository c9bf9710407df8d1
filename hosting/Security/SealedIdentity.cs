using FederatedTwin.Hosting.Files;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Hosting.Security;

/// <summary>
/// A service's Ed25519 identity sealed at rest (identity.key.sealed, owner-only) with ASP.NET Core Data Protection, whose
/// key ring lives in the service directory's keys/: the private key is never on the disk in the clear.
/// </summary>
public static class SealedIdentity
{
    public const string FileName = "identity.key.sealed";

    /// <summary>
    /// The Data Protection protector of a service directory (key ring in DIR/keys) for one purpose: the one place a key ring is
    /// opened, so every command and service that opens a directory first refuses one others can reach (<see cref="OwnerOnly"/>), and
    /// every key the ring makes is encrypted at rest under the key-encryption certificate (<see cref="KeyRingEncryption"/>). Keys
    /// written before keys were encrypted stay readable (Data Protection reads an unencrypted key as it is) until they expire.
    /// </summary>
    public static IDataProtector Protector(string directory, string applicationName, string purpose)
    {
        OwnerOnly.Require(directory);
        var keys = Path.Combine(directory, "keys");
        OwnerOnly.CreateDirectory(keys);
        var certificate = KeyRingEncryption.Certificate(directory);
        return DataProtectionProvider.Create(new DirectoryInfo(keys), b => b.SetApplicationName(applicationName), certificate).CreateProtector(purpose);
    }

    /// <summary>The identity sealed in <paramref name="directory"/>, generated and sealed first when there is none (<paramref name="created"/>).</summary>
    public static Ed25519Identity LoadOrCreate(string directory, IDataProtector protector, out bool created)
    {
        ArgumentNullException.ThrowIfNull(protector);
        var path = Path.Combine(directory, FileName);
        created = !File.Exists(path);
        if (!created)
        {
            return Ed25519Identity.Import(protector.Unprotect(File.ReadAllBytes(path)));
        }

        var identity = Ed25519Identity.Generate();
        DurableFile.CreateOwnerOnly(path, protector.Protect(identity.ExportPrivateKey()));
        return identity;
    }

    /// <summary>
    /// The public key sealed in a service directory, read without creating anything (for `ftwin audit verify`). Throws
    /// FileNotFoundException when the directory has no identity.
    /// </summary>
    /// <param name="service">Whose identity, for the message ("node", "coordinator").</param>
    public static string ReadPublicKey(string directory, IDataProtector protector, string service)
    {
        ArgumentNullException.ThrowIfNull(protector);
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{directory} holds no {service} identity ({FileName}).", path);
        }

        using var identity = Ed25519Identity.Import(protector.Unprotect(File.ReadAllBytes(path)));
        return identity.PublicKey;
    }
}
