using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Identity;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Node identity key rotation against a real coordinator (Kestrel on loopback, real SQLite on the node, the coordinator on each of
/// its stores: <see cref="KeyRotationTests"/>, <see cref="KeyRotationOnPostgresTests"/>): the coordinator's checks (proof of
/// possession, keys in use), the switch, and the node's recovery from a crash at each point of its rotation.
/// </summary>
public abstract class KeyRotationCases : IAsyncLifetime
{
    private InProcessCoordinator _coordinator = null!;

    /// <summary>The coordinator's store (null: coordinator.db in its data directory).</summary>
    protected virtual Action<FederatedTwin.Coordinator.CoordinatorOptions>? Store => null;

    public async Task InitializeAsync() => _coordinator = await InProcessCoordinator.Start("key-rotation", configure: Store);

    public async Task DisposeAsync() => await _coordinator.DisposeAsync();

    private NodeDirectory Node => _coordinator.Node;

    private string NodeId => _coordinator.NodeId;

    private string CoordinatorKey => Node.Store.GetEnrollment()!.CoordinatorPublicKey;

    private CoordinatorClient Client(Ed25519Identity identity, string? keyId = null, HttpClient? http = null) =>
        new(http ?? new HttpClient { BaseAddress = _coordinator.Url }, identity, keyId ?? NodeId, CoordinatorKey, TimeSpan.FromSeconds(60));

    /// <summary>A copy of the node's current private key, held by the test after the node destroys it.</summary>
    private Ed25519Identity CopyOfCurrentKey() => Ed25519Identity.Import(Node.Identity.ExportPrivateKey());

    private List<AuditEntry> CoordinatorEntries(string action) => _coordinator.Store.Read(AuditLog.ReadAll).Entries.Where(e => e.Action == action).ToList();

    private List<AuditEntry> NodeEntries(string action) => FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Node, Node.Path).Entries.Where(e => e.Action == action).ToList();

    private static JsonObject Detail(AuditEntry e) => JsonNode.Parse(e.Detail)!.AsObject();

    private KeyRotationRequest Request(Ed25519Identity current, Ed25519Identity next, Ed25519Identity? newSigner = null, Ed25519Identity? oldSigner = null)
    {
        var statement = KeyRotationStatement.For(new NodeId(NodeId), current.PublicKey, next.PublicKey);
        return new KeyRotationRequest(new NodeId(NodeId), current.PublicKey, next.PublicKey, (oldSigner ?? current).Sign(statement), (newSigner ?? next).Sign(statement));
    }

    private async Task<JsonNode> AdminNode(string nodeId)
    {
        using var admin = _coordinator.Admin();
        return (await admin.Send(HttpMethod.Get, "/v1/admin/nodes"))!.AsArray().Single(n => n!["node_id"]!.ToString() == nodeId)!;
    }

    [Fact]
    public async Task A_rotated_node_is_accepted_under_its_new_key_and_its_old_key_is_refused()
    {
        using var old = CopyOfCurrentKey();
        var result = await IdentityRotation.Rotate(Node, null, CancellationToken.None);

        Assert.Equal(old.PublicKey, result.OldPublicKey);
        Assert.Equal(result.NewPublicKey, Node.Identity.PublicKey);
        Assert.False(result.Resumed);
        Assert.Equal(result.NewPublicKey, (await AdminNode(NodeId))["public_key"]!.ToString());
        Assert.NotNull(await Client(Node.Identity).Get<WorkResponse>("/v1/node/work", CancellationToken.None));

        var refused = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(old).Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        Assert.Equal(401, refused.Status);
        Assert.NotNull(refused.Problem); // the refusal is signed by the coordinator, so the node can act on it
        Assert.EndsWith(NodeAuthenticationProblem.BadSignature, refused.Problem["type"]!.ToString(), StringComparison.Ordinal);
        Assert.Equal(KeyRotationStatement.Fingerprint(result.NewPublicKey), refused.Problem[NodeAuthenticationProblem.EnrolledKeyMember]!.ToString());
    }

    [Fact]
    public async Task The_coordinator_keeps_every_key_a_node_held_and_audits_the_rotation_with_both_signatures()
    {
        using var old = CopyOfCurrentKey();
        var result = await IdentityRotation.Rotate(Node, null, CancellationToken.None);

        using var admin = _coordinator.Admin();
        var keys = (await admin.Send(HttpMethod.Get, $"/v1/admin/nodes/{NodeId}/keys"))!.AsArray();
        Assert.Equal([old.PublicKey, result.NewPublicKey], keys.Select(k => k!["public_key"]!.ToString()));
        Assert.Equal(result.NewPublicKey, keys[0]!["replaced_by"]!.ToString());
        Assert.Null(keys[1]!["valid_until"]);

        var rotated = Detail(Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotated)));
        Assert.Equal(NodeId, rotated["node_id"]!.ToString());
        Assert.Equal(KeyRotationStatement.Fingerprint(old.PublicKey), rotated["old_key_sha256"]!.ToString());
        Assert.Equal(KeyRotationStatement.Fingerprint(result.NewPublicKey), rotated["new_key_sha256"]!.ToString());
        Assert.True(KeyRotationStatement.Verify(new NodeId(NodeId), old.PublicKey, result.NewPublicKey,
            Convert.FromBase64String(rotated["old_key_signature"]!.ToString()), Convert.FromBase64String(rotated["new_key_signature"]!.ToString())));
    }

    [Fact]
    public async Task The_node_records_the_rotation_with_a_checkpoint_by_the_old_key_before_it_and_one_by_the_new_key_of_it()
    {
        using var old = CopyOfCurrentKey();
        var result = await IdentityRotation.Rotate(Node, null, CancellationToken.None);

        var source = FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Node, Node.Path);
        var rotation = source.Entries.Single(e => e.Action == AuditActions.IdentityKeyRotated);
        Assert.Equal(old.PublicKey, Detail(rotation)["old_public_key"]!.ToString());
        Assert.Equal(result.NewPublicKey, Detail(rotation)["new_public_key"]!.ToString());
        var before = source.Checkpoints.Single(c => c.Seq == rotation.Seq - 1);
        var at = source.Checkpoints.Single(c => c.Seq == rotation.Seq);
        Assert.True(before.VerifySignature(old.PublicKey));
        Assert.True(at.VerifySignature(result.NewPublicKey));
        Assert.True(source.Verify(NodeDirectory.ReadPublicKey(Node.Path)).Ok);

        var history = Assert.Single(IdentityKeyHistory.Read(Node.Path)!);
        Assert.Equal((old.PublicKey, rotation.Seq - 1, result.NewPublicKey), (history.PublicKey, history.AuditUntilSeq, history.ReplacedBy));
        Assert.Equal(result.NewPublicKey, NodeDirectory.ReadPublicKey(Node.Path)); // the sealed identity is the new key
        Assert.False(File.Exists(Node.Keys.PendingPath));
    }

    [Fact]
    public async Task A_rotation_without_proof_of_possession_is_a_400_problem_and_audited()
    {
        using var next = Ed25519Identity.Generate();
        var current = Node.Identity;
        var request = Request(current, next) with { NewKeySignature = null };

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(current).Post<KeyRotationResponse>(KeyRotationStatement.Path, request, CancellationToken.None));

        Assert.Equal(400, e.Status);
        Assert.Equal("Proof of possession missing", e.Problem!["title"]!.ToString());
        var refused = Detail(Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotationRefused)));
        Assert.Equal(400, refused["status"]!.GetValue<int>());
        Assert.Equal(KeyRotationStatement.Fingerprint(next.PublicKey), refused["new_key_sha256"]!.ToString());
        Assert.Equal(current.PublicKey, (await AdminNode(NodeId))["public_key"]!.ToString());
    }

    [Fact]
    public async Task A_rotation_whose_proof_of_possession_is_signed_by_another_key_is_a_400_problem_and_audited()
    {
        using var next = Ed25519Identity.Generate();
        using var impostor = Ed25519Identity.Generate();
        var current = Node.Identity;

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(current).Post<KeyRotationResponse>(KeyRotationStatement.Path, Request(current, next, newSigner: impostor), CancellationToken.None));

        Assert.Equal(400, e.Status);
        Assert.Equal("Proof of possession invalid", e.Problem!["title"]!.ToString());
        Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotationRefused));
        Assert.Equal(current.PublicKey, (await AdminNode(NodeId))["public_key"]!.ToString());
    }

    [Fact]
    public async Task A_rotation_whose_old_key_signature_is_wrong_is_a_400_problem()
    {
        using var next = Ed25519Identity.Generate();
        using var impostor = Ed25519Identity.Generate();
        var current = Node.Identity;

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(current).Post<KeyRotationResponse>(KeyRotationStatement.Path, Request(current, next, oldSigner: impostor), CancellationToken.None));

        Assert.Equal(400, e.Status);
        Assert.Equal("Old key signature invalid", e.Problem!["title"]!.ToString());
    }

    [Fact]
    public async Task A_malformed_rotation_body_is_a_400_problem_and_audited()
    {
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(Node.Identity).Post<KeyRotationResponse>(KeyRotationStatement.Path, new { node_id = NodeId, surprise = 1 }, CancellationToken.None));

        Assert.Equal(400, e.Status);
        Assert.Equal("Malformed body", e.Problem!["title"]!.ToString());
        Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotationRefused));
    }

    [Fact]
    public async Task A_rotation_to_a_key_another_node_has_enrolled_is_a_409_problem()
    {
        using var admin = _coordinator.Admin();
        using var other = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("other-node"));
        await File.WriteAllTextAsync(other.PolicyPath, await File.ReadAllTextAsync(Node.PolicyPath));
        await Enrollment.Enroll(other, _coordinator.Url, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "other", CancellationToken.None);
        var current = Node.Identity;

        // Even with the other node's own signature as proof of possession, its key is taken.
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(current).Post<KeyRotationResponse>(KeyRotationStatement.Path, Request(current, other.Identity), CancellationToken.None));

        Assert.Equal(409, e.Status);
        Assert.Equal("Key already enrolled", e.Problem!["title"]!.ToString());
        Assert.Equal(409, Detail(Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotationRefused)))["status"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_rotation_to_the_current_key_is_a_409_problem()
    {
        var current = Node.Identity;
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            Client(current).Post<KeyRotationResponse>(KeyRotationStatement.Path, Request(current, current), CancellationToken.None));
        Assert.Equal(409, e.Status);
    }

    [Fact]
    public async Task A_retired_key_never_enrolls_again()
    {
        using var old = CopyOfCurrentKey();
        await IdentityRotation.Rotate(Node, null, CancellationToken.None);
        using var admin = _coordinator.Admin();
        var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(old, CoordinatorClient.EnrollKeyId(old))
            .Post<EnrollResponse>("/v1/node/enroll", new EnrollRequest(EnrollmentProof.TokenId(token), EnrollmentProof.Mac(token, old.PublicKey, Node.Store.GetEnrollment()!.CoordinatorPublicKey, null), "comeback", old.PublicKey), CancellationToken.None));

        Assert.Equal(409, e.Status);
        Assert.Contains("retired", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rotation_the_coordinator_refuses_destroys_the_pending_key_and_the_node_audits_the_refusal()
    {
        using var admin = _coordinator.Admin();
        using var other = NodeDirectory.OpenOrInitialize(TestFederation.TempDir("taken-key"));
        await File.WriteAllTextAsync(other.PolicyPath, await File.ReadAllTextAsync(Node.PolicyPath));
        await Enrollment.Enroll(other, _coordinator.Url, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "other", CancellationToken.None);
        var current = Node.Identity;
        var taken = Ed25519Identity.Import(other.Identity.ExportPrivateKey());
        Node.Keys.WritePending(taken); // as if Prepare had drawn a key that is already enrolled

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => new IdentityRotation(Node).Request(current, taken, CancellationToken.None));

        Assert.Equal(409, e.Status);
        Assert.False(File.Exists(Node.Keys.PendingPath));
        Assert.Equal(current.PublicKey, Node.Identity.PublicKey);
        var failed = Detail(Assert.Single(NodeEntries(AuditActions.IdentityKeyRotationFailed)));
        Assert.Equal(409, failed["status"]!.GetValue<int>());
    }

    [Fact]
    public async Task A_crash_after_the_coordinator_switched_keys_is_finished_by_the_next_run_with_the_new_key()
    {
        var oldKey = Node.Identity.PublicKey;
        string pendingKey;
        using (var crashed = NodeDirectory.OpenOrInitialize(Node.Path))
        {
            var rotation = new IdentityRotation(crashed);
            var next = rotation.Prepare();
            pendingKey = next.PublicKey;
            await rotation.Request(crashed.Identity, next, CancellationToken.None);
            // killed here: the coordinator holds the new key, the node's trail and files still name the old one
        }

        Assert.Equal(pendingKey, (await AdminNode(NodeId))["public_key"]!.ToString());
        Assert.Equal(oldKey, Node.Identity.PublicKey);

        using var restarted = NodeDirectory.OpenOrInitialize(Node.Path);
        var result = await IdentityRotation.Rotate(restarted, null, CancellationToken.None);

        Assert.True(result.Resumed);
        Assert.Equal((oldKey, pendingKey), (result.OldPublicKey, result.NewPublicKey)); // no third key was made
        Assert.Equal(pendingKey, restarted.Identity.PublicKey);
        Assert.Single(CoordinatorEntries(AuditActions.NodeKeyRotated)); // the coordinator confirmed, it did not rotate twice
        Assert.Single(NodeEntries(AuditActions.IdentityKeyRotated));
        Assert.NotNull(await Client(restarted.Identity).Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        Assert.True(FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Node, Node.Path).Verify(NodeDirectory.ReadPublicKey(Node.Path)).Ok);
    }

    [Fact]
    public async Task A_crash_after_the_trail_recorded_the_rotation_signs_with_the_pending_key_and_the_next_run_swaps_the_files()
    {
        var oldKey = Node.Identity.PublicKey;
        string pendingKey;
        using (var crashed = NodeDirectory.OpenOrInitialize(Node.Path))
        {
            var rotation = new IdentityRotation(crashed);
            var current = crashed.Identity;
            var next = rotation.Prepare();
            pendingKey = next.PublicKey;
            rotation.Commit(current, next, await rotation.Request(current, next, CancellationToken.None));
            // killed here: the trail names the new key, identity.key.sealed still holds the old one
        }

        using var restarted = NodeDirectory.OpenOrInitialize(Node.Path);
        Assert.Equal(oldKey, NodeDirectory.ReadPublicKey(Node.Path));
        Assert.Equal(pendingKey, restarted.Identity.PublicKey); // the trail decides: the pending key signs from its rotation entry on
        restarted.Audit.Append(FederatedTwin.Node.Audit.NodeAuditRecords.ServiceStarted("test", null));
        restarted.Audit.Checkpoint(CheckpointReasons.Shutdown);
        Assert.True(FederatedTwin.Cli.Audit.AuditSource.Open(FederatedTwin.Cli.Audit.AuditService.Node, Node.Path).Verify(pendingKey).Ok);

        var result = await IdentityRotation.Rotate(restarted, null, CancellationToken.None);

        Assert.True(result.Resumed);
        Assert.Equal((oldKey, pendingKey), (result.OldPublicKey, result.NewPublicKey));
        Assert.Equal(pendingKey, NodeDirectory.ReadPublicKey(Node.Path));
        Assert.False(File.Exists(restarted.Keys.PendingPath));
        Assert.Single(NodeEntries(AuditActions.IdentityKeyRotated));
    }

    [Fact]
    public async Task Two_rotations_at_once_are_refused_while_one_holds_the_lock()
    {
        using var held = Node.Keys.TryLock();
        Assert.NotNull(held);
        await Assert.ThrowsAsync<IdentityRotationBusyException>(() => IdentityRotation.Rotate(Node, null, CancellationToken.None));
        Assert.False(File.Exists(Node.Keys.PendingPath));
    }

    [Fact]
    public async Task A_revoked_node_records_the_signed_refusal_once_and_shows_it_in_its_status()
    {
        using (var admin = _coordinator.Admin())
        {
            await admin.Send(HttpMethod.Post, $"/v1/admin/nodes/{NodeId}/revoke");
        }

        var revokedEntry = Detail(Assert.Single(CoordinatorEntries(AuditActions.NodeRevoked)));
        Assert.Equal((NodeId, "admin-api"), (revokedEntry["node_id"]!.ToString(), revokedEntry["requested_by"]!.ToString()));
        for (var poll = 0; poll < 3; poll++)
        {
            var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(Node.Identity).Get<WorkResponse>("/v1/node/work", CancellationToken.None));
            var refusal = EnrollmentEvidence.Read(e, NodeId, Node.Identity.PublicKey);
            Assert.Equal(EnrollmentRefusalKind.Revoked, refusal!.Kind);
            Assert.Equal(poll == 0, EnrollmentEvidence.Record(Node, refusal)); // once, not on every poll
        }

        var recorded = Detail(Assert.Single(NodeEntries(AuditActions.EnrollmentRevoked)));
        Assert.Equal("revoked", recorded["kind"]!.ToString());
        var state = FederatedTwin.Node.Status.EnrollmentState.Read(Node, new NodeStatus());
        Assert.Equal("revoked", state.State);
        Assert.Contains("revoked", state.Refusal!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_status_page_shows_the_retired_key_and_then_the_revocation()
    {
        using var old = CopyOfCurrentKey();
        await IdentityRotation.Rotate(Node, null, CancellationToken.None);
        var page = FederatedTwin.Node.Status.NodeStatusPage.Render(FederatedTwin.Node.Status.NodeStatusReport.Read(Node, new NodeStatus(), _coordinator.Clock.GetUtcNow()), "field", "token");
        Assert.Contains("id=\"retired-keys\"", page, StringComparison.Ordinal);
        Assert.Contains(old.PublicKey, page, StringComparison.Ordinal);
        Assert.Contains(">enrolled<", page, StringComparison.Ordinal);

        using (var admin = _coordinator.Admin())
        {
            await admin.Send(HttpMethod.Post, $"/v1/admin/nodes/{NodeId}/revoke");
        }

        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(Node.Identity).Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        EnrollmentEvidence.Record(Node, EnrollmentEvidence.Read(e, NodeId, Node.Identity.PublicKey)!);
        var report = FederatedTwin.Node.Status.NodeStatusReport.Read(Node, new NodeStatus(), _coordinator.Clock.GetUtcNow());
        page = FederatedTwin.Node.Status.NodeStatusPage.Render(report, "field", "token");

        Assert.Contains("revoked by the coordinator", page, StringComparison.Ordinal);
        Assert.Contains("id=\"enrollment-refused\"", page, StringComparison.Ordinal);
        Assert.Contains("needs attention", page, StringComparison.Ordinal);
        Assert.True(report.Audit.Ok);
    }

    [Fact]
    public async Task A_refusal_naming_another_key_id_is_no_evidence_against_this_node()
    {
        // What an attacker on the path could provoke by changing the request's key id: the coordinator's signed answer names that id.
        var e = await Assert.ThrowsAsync<CoordinatorRefusedException>(() => Client(Node.Identity, keyId: "node-0000000000000000").Get<WorkResponse>("/v1/node/work", CancellationToken.None));

        Assert.EndsWith(NodeAuthenticationProblem.UnknownKey, e.Problem!["type"]!.ToString(), StringComparison.Ordinal);
        Assert.Null(EnrollmentEvidence.Read(e, NodeId, Node.Identity.PublicKey));
    }

    [Fact]
    public void An_unsigned_refusal_is_no_evidence()
    {
        var unsigned = new CoordinatorRefusedException(401, CoordinatorClient.UntrustedResponse, "The coordinator's response signature was refused (Missing).");
        Assert.Null(EnrollmentEvidence.Read(unsigned, NodeId, Node.Identity.PublicKey));
    }

    [Fact]
    public async Task The_key_history_table_starts_with_the_enrolled_key()
    {
        var rows = await Task.Run(() => _coordinator.Store.Read(c =>
            c.Query<(string public_key, string? replaced_by)>("SELECT public_key, replaced_by FROM node_key_history WHERE node_id=@id", new { id = NodeId }).ToList()));
        Assert.Equal((Node.Identity.PublicKey, (string?)null), Assert.Single(rows));
    }
}

/// <summary><see cref="KeyRotationCases"/> with the coordinator on coordinator.db.</summary>
public sealed class KeyRotationTests : KeyRotationCases;

/// <summary><see cref="KeyRotationCases"/> with the coordinator on PostgreSQL (a new database of the class's cluster per test).</summary>
[Trait("Category", "Postgres")]
public sealed class KeyRotationOnPostgresTests(FederatedTwin.Federation.Tests.Postgres.PostgresFixture postgres)
    : KeyRotationCases, IClassFixture<FederatedTwin.Federation.Tests.Postgres.PostgresFixture>
{
    private readonly Action<FederatedTwin.Coordinator.CoordinatorOptions> _store = postgres.NewCoordinatorStore();

    protected override Action<FederatedTwin.Coordinator.CoordinatorOptions>? Store => _store;
}
