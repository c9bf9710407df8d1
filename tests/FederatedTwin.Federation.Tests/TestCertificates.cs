using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FederatedTwin.Federation.Tests;

/// <summary>A CA and the certificates it issues, made in the test (CertificateRequest), written as PEM files for the services to load.</summary>
internal sealed class TestCertificates : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public TestCertificates(string directory, string name = "Test CA")
    {
        Directory = directory;
        System.IO.Directory.CreateDirectory(directory);
        var request = new CertificateRequest($"CN={name}", _caKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        Ca = request.CreateSelfSigned(now.AddDays(-30), now.AddYears(1));
        CaFile = Path.Combine(directory, $"{Slug(name)}.crt");
        File.WriteAllText(CaFile, Ca.ExportCertificatePem() + "\n");
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    /// <summary>The CA certificate as a PEM file (what a node pins with --coordinator-ca).</summary>
    public string CaFile { get; }

    /// <summary>A server certificate for 127.0.0.1 and localhost, signed by the CA, and its key: (certificate file, key file).</summary>
    public (string Certificate, string Key) Server(string name = "server", DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null, bool mismatchedKey = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, true, false));
        var now = DateTimeOffset.UtcNow;
        using var certificate = request.Create(Ca, notBefore ?? now.AddDays(-1), notAfter ?? now.AddDays(30), RandomNumberGenerator.GetBytes(16));
        var certificateFile = Path.Combine(Directory, name + ".crt");
        var keyFile = Path.Combine(Directory, name + ".key");
        File.WriteAllText(certificateFile, certificate.ExportCertificatePem() + "\n");
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        File.WriteAllText(keyFile, (mismatchedKey ? other : key).ExportPkcs8PrivateKeyPem() + "\n");
        return (certificateFile, keyFile);
    }

    /// <summary>A self-signed TLS client certificate with its key (not any node's).</summary>
    public static X509Certificate2 SelfSignedClient(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var now = DateTimeOffset.UtcNow;
        return request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
    }

    private static string Slug(string name) => new([.. name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-')]);

    public void Dispose()
    {
        Ca.Dispose();
        _caKey.Dispose();
    }
}
