using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Enrollment bound to keys: the token never travels, and a request copied off the wire cannot enroll any other key. Driven as an
/// on-path attacker would, with real signed requests over loopback.
/// </summary>
public sealed class EnrollmentProofTests
{
    [Fact]
    public async Task A_copied_enrollment_replayed_with_another_node_key_is_refused_audited_and_leaves_the_token_to_its_node()
    {
        await using var coordinator = await InProcessCoordinator.Start("enroll-replay");
        using var admin = coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        var coordinatorKey = coordinator.Node.Store.GetEnrollment()!.CoordinatorPublicKey;

        // The victim's enrollment as it crosses the wire: the token's id and a MAC, never the token.
        using var victim = Ed25519Identity.Generate();
        var sent = new EnrollRequest(EnrollmentProof.TokenId(token), EnrollmentProof.Mac(token, victim.PublicKey, coordinatorKey, null), "victim", victim.PublicKey);
        Assert.DoesNotContain(token, System.Text.Encoding.UTF8.GetString(WireJson.Serialize(sent)), StringComparison.Ordinal);

        // The attacker copies it, puts its own key in, and signs with its own key (as enrollment requires): refused.
        using var attacker = Ed25519Identity.Generate();
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(attacker).Post<EnrollResponse>("/v1/node/enroll", sent with { PublicKey = attacker.PublicKey, NodeName = "attacker" }, CancellationToken.None));
        Assert.Equal(401, e.Status);
        Assert.Contains("MAC", e.Detail, StringComparison.Ordinal);

        // Keeping the victim's key in the body but signing with its own is refused too (the request must be signed by the key it enrolls).
        var mismatch = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(attacker).Post<EnrollResponse>("/v1/node/enroll", sent, CancellationToken.None));
        Assert.Equal(400, mismatch.Status);

        // A second try from the same source in the interval is counted into the first entry, not written again.
        await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(attacker).Post<EnrollResponse>("/v1/node/enroll", sent with { PublicKey = attacker.PublicKey }, CancellationToken.None));
        using (var connection = TestStore.OpenReadOnly(Path.Combine(coordinator.DataDir, "coordinator.db")))
        {
            var rules = connection.Query<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = AuditActions.RequestRefused }).Select(d => JsonNode.Parse(d)!["rule"]!.ToString()).ToList();
            Assert.Equal([RefusalRules.EnrollmentMacMismatch], rules);
            Assert.Equal(0L, connection.ExecuteScalar<long>("SELECT COUNT(*) FROM nodes WHERE public_key=@key", new { key = attacker.PublicKey }));
        }

        // The token is still the victim's: its own request enrolls it.
        var enrolled = await Client(victim).Post<EnrollResponse>("/v1/node/enroll", sent, CancellationToken.None);
        Assert.StartsWith("node-", enrolled.NodeId.Value, StringComparison.Ordinal);

        CoordinatorClient Client(Ed25519Identity key) =>
            new(new HttpClient { BaseAddress = coordinator.Url }, key, CoordinatorClient.EnrollKeyId(key), coordinatorKey, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task A_mac_made_for_another_coordinator_key_is_refused()
    {
        await using var coordinator = await InProcessCoordinator.Start("enroll-other-coordinator");
        using var admin = coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
        using var node = Ed25519Identity.Generate();
        using var elsewhere = Ed25519Identity.Generate();
        var request = new EnrollRequest(EnrollmentProof.TokenId(token), EnrollmentProof.Mac(token, node.PublicKey, elsewhere.PublicKey, null), "n", node.PublicKey);
        var client = new CoordinatorClient(new HttpClient { BaseAddress = coordinator.Url }, node, CoordinatorClient.EnrollKeyId(node), coordinator.Node.Store.GetEnrollment()!.CoordinatorPublicKey, TimeSpan.FromSeconds(60));
        Assert.Equal(401, (await Assert.ThrowsAsync<CoordinatorRefusedException>(() => client.Post<EnrollResponse>("/v1/node/enroll", request, CancellationToken.None))).Status);
    }

    [Fact]
    public void The_proof_binds_every_field_of_its_statement()
    {
        const string token = "ftwin-enroll-0123456789abcdef0123456789abcdef0123456789abcdef";
        using var node = Ed25519Identity.Generate();
        using var coordinator = Ed25519Identity.Generate();
        var fingerprint = new string('a', 64);
        var id = EnrollmentProof.TokenId(token);
        var key = EnrollmentProof.MacKey(token);
        var mac = EnrollmentProof.Mac(token, node.PublicKey, coordinator.PublicKey, fingerprint);
        Assert.True(EnrollmentProof.Verify(key, id, node.PublicKey, coordinator.PublicKey, fingerprint, mac));
        Assert.False(EnrollmentProof.Verify(key, id, coordinator.PublicKey, coordinator.PublicKey, fingerprint, mac));
        Assert.False(EnrollmentProof.Verify(key, id, node.PublicKey, node.PublicKey, fingerprint, mac));
        Assert.False(EnrollmentProof.Verify(key, id, node.PublicKey, coordinator.PublicKey, null, mac));
        Assert.False(EnrollmentProof.Verify(key, EnrollmentProof.TokenId(token + "x"), node.PublicKey, coordinator.PublicKey, fingerprint, mac));
        Assert.False(EnrollmentProof.Verify(EnrollmentProof.MacKey(token + "x"), id, node.PublicKey, coordinator.PublicKey, fingerprint, mac));
        Assert.False(EnrollmentProof.Verify(key, id, node.PublicKey, coordinator.PublicKey, fingerprint, "not base64"));
        // The derived key is not the token's hash (which the audit trail records as the token's id).
        Assert.NotEqual(Convert.FromHexString(id), key);
    }
}
