using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FederatedTwin.Hosting.Files;

namespace FederatedTwin.Hosting.Security;

/// <summary>
/// The certificate that encrypts a service's Data Protection key ring at rest (keys/*.xml: each key's master secret becomes an
/// XML Encryption `encryptedSecret`, W3C XML Encryption Syntax and Processing, under the certificate's RSA key). Without it the
/// ring is plaintext XML on Linux and anyone who reads keys/ can unseal the identity key, the pseudonymisation key and the attempt
/// secrets. Configured as a path (a mounted secret): the environment variable <see cref="PathVariable"/> (PKCS#12, with an
/// optional <see cref="PasswordVariable"/>, or PEM holding the certificate and its private key); otherwise the service makes one
/// and keeps it in its directory beside keys/ (<see cref="DefaultFileName"/>, 0600), which protects a copy of keys/ alone, not a
/// copy of the whole directory (docs/operations.md, "Hardening checklist": mount the certificate from elsewhere for that).
/// </summary>
public static class KeyRingEncryption
{
    /// <summary>Where a configured certificate is (the configuration key KeyEncryption:Certificate, as an environment variable).</summary>
    public const string PathVariable = "FTWIN_KeyEncryption__Certificate";

    /// <summary>The password of a configured PKCS#12 file, if it has one.</summary>
    public const string PasswordVariable = "FTWIN_KeyEncryption__CertificatePassword";

    /// <summary>The certificate a service makes for itself when none is configured, in its directory (outside keys/).</summary>
    public const string DefaultFileName = "key-encryption.pfx";

    /// <summary>The key-encryption certificate for a service directory: the configured one, else the directory's own, made on first use.</summary>
    public static X509Certificate2 Certificate(string directory)
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } configured)
        {
            return Load(configured, Environment.GetEnvironmentVariable(PasswordVariable));
        }

        var path = Path.Combine(directory, DefaultFileName);
        if (!File.Exists(path))
        {
            try
            {
                DurableFile.CreateOwnerOnly(path, Generate());
            }
            catch (IOException) when (File.Exists(path))
            {
                // another process made it first: use that one
            }
        }

        return Load(path, password: null);
    }

    /// <summary>A self-signed RSA-3072 certificate for key encryption only (nothing validates it: it is a key holder, not an identity).</summary>
    private static byte[] Generate()
    {
        using var rsa = RSA.Create(3072);
        var request = new CertificateRequest("CN=FederatedTwin key ring encryption", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.DataEncipherment, critical: true));
        var now = TimeProvider.System.GetUtcNow();
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(100));
        return certificate.Export(X509ContentType.Pkcs12);
    }

    private static X509Certificate2 Load(string path, string? password)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The key-encryption certificate {path} ({PathVariable}) does not exist.", path);
        }

        var certificate = path.EndsWith(".pem", StringComparison.OrdinalIgnoreCase)
            ? X509Certificate2.CreateFromPemFile(path)
            : X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.EphemeralKeySet);
        using var key = certificate.HasPrivateKey ? certificate.GetRSAPrivateKey() : null;
        return key is not null
            ? certificate
            : throw new CryptographicException($"The key-encryption certificate {path} holds no RSA private key: the key ring could be encrypted but never read back.");
    }
}
