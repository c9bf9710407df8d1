using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FederatedTwin.Hosting;
using FederatedTwin.Hosting.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// The coordinator's TLS (Kestrel): the certificate its https listeners serve (<see cref="CoordinatorOptions.TlsCertificatePath"/>),
/// the rule that its node listener is https beyond loopback unless a TLS-terminating proxy stands in front
/// (<see cref="CoordinatorOptions.BehindTlsProxy"/>), and optional mutual TLS for nodes
/// (<see cref="CoordinatorOptions.RequireClientCertificates"/>). A node's client certificate is self-signed (an ECDSA P-256 key
/// the node made at enrollment: .NET has no Ed25519 X.509) and is trusted only by the fingerprint the node registered in its
/// signed, token-bound enrollment, so the TLS layer takes any certificate whose key the client proves it holds (the handshake's
/// CertificateVerify, RFC 8446 section 4.4.3) and <see cref="SignedNodeRequests"/> compares its fingerprint with the node's.
/// A misconfigured set-up refuses to start with a one-line reason.
/// </summary>
public static class CoordinatorTls
{
    /// <summary>id-kp-serverAuth (RFC 5280 section 4.2.1.12).</summary>
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>The certificate settings' own problem (null when they are fine): checked with the options at start.</summary>
    internal static string? Problem(CoordinatorOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.TlsCertificatePath is not { Length: > 0 } path)
        {
            if (options.TlsKeyPath is { Length: > 0 })
            {
                return "Coordinator:TlsKeyPath is set without Coordinator:TlsCertificatePath: give the certificate too.";
            }

            return options.RequireClientCertificates
                ? "Coordinator:RequireClientCertificates needs TLS: set Coordinator:TlsCertificatePath and listen on https."
                : null;
        }

        if (options.RequireClientCertificates && options.BehindTlsProxy)
        {
            return "Coordinator:RequireClientCertificates cannot be checked behind a TLS-terminating proxy (Coordinator:BehindTlsProxy): the proxy, not the coordinator, would see the nodes' certificates.";
        }

        X509Certificate2Collection chain;
        try
        {
            chain = Load(options);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return $"Coordinator:TlsCertificatePath {path} (key {options.TlsKeyPath ?? "in the same file"}) cannot be used: {FirstLine(e.Message)} (a missing or unreadable file, a wrong password, or a key that does not match the certificate).";
        }

        using var _ = new Disposables(chain);
        var certificate = chain[0];
        if (!certificate.HasPrivateKey)
        {
            return $"Coordinator:TlsCertificatePath {path} holds no private key for its certificate: give its key in Coordinator:TlsKeyPath.";
        }

        if (certificate.NotAfter.ToUniversalTime() < now.UtcDateTime)
        {
            return $"Coordinator:TlsCertificatePath {path}: the certificate {certificate.Subject} expired on {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm}Z; nodes would refuse it.";
        }

        if (certificate.NotBefore.ToUniversalTime() > now.UtcDateTime)
        {
            return $"Coordinator:TlsCertificatePath {path}: the certificate {certificate.Subject} is not valid before {certificate.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm}Z; check the host's clock.";
        }

        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(e => e.EnhancedKeyUsages.Cast<Oid>()).Select(o => o.Value).ToList();
        return usages.Count > 0 && !usages.Contains(ServerAuthentication, StringComparer.Ordinal)
            ? $"Coordinator:TlsCertificatePath {path}: the certificate {certificate.Subject} is not for TLS server authentication (its extended key usage lacks serverAuth)."
            : null;
    }

    /// <summary>
    /// The listeners' rule, once their URLs are known: an https listener needs the certificate; the node listener is https beyond
    /// loopback unless the ACO says a TLS-terminating proxy is in front; mutual TLS needs an https node listener.
    /// </summary>
    internal static string? ListenerProblem(CoordinatorOptions options, IReadOnlyList<string> nodeUrls, Uri adminUrl)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nodeUrls);
        ArgumentNullException.ThrowIfNull(adminUrl);
        var hasCertificate = options.TlsCertificatePath is { Length: > 0 };
        foreach (var url in nodeUrls)
        {
            var binding = Microsoft.AspNetCore.Http.BindingAddress.Parse(url);
            if (binding.Scheme == Uri.UriSchemeHttps && !hasCertificate)
            {
                return $"The node listener {url} is https but no certificate is configured: set Coordinator:TlsCertificatePath (and Coordinator:TlsKeyPath) (docs/operations.md, \"TLS\").";
            }

            if (binding.Scheme == Uri.UriSchemeHttp && !IsLoopback(binding.Host) && !options.BehindTlsProxy)
            {
                return $"{UrlPolicy.HttpsRequired}: the node listener {url} is plain http beyond loopback; listen on https with Coordinator:TlsCertificatePath, or set Coordinator:BehindTlsProxy=true if a TLS-terminating proxy serves the nodes (docs/operations.md, \"TLS\").";
            }
        }

        if (adminUrl.Scheme == Uri.UriSchemeHttps && !hasCertificate)
        {
            return $"Coordinator:AdminUrl {adminUrl.GetLeftPart(UriPartial.Authority)} is https but no certificate is configured: set Coordinator:TlsCertificatePath.";
        }

        return options.RequireClientCertificates && !nodeUrls.Any(u => Microsoft.AspNetCore.Http.BindingAddress.Parse(u).Scheme == Uri.UriSchemeHttps)
            ? "Coordinator:RequireClientCertificates needs an https node listener (--urls https://...)."
            : null;
    }

    /// <summary>Kestrel's https defaults: the configured certificate (and its chain), TLS 1.2 or 1.3, and client certificates asked for when required.</summary>
    internal static void ConfigureHttps(KestrelServerOptions kestrel)
    {
        ArgumentNullException.ThrowIfNull(kestrel);
        var options = kestrel.ApplicationServices.ServiceOptions<CoordinatorOptions>();
        if (options.TlsCertificatePath is not { Length: > 0 })
        {
            return;
        }

        var chain = Load(options);
        kestrel.ConfigureHttpsDefaults(https =>
        {
            https.ServerCertificate = chain[0];
            https.ServerCertificateChain = [.. chain.Skip(1)];
            https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13; // RFC 8996: not TLS 1.0 or 1.1
            if (options.RequireClientCertificates)
            {
                // Asked for in the handshake, not required by it: the dashboard's browsers and the health checks share the listener;
                // /v1/node requests without the node's registered certificate are refused by SignedNodeRequests.
                https.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                https.ClientCertificateValidation = (_, _, _) => true; // trusted by fingerprint, not by a chain (see the class summary)
            }
        });
    }

    /// <summary>The SHA-256 fingerprint (lower-case hex of the DER) of the client certificate the connection presented, or null.</summary>
    public static string? ClientCertificateOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Connection.ClientCertificate is { } certificate ? Fingerprint(certificate) : null;
    }

    /// <summary>A certificate's SHA-256 fingerprint as the protocol writes it.</summary>
    public static string Fingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.RawData));
    }

    /// <summary>The certificate with its key first, then the rest of its file (intermediates).</summary>
    private static X509Certificate2Collection Load(CoordinatorOptions options)
    {
        var path = options.TlsCertificatePath!;
        var extension = Path.GetExtension(path);
        if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
        {
            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(path, options.TlsCertificatePassword);
            var leaf = all.FirstOrDefault(c => c.HasPrivateKey) ?? all.FirstOrDefault() ?? throw new CryptographicException("the file holds no certificate");
            return [leaf, .. all.Where(c => !ReferenceEquals(c, leaf))];
        }

        var certificate = options.TlsCertificatePassword is { Length: > 0 } password
            ? X509Certificate2.CreateFromEncryptedPemFile(path, password, options.TlsKeyPath)
            : X509Certificate2.CreateFromPemFile(path, options.TlsKeyPath);
        var rest = new X509Certificate2Collection();
        rest.ImportFromPemFile(path);
        return [certificate, .. rest.Where(c => c.Thumbprint != certificate.Thumbprint)];
    }

    private static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    private sealed class Disposables(X509Certificate2Collection certificates) : IDisposable
    {
        public void Dispose()
        {
            foreach (var c in certificates)
            {
                c.Dispose();
            }
        }
    }
}
