using System.Diagnostics;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Crypto;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Tests;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Issue 19, the host: owner-only directories checked at start, the key ring encrypted at rest, attempt secrets deleted once they
/// can serve nothing more, and backup and restore of a running node.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // POSIX modes
public sealed class HostHardeningTests
{
    private const UnixFileMode GroupOrOthers = (UnixFileMode)0x3F; // 077

    private static readonly StudySpec Study = new(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 2, 30);
    private static readonly RoundRequest Request = new("federated-sum", 16, new Dictionary<string, string> { ["vector"] = LocalVectors.PatientsByAgeBandAndSex, ["purpose_of_use"] = "HOPERAT" });

    [Fact]
    public async Task A_node_directory_or_a_file_in_it_that_others_can_read_is_refused_at_start_with_the_chmod_that_fixes_it()
    {
        var dir = TestFederation.TempDir("modes");
        Assert.Equal(0, TestFederation.Ftwin("node", "init", "--node-dir", dir).ExitCode);

        File.SetUnixFileMode(dir, (UnixFileMode)0x1ED); // 0755, as a directory made under umask 022 is
        var run = TestFederation.Ftwin("node", "run", "--node-dir", dir, "--admin-url", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"run `chmod 700 {dir}`", run.Stderr, StringComparison.Ordinal);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)); // one line, no stack trace
        Assert.Contains($"chmod 700 {dir}", (await NodeService.RefusesToStart(dir)).Message, StringComparison.Ordinal); // the service itself, however it is hosted

        File.SetUnixFileMode(dir, OwnerOnlyDirectory);
        var policy = Path.Combine(dir, "policy.yaml");
        File.SetUnixFileMode(policy, (UnixFileMode)0x1A4); // 0644
        var ingest = TestFederation.Ftwin("node", "roster", "show", "--node-dir", dir); // a command that opens the directory
        Assert.NotEqual(0, ingest.ExitCode);
        Assert.Contains($"run `chmod 600 {policy}`", ingest.Stderr, StringComparison.Ordinal);

        File.SetUnixFileMode(policy, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Null(Hosting.Files.OwnerOnly.Problem(dir));
    }

    [Fact]
    public void A_coordinator_data_directory_others_can_read_is_refused_at_start()
    {
        var dir = TestFederation.TempDir("coordinator-modes");
        Assert.Equal(0, TestFederation.Ftwin("coordinator", "key", "--data-dir", dir).ExitCode);
        File.SetUnixFileMode(dir, (UnixFileMode)0x1FD); // 0775
        var run = TestFederation.Ftwin("coordinator", "run", "--data-dir", dir, "--urls", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}", "--admin-url", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains($"run `chmod 700 {dir}`", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_directory_and_file_of_a_demo_federation_is_its_owners_only()
    {
        // The demo's own set-up (LocalFederation: a coordinator and three nodes as ftwin processes), a census computed, then stopped.
        using var federation = await TestFederation.Start("owner-only");
        await federation.CreateStudy(TestFederation.StudyYaml("census-modes"), CancellationToken.None);
        var study = await federation.WaitForStudy("census-modes", TimeSpan.FromSeconds(120), null, CancellationToken.None);
        Assert.Equal("completed", study["state"]!.ToString());
        federation.Stop(TimeSpan.FromSeconds(30));

        var exposed = new[] { federation.CoordinatorDir }.Concat(federation.Nodes.Select(n => n.Dir))
            .SelectMany(d => Directory.EnumerateFileSystemEntries(d, "*", SearchOption.AllDirectories).Append(d))
            .Where(p => (File.GetUnixFileMode(p) & GroupOrOthers) != 0)
            .ToList();
        Assert.Empty(exposed); // find DIR -perm /077 lists nothing
        Assert.Contains(federation.Nodes.SelectMany(n => Directory.EnumerateFiles(n.Dir)), f => f.EndsWith("node.db-wal", StringComparison.Ordinal) || f.EndsWith("node.db", StringComparison.Ordinal));
    }

    private static UnixFileMode OwnerOnlyDirectory => UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public void The_key_ring_is_encrypted_at_rest_and_the_identity_unseals_after_a_restart()
    {
        var dir = TestFederation.TempDir("key-ring");
        string publicKey;
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            publicKey = node.Identity.PublicKey;
        }

        var ring = Directory.GetFiles(Path.Combine(dir, "keys"), "*.xml");
        Assert.NotEmpty(ring);
        foreach (var key in ring)
        {
            var xml = File.ReadAllText(key);
            Assert.Contains("<encryptedSecret", xml, StringComparison.Ordinal);
            Assert.DoesNotContain("<masterKey", xml, StringComparison.Ordinal); // the master key only inside the XML Encryption payload
        }

        Assert.True(File.Exists(Path.Combine(dir, KeyRingEncryption.DefaultFileName)));
        using (var again = NodeDirectory.OpenOrInitialize(dir))
        {
            Assert.Equal(publicKey, again.Identity.PublicKey); // unsealed after a restart
        }

        // Without the certificate the copied directory cannot be unsealed.
        File.Delete(Path.Combine(dir, KeyRingEncryption.DefaultFileName));
        Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => NodeDirectory.ReadPublicKey(dir));
    }

    [Fact]
    public void A_key_ring_from_before_encryption_keeps_working()
    {
        // A node directory as the previous version made it: its identity sealed under a plaintext key ring.
        var dir = TestFederation.TempDir("old-ring");
        var plain = DataProtectionProvider.Create(new DirectoryInfo(Path.Combine(dir, "keys")), b => b.SetApplicationName("FederatedTwin.Node")).CreateProtector("FederatedTwin.Node.Secrets.v1");
        using var identity = SealedIdentity.LoadOrCreate(dir, plain, out _);
        Assert.Contains("<masterKey", File.ReadAllText(Directory.GetFiles(Path.Combine(dir, "keys"), "*.xml").Single()), StringComparison.Ordinal);

        using var node = NodeDirectory.OpenOrInitialize(dir);
        Assert.Equal(identity.PublicKey, node.Identity.PublicKey);
    }

    [Fact]
    public void A_configured_key_encryption_certificate_is_used_and_the_directory_cannot_be_unsealed_without_it()
    {
        // The certificate kept apart from the data, as a mounted secret is.
        var certificate = Path.Combine(TestFederation.TempDir("kek"), "kek.pfx");
        using (var rsa = System.Security.Cryptography.RSA.Create(3072))
        {
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=test key encryption", rsa, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            using var created = request.CreateSelfSigned(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddYears(200));
            File.WriteAllBytes(certificate, created.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12));
        }

        var dir = Path.Combine(TestFederation.TempDir("kek-node"), "node");
        var env = new Dictionary<string, string> { [KeyRingEncryption.PathVariable] = certificate };
        Assert.Equal(0, FtwinWith(env, "node", "init", "--node-dir", dir).ExitCode);
        Assert.False(File.Exists(Path.Combine(dir, KeyRingEncryption.DefaultFileName))); // nothing of the certificate in the directory
        Assert.Contains("<encryptedSecret", File.ReadAllText(Directory.GetFiles(Path.Combine(dir, "keys"), "*.xml").Single()), StringComparison.Ordinal);

        var verify = FtwinWith(env, "audit", "verify", "--node-dir", dir); // unseals the identity to check the trail's checkpoints
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        Assert.NotEqual(0, TestFederation.Ftwin("audit", "verify", "--node-dir", dir).ExitCode); // the same directory without the certificate
    }

    [Fact]
    public void An_attempts_secret_is_deleted_once_its_share_is_issued_or_a_later_attempt_supersedes_it()
    {
        using var setup = new AcceptedCensus("secrets");
        var first = setup.Attempt(round: 1);
        first.Run();
        Assert.Equal(("share_issued", 0L), setup.Secret(1, 1));

        var stale = setup.Attempt(round: 2, attempt: 1);
        stale.CommitKeys();
        Assert.True(setup.Secret(2, 1).Length > 0);
        setup.Participant.CommitKeyShare(setup.Attempt(round: 2, attempt: 2).Work(WorkKind.CommitKeyShare));
        Assert.Equal(("superseded", 0L), setup.Secret(2, 1));
        Assert.True(setup.Secret(2, 2).Length > 0);

        setup.Clock.Advance(TimeSpan.FromSeconds(RoundParticipant.PhasesPerAttempt * Study.PhaseDeadlineSeconds + 1));
        Assert.Equal(1, setup.Participant.RetireExpiredSecrets()); // the attempt the coordinator abandoned
        Assert.Equal(("deadline", 0L), setup.Secret(2, 2));
    }

    [Fact]
    public void A_restored_node_refuses_to_decrypt_for_an_attempt_that_was_open_at_the_backup_and_continues_its_audit_chain()
    {
        using var setup = new AcceptedCensus("restore");
        var open = setup.Attempt();
        var aggregate = open.OpenUpdates(open.CommitUpdates(open.OpenKeys(open.CommitKeys()))); // everything but the decryption
        var bundle = Path.Combine(TestFederation.TempDir("bundle"), "node.backup");
        var manifest = setup.Node.Backup(bundle, setup.Clock);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(bundle));

        var restoredDir = Path.Combine(TestFederation.TempDir("restored"), "node");
        using var restored = NodeDirectory.Restore(bundle, restoredDir, out _, setup.Clock);
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(restoredDir));
        var participant = new RoundParticipant(restored, SimulatedFederation.Scheme, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, setup.Clock);
        var refused = Assert.Throws<ParticipationRefusedException>(() => participant.DecryptionShare(open.Work(WorkKind.Decrypt), aggregate));
        Assert.Equal(ProtocolRules.AttemptSecretRetired, refused.Rule);

        using var store = TestStore.OpenReadOnly(Path.Combine(restoredDir, "node.db"));
        var (entries, _) = Protocol.Audit.AuditLog.ReadAll(store);
        var restoredEntry = entries.Single(e => e.Action == Protocol.Audit.AuditActions.StoreRestored);
        Assert.Equal(manifest.AuditSeq + 1, restoredEntry.Seq); // the chain continues from the backup's head
        Assert.Equal(manifest.AuditHead, restoredEntry.PrevHash);
        Assert.Contains(entries, e => e.Seq > restoredEntry.Seq && e.Action == Protocol.Audit.AuditActions.DecryptionShareRefused && e.Detail.Contains(ProtocolRules.AttemptSecretRetired, StringComparison.Ordinal));

        // The original node, which holds the secret, still decrypts: only the restored copy lost it.
        Assert.NotNull(open.Decrypt(aggregate).Payload);
    }

    [Fact]
    public async Task A_running_node_is_backed_up_restored_into_a_new_directory_and_its_audit_trail_verifies_and_grows()
    {
        var dir = Path.Combine(TestFederation.TempDir("backup-live"), "node");
        Assert.Equal(0, TestFederation.Ftwin("node", "init", "--node-dir", dir, "--site-seed", "3").ExitCode);
        var log = Path.Combine(Path.GetDirectoryName(dir)!, "node.log");
        using (var node = ChildProcess.StartFtwin(["node", "run", "--node-dir", dir, "--admin-url", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}"], log))
        {
            await Eventually.Until(() => AuditActions(dir).Contains("service_started"), TimeSpan.FromSeconds(60), "the node's start");
            var bundle = Path.Combine(Path.GetDirectoryName(dir)!, "node.backup");
            var backup = TestFederation.Ftwin("node", "backup", "--node-dir", dir, "--out", bundle);
            Assert.True(backup.ExitCode == 0, backup.Stderr);
            node.Stop(TimeSpan.FromSeconds(30));

            var restoredDir = Path.Combine(Path.GetDirectoryName(dir)!, "restored");
            var restore = TestFederation.Ftwin("node", "restore", "--from", bundle, "--node-dir", restoredDir);
            Assert.True(restore.ExitCode == 0, restore.Stderr);
            var verify = TestFederation.Ftwin("audit", "verify", "--node-dir", restoredDir);
            Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
            Assert.Contains("store_restored", AuditActions(restoredDir));

            // The restored node runs, and its trail grows from the restore on and still verifies.
            var restoredLog = Path.Combine(Path.GetDirectoryName(dir)!, "restored.log");
            using (var again = ChildProcess.StartFtwin(["node", "run", "--node-dir", restoredDir, "--admin-url", $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}"], restoredLog))
            {
                await Eventually.Until(() => AuditActions(restoredDir).SkipWhile(a => a != "store_restored").Contains("service_started"), TimeSpan.FromSeconds(60), "the restored node's start");
                again.Stop(TimeSpan.FromSeconds(30));
            }

            verify = TestFederation.Ftwin("audit", "verify", "--node-dir", restoredDir);
            Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
            Assert.Equal("service_stopped", AuditActions(restoredDir).Last());
        }
    }

    [Fact]
    public async Task The_node_keeps_only_a_hash_of_its_admin_token_migrates_a_plaintext_one_and_a_new_token_retires_the_old()
    {
        // A node directory from before: admin.token holds the token itself.
        var dir = TestFederation.TempDir("node-admin-token");
        NodeDirectory.OpenOrInitialize(dir).Dispose();
        var old = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(Path.Combine(dir, AdminTokens.FileName), old);
        NodeDirectory.OpenOrInitialize(dir).Dispose(); // the next opening hashes it
        var stored = File.ReadAllText(Path.Combine(dir, AdminTokens.FileName));
        Assert.StartsWith("ftwin-admin-token:v1:hmac-sha256:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(old, stored, StringComparison.Ordinal);
        Assert.Contains("\"how\":\"migrated\"", string.Join("\n", AuditDetails(dir)), StringComparison.Ordinal);

        var (app, url) = await NodeService.Start(dir);
        try
        {
            using var http = new HttpClient { BaseAddress = url };
            http.DefaultRequestHeaders.Authorization = new("Bearer", old);
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/v1/decisions", UriKind.Relative))).StatusCode); // the migrated token still works

            var issued = TestFederation.Ftwin("node", "admin-token", "--node-dir", dir); // hospital IT, while the node runs
            Assert.True(issued.ExitCode == 0, issued.Stderr);
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("/v1/decisions", UriKind.Relative))).StatusCode);
            http.DefaultRequestHeaders.Authorization = new("Bearer", issued.Stdout.Trim());
            Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/v1/decisions", UriKind.Relative))).StatusCode);
            Assert.DoesNotContain(issued.Stdout.Trim(), File.ReadAllText(Path.Combine(dir, AdminTokens.FileName)), StringComparison.Ordinal);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static List<string> AuditDetails(string nodeDir)
    {
        using var store = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return [.. Protocol.Audit.AuditLog.ReadAll(store).Entries.Select(e => e.Action + " " + e.Detail)];
    }

    private static List<string> AuditActions(string nodeDir)
    {
        using var store = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return [.. Protocol.Audit.AuditLog.ReadAll(store).Entries.Select(e => e.Action)];
    }

    private static (int ExitCode, string Stdout, string Stderr) FtwinWith(Dictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "ftwin did not exit");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A node that accepted a census, with a pinned roster of itself and three simulated peers, on a test clock.</summary>
    private sealed class AcceptedCensus : IDisposable
    {
        private readonly SimulatedFederation _federation;

        public AcceptedCensus(string name)
        {
            Node = NodeDirectory.OpenOrInitialize(TestFederation.TempDir(name), time: Clock);
            Node.WriteSiteInput(SiteInput.Synthetic(7));
            File.WriteAllText(Node.PolicyPath, LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
            Participant = new RoundParticipant(Node, SimulatedFederation.Scheme, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, Clock);
            _federation = SimulatedFederation.Around(Node, peers: 3);
            Assert.True(new StudyDecisions(Node, clock: Clock).Decide(Study).Accept);
        }

        public FakeTimeProvider Clock { get; } = TestClock.Start();

        public NodeDirectory Node { get; }

        public RoundParticipant Participant { get; }

        public SimulatedAttempt Attempt(int round = 1, int attempt = 1) => new(Participant, _federation, Study, Request, round, attempt, null, clock: Clock);

        /// <summary>The attempt's secret as stored: its length, and why it was deleted.</summary>
        public (string? Reason, long Length) Secret(int round, int attempt)
        {
            using var store = TestStore.OpenReadOnly(Path.Combine(Node.Path, "node.db"));
            using var command = store.CreateCommand();
            command.CommandText = "SELECT secret_retired_reason, length(sealed_secret) FROM attempt_keys WHERE study_id='census' AND round=$r AND attempt=$a";
            command.Parameters.AddWithValue("$r", round);
            command.Parameters.AddWithValue("$a", attempt);
            using var reader = command.ExecuteReader();
            Assert.True(reader.Read());
            return (reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1));
        }

        public void Dispose()
        {
            Node.Dispose();
            _federation.Dispose();
        }
    }
}
