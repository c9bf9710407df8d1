using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FederatedTwin.Hosting.Files;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// How the node reaches its coordinator over TLS. The coordinator's certificate is checked as every https client checks it (the
/// system's trust store, the host name, the validity period), or, when the hospital pinned the CA that issues it
/// (`ftwin node enroll --coordinator-ca FILE`, copied into the node directory as <see cref="CaFileName"/>), against that CA only:
/// certificate validation is never turned off. For mutual TLS the node holds a TLS client key of its own, an ECDSA P-256 key (.NET
/// has no Ed25519 X.509) with a self-signed certificate, made at its first enrollment over https; its private key is sealed at rest
/// with the node's Data Protection key ring as the node's other keys are, and the certificate's SHA-256 fingerprint goes into the
/// signed, token-bound enrollment, so the coordinator trusts exactly that certificate for this node. It is kept across identity key
/// rotations (the rotation is signed over the same connection); to replace it, enroll a new node directory.
/// </summary>
public static class CoordinatorTransport
{
    /// <summary>The pinned CA certificates (PEM) in the node directory.</summary>
    public const string CaFileName = "coordinator-ca.pem";

    /// <summary>The TLS client certificate (PEM) in the node directory.</summary>
    public const string ClientCertificateFileName = "tls-client.crt";

    /// <summary>The TLS client certificate's private key (PKCS#8), sealed with Data Protection.</summary>
    public const string ClientKeyFileName = "tls-client.key.sealed";

    /// <summary>id-kp-serverAuth and id-kp-clientAuth (RFC 5280 section 4.2.1.12).</summary>
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    private const string ClientAuthentication = "1.3.6.1.5.5.7.3.2";

    private const string KeyPurpose = "FederatedTwin.Node.TlsClientKey.v1";

    /// <summary>The CA certificates in a PEM file, refused when it holds none or one that is not a CA.</summary>
    public static X509Certificate2Collection ReadCa(string caFile)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(caFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new CoordinatorRefusedException(0, "Unreadable coordinator CA", $"The coordinator CA file {caFile} cannot be read as PEM certificates: {e.Message}");
        }

        if (certificates.Count == 0)
        {
            throw new CoordinatorRefusedException(0, "Unreadable coordinator CA", $"The coordinator CA file {caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        if (certificates.Any(c => c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is not { CertificateAuthority: true }))
        {
            throw new CoordinatorRefusedException(0, "Not a CA certificate", $"The coordinator CA file {caFile} holds a certificate that is not a CA (basic constraints cA=true): give the CA that issued the coordinator's certificate, not the certificate itself.");
        }

        return certificates;
    }

    /// <summary>Copies the CA file into the node directory (owner-only), where the worker, key rotation and the CLI read it from then on.</summary>
    public static void PinCa(NodeDirectory node, string caFile)
    {
        ArgumentNullException.ThrowIfNull(node);
        _ = ReadCa(caFile);
        var pinned = Path.Combine(node.Path, CaFileName);
        var content = File.ReadAllBytes(caFile);
        if (File.Exists(pinned))
        {
            DurableFile.Replace(pinned, content);
        }
        else
        {
            DurableFile.CreateOwnerOnly(pinned, content);
        }
    }

    /// <summary>
    /// The fingerprint of the node's TLS client certificate (SHA-256 of its DER, lower-case hex), made and sealed first when the node
    /// has none. A retried enrollment finds and registers the same one.
    /// </summary>
    public static string EnsureClientCertificate(NodeDirectory node, TimeProvider clock)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(clock);
        if (LoadClientCertificate(node) is { } existing)
        {
            using (existing)
            {
                return Fingerprint(existing);
            }
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=ftwin-node {Protocol.Federation.KeyRotationStatement.Fingerprint(node.Identity.PublicKey)[..16]}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ClientAuthentication)], false));
        var now = clock.GetUtcNow();
        // Trusted by its fingerprint, not its dates (the coordinator checks no chain for it): long-lived, replaced by enrolling anew.
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(20));
        DurableFile.CreateOwnerOnly(Path.Combine(node.Path, ClientKeyFileName), Protector(node).Protect(key.ExportPkcs8PrivateKey()));
        DurableFile.CreateOwnerOnly(Path.Combine(node.Path, ClientCertificateFileName), System.Text.Encoding.ASCII.GetBytes(certificate.ExportCertificatePem() + "\n"));
        return Fingerprint(certificate);
    }

    /// <summary>The node's TLS client certificate with its private key, or null when it has none.</summary>
    public static X509Certificate2? LoadClientCertificate(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var certificatePath = Path.Combine(node.Path, ClientCertificateFileName);
        var keyPath = Path.Combine(node.Path, ClientKeyFileName);
        if (!File.Exists(certificatePath) || !File.Exists(keyPath))
        {
            return null;
        }

        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(certificatePath));
        using var key = ECDsa.Create();
        key.ImportPkcs8PrivateKey(Protector(node).Unprotect(File.ReadAllBytes(keyPath)), out _);
        return certificate.CopyWithPrivateKey(key);
    }

    /// <summary>The fingerprint of the node's TLS client certificate, or null when it has none.</summary>
    public static string? ClientCertificateFingerprint(NodeDirectory node)
    {
        using var certificate = LoadClientCertificate(node);
        return certificate is null ? null : Fingerprint(certificate);
    }

    /// <summary>A certificate's SHA-256 fingerprint as the protocol writes it.</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
    }

    /// <summary>
    /// The handler of every connection to the coordinator: the pinned CA (<paramref name="caFile"/>, or the node directory's) in place
    /// of the system's trust store when there is one, and the node's client certificate when it has one.
    /// </summary>
    public static SocketsHttpHandler Handler(NodeDirectory node, string? caFile = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        var pinned = caFile ?? Path.Combine(node.Path, CaFileName);
        if (caFile is not null || File.Exists(pinned))
        {
            var roots = ReadCa(pinned);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) => TrustedByPinnedCa(roots, certificate, chain, errors);
        }

        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13; // RFC 8996: not TLS 1.0 or 1.1
        if (LoadClientCertificate(node) is { } client)
        {
            // Offered whatever CA names the server's request lists: the coordinator trusts it by fingerprint, not by issuer.
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => client;
        }

        return handler;
    }

    /// <summary>An HTTP client for the coordinator at <paramref name="coordinator"/> with <see cref="Handler"/>.</summary>
    public static HttpClient Client(NodeDirectory node, Uri coordinator, TimeSpan timeout, string? caFile = null) =>
        new(Handler(node, caFile), disposeHandler: true) { BaseAddress = coordinator, Timeout = timeout };

    /// <summary>A TLS failure said plainly (which certificate, and what to do), or null when the failure was not TLS's.</summary>
    public static CoordinatorRefusedException? Explain(HttpRequestException e, Uri coordinator, bool caPinned)
    {
        ArgumentNullException.ThrowIfNull(e);
        ArgumentNullException.ThrowIfNull(coordinator);
        if (e.InnerException is not AuthenticationException tls)
        {
            return null;
        }

        var remedy = caPinned
            ? "it is not issued for this host name by the pinned CA (coordinator-ca.pem), or it is expired: check the certificate the coordinator serves and the CA the ACO gave you"
            : "if the ACO runs its own CA, give its certificate with --coordinator-ca FILE (validation is never turned off)";
        return new CoordinatorRefusedException(0, "Untrusted TLS certificate", $"The coordinator at {coordinator.GetLeftPart(UriPartial.Authority)} presented a TLS certificate this node does not trust ({tls.Message.TrimEnd('.')}): {remedy}.");
    }

    /// <summary>The server's certificate chains to one of the pinned CAs, is for server authentication, and names the host.</summary>
    private static bool TrustedByPinnedCa(X509Certificate2Collection roots, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        // A private CA of the ACO publishes no revocation list the node could reach; a compromised server key is answered by a new CA file.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return chain.Build(leaf);
    }

    private static IDataProtector Protector(NodeDirectory node) => node.Protector.CreateProtector(KeyPurpose);
}
