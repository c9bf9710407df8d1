using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// A coordinator and three nodes as separate ftwin processes on loopback: one node's key is rotated with
/// `ftwin node key rotate` while the node runs, the federation goes on working with the new key, the old key is
/// refused, and then the node is revoked with `ftwin coordinator node revoke` and records it.
/// </summary>
public sealed class KeyRotationEndToEndTests
{
    private static readonly Dictionary<string, string> AdminTokens = [];

    private static async Task<JsonNode> NodeStatus(int adminPort, string nodeDir)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken(nodeDir));
        return JsonNode.Parse(await http.GetStringAsync("/v1/status"))!;
    }

    /// <summary>The node's admin token as hospital IT gets one (node.admin.token keeps only its hash): `ftwin node admin-token`, once per node.</summary>
    private static string AdminToken(string nodeDir)
    {
        lock (AdminTokens)
        {
            if (!AdminTokens.TryGetValue(nodeDir, out var token))
            {
                var issued = TestFederation.Ftwin("node", "admin-token", "--node-dir", nodeDir);
                Assert.True(issued.ExitCode == 0, issued.Stderr);
                AdminTokens[nodeDir] = token = issued.Stdout.Trim();
            }

            return token;
        }
    }

    private static Task<JsonNode> Until(Func<Task<JsonNode>> read, Func<JsonNode, bool> done, string what) =>
        Eventually.Value(read, done, TimeSpan.FromSeconds(60), what, v => v.ToJsonString(), TimeSpan.FromMilliseconds(200));

    [Fact]
    public async Task A_running_node_rotates_its_key_keeps_working_under_it_and_later_records_its_revocation()
    {
        using var federation = await TestFederation.Start("rotation-e2e");
        var (_, siteA, portA) = federation.Nodes[0];
        string nodeId, coordinatorKey;
        Ed25519Identity old;
        using (var dir = NodeDirectory.OpenOrInitialize(siteA))
        {
            var enrollment = dir.Store.GetEnrollment()!;
            (nodeId, coordinatorKey) = (enrollment.NodeId, enrollment.CoordinatorPublicKey);
            old = Ed25519Identity.Import(dir.Identity.ExportPrivateKey()); // kept by the test: the node destroys it
        }

        // Rotate while the node polls.
        var rotate = TestFederation.Ftwin("node", "key", "rotate", "--node-dir", siteA);
        Assert.True(rotate.ExitCode == 0, rotate.Stdout + rotate.Stderr);
        var newKey = rotate.Stdout.Split('\n').Single(l => l.TrimStart().StartsWith("new key", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
        Assert.Contains("roster", rotate.Stdout, StringComparison.Ordinal);
        Assert.NotEqual(old.PublicKey, newKey);
        var rotatedAt = TimeProvider.System.GetUtcNow(); // the node is a real process: its last contact is on the wall clock

        // The coordinator lists the new key, and the running node polls successfully under it.
        using (var admin = federation.Admin)
        {
            var listed = (await admin.Send(HttpMethod.Get, "/v1/admin/nodes"))!.AsArray().Single(n => n!["node_id"]!.ToString() == nodeId)!;
            Assert.Equal(newKey, listed["public_key"]!.ToString());
        }

        var status = await Until(() => NodeStatus(portA, siteA),
            s => s["public_key"]!.ToString() == newKey && s["last_contact"] is { } c && DateTimeOffset.Parse(c.ToString(), System.Globalization.CultureInfo.InvariantCulture) > rotatedAt && s["last_error"] is null,
            "a successful poll under the new key");
        Assert.Equal("enrolled", status["enrollment_state"]!.ToString());
        Assert.Equal(old.PublicKey, status["retired_public_keys"]![0]!["public_key"]!.ToString());

        // A request signed by the old key is refused.
        using (var http = new HttpClient { BaseAddress = federation.CoordinatorUrl })
        {
            var refused = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
                new CoordinatorClient(http, old, nodeId, coordinatorKey, TimeSpan.FromSeconds(60)).Get<WorkResponse>("/v1/node/work", CancellationToken.None));
            Assert.Equal(401, refused.Status);
        }

        // The federation's roster still lists the old key, so no node (site-a included) takes part with the new one until the
        // member hospitals' officers approve roster version 2 with it; the ACO relays it and every node pins it.
        await TestFederation.UpdateRoster(federation, members => [.. members.Select(m => m.NodeKey == old.PublicKey ? m with { NodeKey = newKey } : m)]);

        // The federation computes again: the other nodes check site-a's commitments and openings under its new, rostered key.
        await federation.CreateStudy(TestFederation.StudyYaml("after-rotation"), CancellationToken.None);
        var study = await federation.WaitForStudy("after-rotation", TimeSpan.FromSeconds(90), null, CancellationToken.None);
        Assert.True(study["state"]!.ToString() == "completed", $"{study["state"]}: {study["failure_reason"]}");
        Assert.Equal(TestFederation.Sum(federation.Nodes.Select(n => TestFederation.SiteVector(n.Dir))), TestFederation.Sums(study));

        // Revoked by the ACO: the node records the signed refusal and shows it.
        var revoke = TestFederation.Ftwin("coordinator", "node", "revoke", "--data-dir", federation.CoordinatorDir, nodeId);
        Assert.True(revoke.ExitCode == 0, revoke.Stdout + revoke.Stderr);
        var revoked = await Until(() => NodeStatus(portA, siteA), s => s["enrollment_state"]!.ToString() == "revoked", "the node's record of its revocation");
        Assert.Contains("revoked", revoked["enrollment_refused"]!["reason"]!.ToString(), StringComparison.Ordinal);

        federation.Stop(TimeSpan.FromSeconds(20));

        // Both trails hold the rotation (and the revocation), and both verify.
        var nodeTrail = AuditSource.Open(AuditService.Node, siteA).Entries;
        var rotation = JsonNode.Parse(nodeTrail.Single(e => e.Action == AuditActions.IdentityKeyRotated).Detail)!;
        Assert.Equal((old.PublicKey, newKey), (rotation["old_public_key"]!.ToString(), rotation["new_public_key"]!.ToString()));
        Assert.Single(nodeTrail, e => e.Action == AuditActions.EnrollmentRevoked);
        var coordinatorTrail = AuditSource.Open(AuditService.Coordinator, federation.CoordinatorDir).Entries;
        var accepted = JsonNode.Parse(coordinatorTrail.Single(e => e.Action == AuditActions.NodeKeyRotated).Detail)!;
        Assert.Equal((nodeId, KeyRotationStatement.Fingerprint(old.PublicKey), KeyRotationStatement.Fingerprint(newKey)),
            (accepted["node_id"]!.ToString(), accepted["old_key_sha256"]!.ToString(), accepted["new_key_sha256"]!.ToString()));
        Assert.Contains(coordinatorTrail, e => e.Action == AuditActions.NodeRevoked && e.Detail.Contains(nodeId, StringComparison.Ordinal));

        var verifyNode = TestFederation.Ftwin("audit", "verify", "--node-dir", siteA);
        Assert.True(verifyNode.ExitCode == 0, verifyNode.Stdout + verifyNode.Stderr);
        Assert.Contains(old.PublicKey, verifyNode.Stdout, StringComparison.Ordinal);
        var verifyWithEnrolledKey = TestFederation.Ftwin("audit", "verify", "--node-dir", siteA, "--public-key", newKey); // the key the coordinator lists
        Assert.True(verifyWithEnrolledKey.ExitCode == 0, verifyWithEnrolledKey.Stdout + verifyWithEnrolledKey.Stderr);
        var verifyCoordinator = TestFederation.Ftwin("audit", "verify", "--data-dir", federation.CoordinatorDir);
        Assert.True(verifyCoordinator.ExitCode == 0, verifyCoordinator.Stdout + verifyCoordinator.Stderr);
        old.Dispose();
    }
}
