using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Identity;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Hl7.Fhir.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Audit.Tests;

/// <summary>
/// `ftwin audit verify` on a node whose identity key was rotated, against a real coordinator (Kestrel on loopback, in
/// this process): every checkpoint is valid only under the key that was the node's identity at the entry it covers.
/// The node's checkpoint interval is 5, so periodic checkpoints fall on both sides of each rotation.
/// </summary>
public sealed class KeyRotationAuditTests : IAsyncLifetime
{
    private const int Interval = 5;
    private WebApplication _app = null!;
    private Uri _url = null!;
    private Uri _adminUrl = null!;
    private string _adminToken = null!;
    private string _root = null!;
    private NodeDirectory _node = null!;

    public async System.Threading.Tasks.Task InitializeAsync()
    {
        _root = AuditTestSupport.TempDir("rotation");
        _url = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        _adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        _app = CoordinatorHost.Build(["--urls", _url.ToString().TrimEnd('/')], o =>
        {
            o.DataDir = CoordinatorDir;
            o.AdminUrl = _adminUrl.ToString().TrimEnd('/');
        });
        await _app.StartAsync();
        var keys = _app.Services.GetRequiredService<CoordinatorKeys>();
        _adminToken = keys.CreatedAdminToken!;
        _node = NodeDirectory.OpenOrInitialize(Path.Combine(_root, "node"), Interval);
        await File.WriteAllTextAsync(_node.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
        using var admin = new AdminClient(_adminUrl, _adminToken);
        await Enrollment.Enroll(_node, _url, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "rotating", CancellationToken.None);
    }

    public async System.Threading.Tasks.Task DisposeAsync()
    {
        _node.Dispose();
        await _app.DisposeAsync();
    }

    private string CoordinatorDir => Path.Combine(_root, "coordinator");

    private string NodeDb => Path.Combine(_node.Path, "node.db");

    private AuditVerification Verify(string? key = null) => AuditTestSupport.VerifyNode(_node.Path, key ?? NodeDirectory.ReadPublicKey(_node.Path));

    private void Work(int entries)
    {
        for (var i = 0; i < entries; i++)
        {
            _node.Audit.Append(NodeAuditRecords.ServiceStarted("test", null));
        }
    }

    private async Task<(Ed25519Identity Old, IdentityRotationResult Result)> Rotate()
    {
        var old = Ed25519Identity.Import(_node.Identity.ExportPrivateKey()); // the test keeps what the node destroys
        return (old, await IdentityRotation.Rotate(_node, null, CancellationToken.None));
    }

    /// <summary>Appends an entry to the chain as anyone who can write node.db can (the hash needs no key).</summary>
    private AuditEntry AppendRaw(AuditRecord record)
    {
        using var c = TestStore.OpenWritable(NodeDb);
        var head = AuditLog.Head(c, null)!;
        var entry = AuditChain.Seal(head.Seq + 1, DateTimeOffset.UtcNow, head.Actor, record, head.Hash);
        c.Execute("INSERT INTO audit_log(seq, at, actor, action, outcome, study_id, purpose_of_use, detail, prev_hash, hash) VALUES (@Seq, @At, @Actor, @Action, @Outcome, @StudyId, @PurposeOfUse, @Detail, @PrevHash, @Hash)", entry);
        return entry;
    }

    private void InsertCheckpoint(AuditCheckpoint checkpoint)
    {
        using var c = TestStore.OpenWritable(NodeDb);
        c.Execute("INSERT INTO audit_checkpoints(seq, head_hash, at, reason, public_key, signature) VALUES (@Seq, @HeadHash, @At, @Reason, @PublicKey, @Signature)", checkpoint);
    }

    private static void AssertFirst(AuditVerification v, AuditProblemKind kind, long seq)
    {
        Assert.False(v.Ok);
        Assert.True(v.FirstProblem is { } p && p.Kind == kind && p.Seq == seq, $"expected {kind} at {seq}, got {v.FirstProblem}");
    }

    [Fact]
    public async System.Threading.Tasks.Task A_trail_verifies_across_two_rotations_with_each_checkpoint_under_the_key_of_its_span()
    {
        Work(4);
        var (first, one) = await Rotate();
        Work(7);
        var (second, two) = await Rotate();
        Work(6);
        _node.Audit.Checkpoint(CheckpointReasons.Shutdown);

        var v = Verify();
        Assert.True(v.Ok, AuditVerifier.Summary(v, two.NewPublicKey));
        Assert.Equal([first.PublicKey, second.PublicKey, two.NewPublicKey], v.IdentityKeys!.Select(k => k.PublicKey));
        Assert.Equal(one.NewPublicKey, second.PublicKey);
        var source = AuditSource.Open(AuditService.Node, _node.Path);
        foreach (var checkpoint in source.Checkpoints)
        {
            var span = v.IdentityKeys!.Single(k => k.Covers(checkpoint.Seq));
            Assert.True(checkpoint.VerifySignature(span.PublicKey), $"checkpoint {checkpoint.Seq} under {span}");
            Assert.All(v.IdentityKeys!.Where(k => k != span), other => Assert.False(checkpoint.VerifySignature(other.PublicKey)));
        }

        Assert.True(v.IdentityKeys!.Count(k => source.Checkpoints.Any(c => k.Covers(c.Seq) && c.Reason == CheckpointReasons.Interval)) >= 2); // periodic checkpoints under more than one key

        var cli = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", _node.Path);
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
        Assert.Contains(first.PublicKey, cli.Stdout, StringComparison.Ordinal);
        Assert.Contains(two.NewPublicKey, cli.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_checkpoint_the_old_key_signs_after_its_rotation_is_invalid()
    {
        var (old, result) = await Rotate();
        var after = AppendRaw(NodeAuditRecords.ServiceStopped()); // a real entry after the rotation, not yet signed
        InsertCheckpoint(AuditCheckpoint.Sign(old, after, DateTimeOffset.UtcNow, CheckpointReasons.Shutdown));

        var v = Verify();

        AssertFirst(v, AuditProblemKind.CheckpointSignatureInvalid, after.Seq);
        Assert.Contains(old.PublicKey, v.FirstProblem!.Message, StringComparison.Ordinal);
        Assert.Contains(result.NewPublicKey, v.FirstProblem.Message, StringComparison.Ordinal);
        var cli = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", _node.Path);
        Assert.Equal(1, cli.ExitCode);
        Assert.Contains("checkpoint_signature_invalid", cli.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_checkpoint_the_new_key_signs_for_an_entry_before_its_rotation_is_invalid()
    {
        Work(1); // seq 7 after enrollment's 6 entries (its checkpoint at 6, the periodic one at 5)
        var unsigned = AuditSource.Open(AuditService.Node, _node.Path).Entries[^1];
        Work(1);
        var (_, result) = await Rotate();
        using var next = Ed25519Identity.Import(_node.Identity.ExportPrivateKey());
        Assert.Equal(result.NewPublicKey, next.PublicKey);
        Assert.DoesNotContain(AuditSource.Open(AuditService.Node, _node.Path).Checkpoints, c => c.Seq == unsigned.Seq);
        InsertCheckpoint(AuditCheckpoint.Sign(next, unsigned, DateTimeOffset.UtcNow, CheckpointReasons.Shutdown)); // backdated by the new key

        AssertFirst(Verify(), AuditProblemKind.CheckpointSignatureInvalid, unsigned.Seq);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_rotation_entry_appended_without_the_old_keys_signature_is_reported()
    {
        var (_, result) = await Rotate();
        using var attacker = Ed25519Identity.Generate();
        var statement = KeyRotationStatement.For(new NodeId(_node.Store.GetEnrollment()!.NodeId), result.NewPublicKey, attacker.PublicKey);
        var forged = AppendRaw(NodeAuditRecords.IdentityKeyRotated(_node.Store.GetEnrollment()!.NodeId, result.NewPublicKey, attacker.PublicKey,
            attacker.Sign(statement), attacker.Sign(statement), DateTimeOffset.UtcNow, _url.ToString()));
        InsertCheckpoint(AuditCheckpoint.Sign(attacker, forged, DateTimeOffset.UtcNow, CheckpointReasons.KeyRotation));

        AssertFirst(Verify(result.NewPublicKey), AuditProblemKind.KeyRotationInvalid, forged.Seq);
        AssertFirst(Verify(attacker.PublicKey), AuditProblemKind.KeyRotationInvalid, forged.Seq);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_rotated_trail_checked_against_a_key_it_never_held_fails()
    {
        await Rotate();
        using var stranger = Ed25519Identity.Generate();

        var v = Verify(stranger.PublicKey);

        Assert.Contains(v.Problems, p => p.Kind == AuditProblemKind.KeyUnknown);
        Assert.Equal("key_unknown", v.Problems.First(p => p.Kind == AuditProblemKind.KeyUnknown).KindCode);
    }

    [Fact]
    public async System.Threading.Tasks.Task A_rotated_trail_checked_against_its_earlier_key_still_verifies()
    {
        var (old, _) = await Rotate();
        Work(3);
        Assert.True(Verify(old.PublicKey).Ok); // each later key is vouched for by the rotation entry both keys signed
    }

    [Fact]
    public async System.Threading.Tasks.Task A_key_history_file_that_disagrees_with_the_trail_is_reported()
    {
        await Rotate();
        using var stranger = Ed25519Identity.Generate();
        var path = Path.Combine(_node.Path, IdentityKeyHistory.FileName);
        var history = JsonNode.Parse(File.ReadAllText(path))!;
        history["retired"]![0]!["public_key"] = stranger.PublicKey;
        File.WriteAllText(path, history.ToJsonString());

        AssertFirst(Verify(), AuditProblemKind.KeyHistoryMismatch, 1);
        Assert.Equal(1, AuditTestSupport.Ftwin("audit", "verify", "--node-dir", _node.Path).ExitCode);
    }

    [Fact]
    public void A_trail_without_a_rotation_is_checked_as_before_under_the_one_key()
    {
        Work(7);
        var v = Verify();
        Assert.True(v.Ok);
        Assert.Single(v.IdentityKeys!);
    }

    [Fact]
    public async System.Threading.Tasks.Task Rotation_and_revocation_entries_export_as_valid_FHIR_AuditEvents()
    {
        await Rotate();
        using (var admin = new AdminClient(_adminUrl, _adminToken))
        {
            await admin.Send(HttpMethod.Post, $"/v1/admin/nodes/{_node.Store.GetEnrollment()!.NodeId}/revoke");
        }

        var refused = await Assert.ThrowsAsync<CoordinatorRefusedException>(() =>
            new CoordinatorClient(new HttpClient { BaseAddress = _url }, _node.Identity, _node.Store.GetEnrollment()!.NodeId, _node.Store.GetEnrollment()!.CoordinatorPublicKey, TimeSpan.FromSeconds(60))
                .Get<WorkResponse>("/v1/node/work", CancellationToken.None));
        Assert.True(EnrollmentEvidence.Record(_node, EnrollmentEvidence.Read(refused, _node.Store.GetEnrollment()!.NodeId, _node.Identity.PublicKey)!));

        var deserializer = new BaseFhirJsonDeserializer(ModelInfo.ModelInspector, new DeserializerSettings().UsingMode(DeserializationMode.Strict));
        var serializer = new BaseFhirJsonSerializer(ModelInfo.ModelInspector);
        foreach (var (service, dir, actions) in new[]
        {
            (AuditService.Node, _node.Path, new[] { AuditActions.IdentityKeyRotated, AuditActions.EnrollmentRevoked }),
            (AuditService.Coordinator, CoordinatorDir, new[] { AuditActions.NodeKeyRotated, AuditActions.NodeRevoked }),
        })
        {
            foreach (var entry in AuditSource.Open(service, dir).Entries.Where(e => actions.Contains(e.Action)))
            {
                var json = serializer.SerializeToString(AuditEventExport.ToAuditEvent(entry, service));
                var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(json));
                Assert.True(deserializer.TryDeserializeResource(ref reader, out var resource, out var issues), string.Join("; ", issues.Select(i => i.Message)));
                var audit = Assert.IsType<AuditEvent>(resource);
                Assert.Empty(audit.Validate(ModelInfo.ModelInspector, NarrativeValidationKind.FhirXhtml, null, validateRecursively: true));
                Assert.Equal("110113", audit.Type.Code); // DICOM Security Alert
                Assert.Contains(audit.Subtype, s => s.Code == entry.Action);
            }
        }

        var revoked = AuditSource.Open(AuditService.Coordinator, CoordinatorDir).Entries.Single(e => e.Action == AuditActions.NodeRevoked);
        var requestor = AuditEventExport.ToAuditEvent(revoked, AuditService.Coordinator).Agent.Single(a => a.Requestor == true);
        Assert.Equal("humanuser", requestor.Type!.Coding[0].Code); // the administrator asked, not the node
    }
}
