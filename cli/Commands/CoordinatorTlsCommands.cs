using System.CommandLine;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FederatedTwin.Hosting.Files;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin coordinator tls-cert create` (a self-signed CA and a server certificate, for a trial: docker-compose.yml) and
/// `ftwin coordinator health` (a readiness probe for containers, whose image has no curl).
/// </summary>
internal static class CoordinatorTlsCommands
{
    public static void AddTo(Command coordinator)
    {
        var tls = new Command("tls-cert", "TLS certificates for a trial (in production the ACO's own CA or a public one issues the coordinator's certificate).");
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Where to write ca.crt, server.crt and server.key (created, owner-only).", Required = true };
        var hosts = new Option<string[]>("--host") { Description = "A DNS name or IP address the coordinator is reached at (repeat it).", Required = true, AllowMultipleArgumentsPerToken = true };
        var days = new Option<int>("--days") { Description = "The server certificate's validity in days.", DefaultValueFactory = _ => 90 };
        var create = new Command("create", "Write a new CA certificate (ca.crt, for the nodes' --coordinator-ca) and a server certificate and key it signed (server.crt, server.key). The CA's private key is not kept: it can sign nothing else.") { outDir, hosts, days };
        create.SetAction(parse =>
        {
            var dir = parse.GetValue(outDir)!.FullName;
            var names = parse.GetValue(hosts)!;
            if (names.Length == 0 || parse.GetValue(days) is < 1 or > 825)
            {
                Console.Error.WriteLine("error: give at least one --host, and --days between 1 and 825 (the CA/Browser Forum's historical maximum).");
                return 2;
            }

            Directory.CreateDirectory(dir);
            var (ca, server, key) = Create(names, TimeSpan.FromDays(parse.GetValue(days)), TimeProvider.System.GetUtcNow());
            DurableFile.CreateOwnerOnly(Path.Combine(dir, "ca.crt"), System.Text.Encoding.ASCII.GetBytes(ca));
            DurableFile.CreateOwnerOnly(Path.Combine(dir, "server.crt"), System.Text.Encoding.ASCII.GetBytes(server));
            DurableFile.CreateOwnerOnly(Path.Combine(dir, "server.key"), System.Text.Encoding.ASCII.GetBytes(key));
            Console.WriteLine($"wrote {Path.Combine(dir, "ca.crt")} (give it to each node: --coordinator-ca), server.crt and server.key (Coordinator:TlsCertificatePath, Coordinator:TlsKeyPath) for {string.Join(", ", names)}");
            return 0;
        });
        tls.Subcommands.Add(create);
        coordinator.Subcommands.Add(tls);

        var url = new Option<string>("--url") { Description = "The health endpoint, e.g. http://127.0.0.1:7401/health/ready (the admin listener serves /health).", Required = true };
        var ca = new Option<FileInfo?>("--ca") { Description = "A PEM CA file to trust for an https URL instead of the system's store." };
        var health = new Command("health", "Exit 0 when the URL answers 2xx within 5 s, else 1: a container health check.") { url, ca };
        health.SetAction(async (parse, cancellationToken) =>
        {
            using var handler = new SocketsHttpHandler();
            if (parse.GetValue(ca) is { } caFile)
            {
                var roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(caFile.FullName);
                handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null || (errors & System.Net.Security.SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return chain.Build(leaf);
                };
            }

            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var target) || (target.Scheme != Uri.UriSchemeHttp && target.Scheme != Uri.UriSchemeHttps))
            {
                Console.Error.WriteLine($"error: --url must be an absolute http(s) URL, got '{parse.GetValue(url)}'.");
                return 2;
            }

            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                using var response = await http.GetAsync(target, cancellationToken);
                Console.WriteLine($"{(int)response.StatusCode} {response.ReasonPhrase}");
                return response.IsSuccessStatusCode ? 0 : 1;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        coordinator.Subcommands.Add(health);
    }

    /// <summary>A CA (ECDSA P-256, its key discarded) and a server certificate for the hosts it signed: PEM texts (CA, server, server key).</summary>
    internal static (string Ca, string Server, string Key) Create(IReadOnlyList<string> hosts, TimeSpan validity, DateTimeOffset now)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=FederatedTwin trial CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var caCertificate = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.Add(validity).AddDays(1));

        using var serverKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hosts[0]}", serverKey, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in hosts)
        {
            if (IPAddress.TryParse(host, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                names.AddDnsName(host);
            }
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // serverAuth
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(caCertificate, true, false));
        using var server = request.Create(caCertificate, now.AddMinutes(-5), now.Add(validity), RandomNumberGenerator.GetBytes(16));
        return (caCertificate.ExportCertificatePem() + "\n", server.ExportCertificatePem() + "\n", serverKey.ExportPkcs8PrivateKeyPem() + "\n");
    }
}
