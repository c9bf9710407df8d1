using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The coordinator over real TLS with a CA made in the test: a whole round with mutual TLS (separate processes), a node that has not
/// pinned the CA refusing the server's certificate, a connection presenting another client certificate refused under its rule and
/// audited, and the TLS set-ups the coordinator refuses to start with.
/// </summary>
public sealed class TlsTransportTests
{
    [Fact]
    public async Task A_whole_study_runs_over_mutual_tls_with_three_nodes_that_pinned_the_ca()
    {
        var root = TestFederation.TempDir("tls-e2e");
        using var certificates = new TestCertificates(Path.Combine(root, "pki"));
        var (certificate, key) = certificates.Server();
        using var federation = await LocalFederation.Start(root, ["site-a", "site-b", "site-c"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None,
            tls: new LocalTls(certificates.CaFile, certificate, key, RequireClientCertificates: true));
        Assert.Equal(Uri.UriSchemeHttps, federation.CoordinatorUrl.Scheme);

        await federation.CreateStudy(TestFederation.StudyYaml("census"), CancellationToken.None);
        var study = await federation.WaitForStudy("census", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        Assert.Equal(TestFederation.Sum(federation.Nodes.Select(n => TestFederation.SiteVector(n.Dir))), TestFederation.Sums(study));

        // Each node pinned the CA and registered its client certificate's fingerprint, which the coordinator holds for it.
        using var connection = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db"));
        var registered = connection.Query<string?>("SELECT tls_client_sha256 FROM nodes ORDER BY name").ToList();
        for (var i = 0; i < federation.Nodes.Count; i++)
        {
            var dir = federation.Nodes[i].Dir;
            Assert.Equal(await File.ReadAllTextAsync(certificates.CaFile), await File.ReadAllTextAsync(Path.Combine(dir, CoordinatorTransport.CaFileName)));
            using var node = NodeDirectory.OpenOrInitialize(dir);
            Assert.Equal(CoordinatorTransport.ClientCertificateFingerprint(node), registered[i]);
            Assert.DoesNotContain("PRIVATE KEY", await File.ReadAllTextAsync(Path.Combine(dir, CoordinatorTransport.ClientKeyFileName)), StringComparison.Ordinal);
        }

        Assert.Empty(RefusalRules(federation.CoordinatorDir)); // no request of the round was refused
    }

    [Fact]
    public async Task A_node_without_the_pinned_ca_refuses_the_coordinators_certificate_and_says_what_to_do()
    {
        await using var coordinator = await TlsCoordinator.Start("tls-untrusted", requireClientCertificates: false);
        var token = await coordinator.Token();
        var dir = TestFederation.TempDir("tls-untrusted-node");
        Assert.Equal(0, TestFederation.Ftwin("node", "init", "--node-dir", dir).ExitCode);
        await File.WriteAllTextAsync(Path.Combine(dir, "policy.yaml"), LocalFederation.DemoPolicy(coordinator.PublicKey, "HOPERAT"));

        var (exit, _, stderr) = TestFederation.Ftwin("node", "enroll", "--node-dir", dir, "--coordinator", coordinator.Url.ToString(), "--token", token, "--name", "no-ca");

        Assert.Equal(2, exit);
        Assert.Contains("Untrusted TLS certificate", stderr, StringComparison.Ordinal);
        Assert.Contains("--coordinator-ca", stderr, StringComparison.Ordinal);
        using var node = NodeDirectory.OpenOrInitialize(dir);
        Assert.Null(node.Store.GetEnrollment());

        // The same node with the CA pinned enrolls with the same token (nothing was sent before the certificate was refused).
        var (pinnedExit, stdout, pinnedError) = TestFederation.Ftwin("node", "enroll", "--node-dir", dir, "--coordinator", coordinator.Url.ToString(), "--token", token, "--name", "with-ca", "--coordinator-ca", coordinator.Certificates.CaFile);
        Assert.True(pinnedExit == 0, pinnedError);
        Assert.StartsWith("enrolled as node-", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_over_a_connection_with_another_client_certificate_is_refused_under_its_rule_and_audited()
    {
        await using var coordinator = await TlsCoordinator.Start("tls-mtls", requireClientCertificates: true);
        using var node = await coordinator.EnrollNode("mtls-node");
        var enrollment = node.Store.GetEnrollment()!;

        // The node's own connection: its registered certificate.
        Assert.NotNull(await Client(node, CoordinatorTransport.Handler(node)).Get<WorkResponse>("/v1/node/work?wait=0", CancellationToken.None));

        // The node's key and signature, over a connection that presents another certificate: refused, signed, with the rule.
        using var other = TestCertificates.SelfSignedClient("not-the-node");
        var wrong = CoordinatorTransport.Handler(node);
        wrong.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => other;
        var refused = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(node, wrong).Get<WorkResponse>("/v1/node/work?wait=0", CancellationToken.None));
        Assert.Equal(401, refused.Status);
        Assert.NotEqual(CoordinatorClient.UntrustedResponse, refused.Title); // the refusal is signed by the coordinator
        Assert.Contains("client certificate", refused.Detail, StringComparison.OrdinalIgnoreCase);

        // And over a connection that presents none.
        var none = CoordinatorTransport.Handler(node);
        none.SslOptions.LocalCertificateSelectionCallback = null;
        var missing = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(node, none).Get<WorkResponse>("/v1/node/work?wait=0", CancellationToken.None));
        Assert.Equal(401, missing.Status);

        Assert.Equal([Coordinator.Security.RefusalRules.ClientCertificateMismatch], RefusalRules(coordinator.DataDir)); // two refusals from one source: one entry, the other counted

        // The node's TLS certificate is carried through a rotation of its identity key: the new key's requests pass too.
        var rotated = await IdentityRotation.Rotate(node, null, CancellationToken.None);
        Assert.Equal(node.Identity.PublicKey, rotated.NewPublicKey);
        Assert.NotNull(await Client(node, CoordinatorTransport.Handler(node)).Get<WorkResponse>("/v1/node/work?wait=0", CancellationToken.None));
        Assert.Equal(enrollment.NodeId, node.Store.GetEnrollment()!.NodeId);

        CoordinatorClient Client(NodeDirectory n, HttpMessageHandler handler) =>
            new(new HttpClient(handler) { BaseAddress = coordinator.Url }, n.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task An_enrollment_must_present_the_client_certificate_whose_fingerprint_it_carries()
    {
        await using var coordinator = await TlsCoordinator.Start("tls-enroll-cert", requireClientCertificates: true);
        var token = await coordinator.Token();
        using var node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("tls-enroll-cert-node"));
        await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(coordinator.PublicKey, "HOPERAT"));
        var fingerprint = CoordinatorTransport.EnsureClientCertificate(node, TimeProvider.System);

        // A signed, token-bound enrollment carrying the node's fingerprint, sent over a connection with another certificate.
        using var other = TestCertificates.SelfSignedClient("another");
        var handler = CoordinatorTransport.Handler(node, coordinator.Certificates.CaFile);
        handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => other;
        var client = new CoordinatorClient(new HttpClient(handler) { BaseAddress = coordinator.Url }, node.Identity, CoordinatorClient.EnrollKeyId(node.Identity), coordinator.PublicKey, TimeSpan.FromSeconds(60));
        var request = new EnrollRequest(EnrollmentProof.TokenId(token), EnrollmentProof.Mac(token, node.Identity.PublicKey, coordinator.PublicKey, fingerprint), "wrong-cert", node.Identity.PublicKey, fingerprint);
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Post<EnrollResponse>("/v1/node/enroll", request, CancellationToken.None));
        Assert.Equal(401, e.Status);
        Assert.Equal([Coordinator.Security.RefusalRules.ClientCertificateMismatch], RefusalRules(coordinator.DataDir));

        // The token was not spent: the real enrollment, over the node's own connection, succeeds.
        Assert.StartsWith("node-", (await Enrollment.Enroll(node, coordinator.Url, token, "right-cert", coordinator.Certificates.CaFile, TimeProvider.System, CancellationToken.None)).Value, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> RefusedSetUps => new()
    {
        { "https-without-certificate", "no certificate is configured" },
        { "http-beyond-loopback", "https required" },
        { "expired", "expired on" },
        { "not-yet-valid", "not valid before" },
        { "key-mismatch", "cannot be used" },
        { "missing-file", "cannot be used" },
        { "mtls-behind-proxy", "behind a TLS-terminating proxy" },
        { "mtls-without-tls", "needs TLS" },
    };

    [Theory]
    [MemberData(nameof(RefusedSetUps))]
    public void A_misconfigured_tls_set_up_refuses_to_start_with_a_one_line_reason(string setUp, string reason)
    {
        var root = TestFederation.TempDir("tls-refused-" + setUp);
        using var certificates = new TestCertificates(Path.Combine(root, "pki"));
        var now = DateTimeOffset.UtcNow;
        var (url, certificate, key, proxy, mtls) = setUp switch
        {
            "https-without-certificate" => ("https://127.0.0.1:7455", null, null, false, false),
            "http-beyond-loopback" => ("http://0.0.0.0:7455", null, null, false, false),
            "expired" => Https(certificates.Server("expired", now.AddDays(-20), now.AddDays(-1))),
            "not-yet-valid" => Https(certificates.Server("future", now.AddDays(2), now.AddDays(20))),
            "key-mismatch" => Https(certificates.Server("mismatch", mismatchedKey: true)),
            "missing-file" => ("https://127.0.0.1:7455", Path.Combine(root, "absent.crt"), Path.Combine(root, "absent.key"), false, false),
            "mtls-behind-proxy" => Https(certificates.Server()) with { Item4 = true, Item5 = true },
            _ => ("http://127.0.0.1:7455", null, null, false, true),
        };

        var e = Assert.Throws<OptionsValidationException>(() => CoordinatorHost.Build(["--urls", url], o =>
        {
            o.DataDir = Path.Combine(root, "coordinator");
            o.AdminUrl = "http://127.0.0.1:7456";
            o.TlsCertificatePath = certificate;
            o.TlsKeyPath = key;
            o.BehindTlsProxy = proxy;
            o.RequireClientCertificates = mtls;
        }));
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.All(e.Failures, f => Assert.DoesNotContain('\n', f));

        static (string, string?, string?, bool, bool) Https((string Certificate, string Key) files) => ("https://127.0.0.1:7455", files.Certificate, files.Key, false, false);
    }

    [Fact]
    public void Behind_a_tls_terminating_proxy_the_node_listener_may_be_plain_http_beyond_loopback()
    {
        var root = TestFederation.TempDir("tls-proxy");
        using var app = CoordinatorHost.Build(["--urls", "http://0.0.0.0:7457"], o =>
        {
            o.DataDir = Path.Combine(root, "coordinator");
            o.AdminUrl = "http://127.0.0.1:7458";
            o.BehindTlsProxy = true;
        });
        Assert.Contains("http://0.0.0.0:7457", app.Urls);
    }

    /// <summary>The request_refused rules the coordinator's audit trail recorded.</summary>
    private static List<string> RefusalRules(string coordinatorDir)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinatorDir, "coordinator.db"));
        return [.. connection.Query<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = AuditActions.RequestRefused }).Select(d => JsonNode.Parse(d)!["rule"]!.ToString())];
    }

    /// <summary>A coordinator in this process serving its node listener over https (a CA made in the test), mutual TLS if asked.</summary>
    private sealed class TlsCoordinator(WebApplication app, Uri url, string adminToken, Uri adminUrl, string dataDir, string publicKey, TestCertificates certificates) : IAsyncDisposable
    {
        public Uri Url { get; } = url;

        public string DataDir { get; } = dataDir;

        public string PublicKey { get; } = publicKey;

        public TestCertificates Certificates { get; } = certificates;

        public static async Task<TlsCoordinator> Start(string name, bool requireClientCertificates)
        {
            var root = TestFederation.TempDir(name);
            var certificates = new TestCertificates(Path.Combine(root, "pki"));
            var (certificate, key) = certificates.Server();
            var url = new Uri($"https://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
            var adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
            var dataDir = Path.Combine(root, "coordinator");
            var app = CoordinatorHost.Build(["--urls", url.ToString().TrimEnd('/')], o =>
            {
                o.DataDir = dataDir;
                o.AdminUrl = adminUrl.ToString().TrimEnd('/');
                o.TlsCertificatePath = certificate;
                o.TlsKeyPath = key;
                o.RequireClientCertificates = requireClientCertificates;
            });
            await app.StartAsync();
            var keys = (CoordinatorKeys)app.Services.GetService(typeof(CoordinatorKeys))!;
            return new TlsCoordinator(app, url, keys.CreatedAdminToken!, adminUrl, dataDir, keys.Identity.PublicKey, certificates);
        }

        public async Task<string> Token()
        {
            using var admin = new FederatedTwin.Cli.Commands.AdminClient(adminUrl, adminToken);
            return (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        }

        /// <summary>A node directory enrolled over TLS with the CA pinned.</summary>
        public async Task<NodeDirectory> EnrollNode(string name)
        {
            var node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir(name));
            await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(PublicKey, "HOPERAT"));
            await Enrollment.Enroll(node, Url, await Token(), name, Certificates.CaFile, TimeProvider.System, CancellationToken.None);
            return node;
        }

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Certificates.Dispose();
        }
    }
}
