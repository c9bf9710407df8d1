using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Audit.Tests;

/// <summary>A real coordinator (Kestrel on loopback, in this process) and what it writes to its audit trail.</summary>
public sealed class CoordinatorAuditTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private Uri _url = null!;
    private Uri _adminUrl = null!;
    private string _adminToken = null!;
    private string _dataDir = null!;
    private string _root = null!;

    public async Task InitializeAsync()
    {
        _root = AuditTestSupport.TempDir("coordinator");
        _dataDir = Path.Combine(_root, "coordinator");
        _url = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        _adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        _app = CoordinatorHost.Build(["--urls", _url.ToString().TrimEnd('/')], o =>
        {
            o.DataDir = _dataDir;
            o.AdminUrl = _adminUrl.ToString().TrimEnd('/');
        });
        await _app.StartAsync();
        _adminToken = Keys.CreatedAdminToken!;
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
    }

    private CoordinatorKeys Keys => _app.Services.GetRequiredService<CoordinatorKeys>();

    private static JsonObject Detail(AuditEntry e) => JsonNode.Parse(e.Detail)!.AsObject();

    private async Task<NodeDirectory> EnrolledNode(string name)
    {
        var node = NodeDirectory.OpenOrInitialize(Path.Combine(_root, name));
        await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(Keys.Identity.PublicKey, "HOPERAT"));
        using var admin = new AdminClient(_adminUrl, _adminToken);
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(node, _url, token, name, CancellationToken.None);
        return node;
    }

    [Fact]
    public async Task Enrollment_is_recorded_on_both_sides_and_a_reused_token_is_refused_and_recorded()
    {
        using var node = await EnrolledNode("hospital-a");
        var nodeId = node.Store.GetEnrollment()!.NodeId;

        var coordinator = AuditTestSupport.CoordinatorEntries(_dataDir);
        Assert.Contains(coordinator, e => e.Action == AuditActions.ServiceStarted);
        Assert.Contains(coordinator, e => e.Action == AuditActions.IdentityKeyCreated && Detail(e)["public_key"]!.GetValue<string>() == Keys.Identity.PublicKey);
        var token = coordinator.Single(e => e.Action == AuditActions.EnrollmentTokenCreated);
        var enrolled = coordinator.Single(e => e.Action == AuditActions.NodeEnrolled);
        Assert.Equal(nodeId, Detail(enrolled)["node_id"]!.GetValue<string>());
        Assert.Equal(node.Identity.PublicKey, Detail(enrolled)["public_key"]!.GetValue<string>());
        Assert.Equal(Detail(token)["token_sha256"]!.GetValue<string>(), Detail(enrolled)["token_sha256"]!.GetValue<string>());

        var local = AuditTestSupport.NodeEntries(node.Path);
        var mine = local.Single(e => e.Action == AuditActions.Enrolled);
        Assert.Equal(nodeId, mine.Actor); // entries from enrollment on carry the node id
        Assert.Equal(Keys.Identity.PublicKey, Detail(mine)["coordinator_public_key"]!.GetValue<string>());

        // A second node presenting an already used token: refused, and the refusal is on record although the enrollment rolled back.
        using var other = NodeDirectory.OpenOrInitialize(Path.Combine(_root, "hospital-b"));
        await File.WriteAllTextAsync(other.PolicyPath, LocalFederation.DemoPolicy(Keys.Identity.PublicKey, "HOPERAT"));
        using var third = NodeDirectory.OpenOrInitialize(Path.Combine(_root, "hospital-c"));
        await File.WriteAllTextAsync(third.PolicyPath, LocalFederation.DemoPolicy(Keys.Identity.PublicKey, "HOPERAT"));
        using var tokens = new AdminClient(_adminUrl, _adminToken);
        var usedToken = (await tokens.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        await Enrollment.Enroll(third, _url, usedToken, "c", CancellationToken.None);
        await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Enrollment.Enroll(other, _url, usedToken, "b", CancellationToken.None));
        var refused = AuditTestSupport.CoordinatorEntries(_dataDir).Single(e => e.Action == AuditActions.EnrollmentRefused);
        Assert.Equal(AuditOutcome.MinorFailure, refused.Outcome);
        Assert.Contains("already used", Detail(refused)["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains(AuditTestSupport.NodeEntries(other.Path), e => e.Action == AuditActions.EnrollmentFailed);
    }

    [Fact]
    public async Task Signature_and_nonce_failures_and_bad_admin_tokens_are_recorded_as_authentication_failures()
    {
        using var http = new HttpClient { BaseAddress = _url };
        using (var unsigned = new HttpRequestMessage(HttpMethod.Get, "/v1/node/work"))
        {
            unsigned.Headers.Add(FederationProtocol.VersionHeader, FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(unsigned)).StatusCode);
        }

        using (var adminHttp = new HttpClient { BaseAddress = _adminUrl })
        using (var admin = new HttpRequestMessage(HttpMethod.Get, "/v1/admin/studies"))
        {
            admin.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token");
            Assert.Equal(HttpStatusCode.Unauthorized, (await adminHttp.SendAsync(admin)).StatusCode);
        }

        var entries = AuditTestSupport.CoordinatorEntries(_dataDir);
        var signature = entries.Single(e => e.Action == AuditActions.AuthenticationFailure);
        Assert.Equal(AuditOutcome.SeriousFailure, signature.Outcome);
        Assert.Equal("Missing", Detail(signature)["failure"]!.GetValue<string>());
        Assert.Equal("/v1/node/work", Detail(signature)["path"]!.GetValue<string>());
        var adminFailure = entries.Single(e => e.Action == AuditActions.AdminAuthenticationFailure);
        Assert.Equal("/v1/admin/studies", Detail(adminFailure)["path"]!.GetValue<string>());
        Assert.DoesNotContain("not-the-token", adminFailure.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_study_created_and_cancelled_through_the_admin_API_is_recorded_and_its_end_signed()
    {
        using (var admin = new AdminClient(_adminUrl, _adminToken))
        {
            const string yaml = "id: audit-cancel\nalgorithm: federated-sum\npurpose_of_use: HQUALIMP\nmin_nodes: 3\nmax_nodes: 3\nrounds: 1\nphase_deadline_seconds: 600\nparameters:\n  vector: patients_by_age_band_and_sex\n";
            await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, System.Text.Encoding.UTF8, "application/yaml"));
            await admin.Send(HttpMethod.Post, "/v1/admin/studies/audit-cancel/cancel");
        }

        var source = FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Coordinator, _dataDir);
        var study = source.Entries.Where(e => e.StudyId == "audit-cancel").ToList();
        Assert.Equal([AuditActions.StudyCreated, AuditActions.StudyCancelled], study.Select(e => e.Action));
        Assert.All(study, e => Assert.Equal("HQUALIMP", e.PurposeOfUse));
        Assert.Equal("admin-api", Detail(study[0])["requested_by"]!.GetValue<string>());
        Assert.Equal(64, Detail(study[0])["spec_sha256"]!.GetValue<string>().Length);
        Assert.Contains(source.Checkpoints, c => c.Seq == study[1].Seq && c.Reason == CheckpointReasons.StudyEnd);
    }

    [Fact]
    public async Task Stopping_the_coordinator_records_it_and_signs_the_head()
    {
        using (var admin = new AdminClient(_adminUrl, _adminToken))
        {
            await admin.Send(HttpMethod.Post, "/v1/admin/tokens");
        }

        var publicKey = Keys.Identity.PublicKey;
        await _app.StopAsync();

        var source = FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Coordinator, _dataDir);
        Assert.Equal(AuditActions.ServiceStopped, source.Entries[^1].Action);
        Assert.All(source.Entries, e => Assert.Equal("coordinator", e.Actor));
        var v = source.Verify(publicKey);
        Assert.True(v.Ok, string.Join("; ", v.Problems));
        Assert.Equal(0, v.UnsignedTail);
        Assert.Equal(CheckpointReasons.Shutdown, source.Checkpoints[^1].Reason);
    }
}
