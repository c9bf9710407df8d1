using Dapper;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Audit.Tests;

/// <summary>
/// A real node.db with a 12-entry trail and a checkpoint every 5 entries (at 5 and 10), tampered with
/// directly in SQLite after dropping the triggers, as someone with write access to the file could.
/// Entry 7 is a study decision (it has a study and a purpose of use).
/// </summary>
public sealed class ChainTamperingTests
{
    private const int Interval = 5;
    private readonly string _dir;
    private readonly string _db;
    private readonly string _publicKey;

    public ChainTamperingTests()
    {
        _dir = AuditTestSupport.TempDir("chain");
        using var node = NodeDirectory.OpenOrInitialize(_dir, Interval); // entries 1–4: trail started, identity key, admin token, pseudonym key
        _publicKey = node.Identity.PublicKey;
        var study = new StudySpec(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30);
        node.Audit.Append(NodeAuditRecords.ServiceStarted("0.1.0", null)); // 5 (checkpoint)
        node.Audit.Append(NodeAuditRecords.EnrollmentRefused(new Uri("http://127.0.0.1:7400"), null, "test")); // 6
        node.Audit.Append(NodeAuditRecords.StudyDecision(study, new PolicyDecision(true, "all_rules_passed", "allowed"), new string('c', 64))); // 7
        var work = new WorkItem(WorkKind.CommitUpdate, study, 1, 1);
        node.Audit.Append(NodeAuditRecords.KeyShareGenerated(work, new string('d', 64))); // 8
        node.Audit.Append(NodeAuditRecords.Submission(work, new string('e', 64), 16, 369_000, [new FederatedTwin.Crypto.Codec.FixedPointBlock("values", 16, 1)])); // 9
        node.Audit.Append(NodeAuditRecords.DecryptionShareIssued(work, new string('f', 64), new string('b', 64), ["k1", "k2", "k3"], new string('9', 64), new string('a', 64), 1)); // 10 (checkpoint)
        node.Audit.Append(NodeAuditRecords.Refused(AuditActions.DecryptionShareRefused, work with { Attempt = 2 }, "deadline passed")); // 11
        node.Audit.Append(NodeAuditRecords.ServiceStopped()); // 12
        _db = Path.Combine(_dir, "node.db");
    }

    private AuditVerification Verify() => AuditTestSupport.VerifyNode(_dir, _publicKey);

    private void Tamper(string sql, object? args = null)
    {
        using var c = AuditTestSupport.OpenWithoutTriggers(_db);
        c.Execute(sql, args);
    }

    private static void AssertFirst(AuditVerification v, AuditProblemKind kind, long seq)
    {
        Assert.False(v.Ok);
        Assert.True(v.FirstProblem is { } p && p.Kind == kind && p.Seq == seq, $"expected {kind} at {seq}, got {v.FirstProblem}");
    }

    [Fact]
    public void An_untouched_trail_verifies_with_its_periodic_checkpoints()
    {
        var v = Verify();
        Assert.True(v.Ok, string.Join("; ", v.Problems));
        Assert.Equal(12, v.Entries);
        Assert.Equal(2, v.CheckpointsVerified);
        Assert.Equal(10, v.LastCheckpointSeq);
        Assert.Equal(2, v.UnsignedTail);
        Assert.Equal(Interval, v.CheckpointInterval);
    }

    [Theory]
    [InlineData("at", "2020-01-01T00:00:00.000Z")]
    [InlineData("actor", "node-someone-else")]
    [InlineData("action", "service_started")]
    [InlineData("outcome", 4)]
    [InlineData("study_id", "another-study")]
    [InlineData("purpose_of_use", "HRESCH")]
    [InlineData("detail", "{\"decision\":\"refuse\"}")]
    [InlineData("prev_hash", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [InlineData("hash", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")]
    public void Editing_one_column_of_one_entry_is_detected_and_the_entry_named(string column, object value)
    {
        Tamper($"UPDATE audit_log SET {column} = @value WHERE seq = 7", new { value });
        var v = Verify();
        AssertFirst(v, AuditProblemKind.Altered, 7);
        Assert.Contains("entry 7", v.FirstProblem!.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("UPDATE audit_log SET detail = ' ' || detail WHERE seq = 7", AuditProblemKind.Altered, 7, null)] // the detail rewritten in an equivalent, non-canonical form
    [InlineData("DELETE FROM audit_log WHERE seq = 7", AuditProblemKind.Removed, 7, "entry 7 was removed")] // an entry deleted
    [InlineData("DELETE FROM audit_log WHERE seq = 7; UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 7; UPDATE audit_log SET seq = -seq WHERE seq < 0;", AuditProblemKind.Removed, 7, null)] // an entry deleted, the later ones renumbered
    [InlineData("UPDATE audit_log SET seq = -7 WHERE seq = 7; UPDATE audit_log SET seq = 7 WHERE seq = 8; UPDATE audit_log SET seq = 8 WHERE seq = -7;", AuditProblemKind.Reordered, 7, null)] // two entries swapped
    [InlineData("DELETE FROM audit_log WHERE seq >= 8", AuditProblemKind.Truncated, 8, "checkpoint")] // the tail truncated below a checkpoint
    public void Rewriting_removing_reordering_or_truncating_entries_is_detected_and_the_first_one_named(string tampering, AuditProblemKind kind, long seq, string? named)
    {
        Tamper(tampering);
        var v = Verify();
        AssertFirst(v, kind, seq);
        if (named is not null)
        {
            Assert.Contains(named, v.FirstProblem!.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void An_entry_altered_and_rehashed_is_named_through_the_next_entrys_link()
    {
        Rehash(from: 7, to: 7, e => e with { Outcome = AuditOutcome.MinorFailure });
        var v = Verify();
        AssertFirst(v, AuditProblemKind.Altered, 7);
        Assert.Contains("re-hashed", v.FirstProblem!.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rewriting_and_rehashing_the_chain_from_an_entry_on_is_caught_by_the_signed_checkpoint()
    {
        Rehash(from: 7, to: 12, e => e.Seq == 7 ? e with { Detail = """{"decision":"refuse"}""" } : e);
        var v = Verify();
        Assert.False(v.Ok);
        var problem = Assert.Single(v.Problems);
        Assert.Equal(AuditProblemKind.CheckpointMismatch, problem.Kind);
        Assert.Equal(6, problem.Seq); // the first entry after the last checkpoint that still matches
        Assert.Equal(1, v.CheckpointsVerified);
    }

    [Fact]
    public void Truncating_only_entries_after_the_last_checkpoint_is_not_detectable_on_the_node_alone()
    {
        // The documented limit (docs/threat-model.md): entries after the last checkpoint are chained but
        // unsigned; only a head recorded off the node (sent with each signed submission, next step) shows their loss.
        Tamper("DELETE FROM audit_log WHERE seq > 10");
        var v = Verify();
        Assert.True(v.Ok);
        Assert.Equal(10, v.LastSeq);
        Assert.Equal(0, v.UnsignedTail);
    }

    [Fact]
    public void A_checkpoint_with_a_forged_signature_is_detected()
    {
        // Rewrite the chain from entry 7 on and re-sign checkpoint 10 with a key that is not the node's.
        var rewritten = Rehash(from: 7, to: 12, e => e.Seq == 7 ? e with { Detail = """{"decision":"refuse"}""" } : e);
        using var attacker = Ed25519Identity.Generate();
        var forged = AuditCheckpoint.Sign(attacker, rewritten.Single(e => e.Seq == 10), DateTimeOffset.UtcNow, CheckpointReasons.Interval) with { PublicKey = _publicKey };
        Tamper("DELETE FROM audit_checkpoints WHERE seq = 10; INSERT INTO audit_checkpoints(seq, head_hash, at, reason, public_key, signature) VALUES (@Seq, @HeadHash, @At, @Reason, @PublicKey, @Signature)", forged);

        var v = Verify();
        AssertFirst(v, AuditProblemKind.CheckpointSignatureInvalid, 10);
        Assert.Equal(1, v.CheckpointsVerified);
    }

    [Fact]
    public void A_damaged_checkpoint_signature_is_detected()
    {
        // One statement: two in a row undid each other when the signature began with 'B' (A, then back to B), one run in 64.
        Tamper("UPDATE audit_checkpoints SET signature = (CASE WHEN substr(signature, 1, 1) = 'A' THEN 'B' ELSE 'A' END) || substr(signature, 2) WHERE seq = 5");
        AssertFirst(Verify(), AuditProblemKind.CheckpointSignatureInvalid, 5);
    }

    [Fact]
    public void A_deleted_periodic_checkpoint_is_detected()
    {
        Tamper("DELETE FROM audit_checkpoints WHERE seq = 5");
        AssertFirst(Verify(), AuditProblemKind.CheckpointMissing, 5);
    }

    [Fact]
    public void Checkpoints_verify_only_under_the_services_key()
    {
        using var other = Ed25519Identity.Generate();
        var v = AuditTestSupport.VerifyNode(_dir, other.PublicKey);
        AssertFirst(v, AuditProblemKind.CheckpointSignatureInvalid, 5);
    }

    [Fact]
    public void The_triggers_refuse_updates_deletes_and_out_of_sequence_inserts()
    {
        using var c = TestStore.OpenWritable(_db);
        Assert.Contains("append-only", Assert.Throws<SqliteException>(() => c.Execute("UPDATE audit_log SET outcome = 4 WHERE seq = 7")).Message, StringComparison.Ordinal);
        Assert.Contains("append-only", Assert.Throws<SqliteException>(() => c.Execute("DELETE FROM audit_log WHERE seq = 12")).Message, StringComparison.Ordinal);
        Assert.Contains("in sequence", Assert.Throws<SqliteException>(() => c.Execute("INSERT OR REPLACE INTO audit_log SELECT * FROM audit_log WHERE seq = 7")).Message, StringComparison.Ordinal);
        Assert.Contains("append-only", Assert.Throws<SqliteException>(() => c.Execute("DELETE FROM audit_checkpoints")).Message, StringComparison.Ordinal);
        Assert.Contains("name an entry", Assert.Throws<SqliteException>(() => c.Execute("INSERT INTO audit_checkpoints VALUES (11, 'x', 'x', 'x', 'x', 'x')")).Message, StringComparison.Ordinal);
        Assert.True(Verify().Ok);
    }

    /// <summary>Applies a change to entries from..to and re-computes their hashes and links, as an attacker without the signing key can.</summary>
    private List<AuditEntry> Rehash(long from, long to, Func<AuditEntry, AuditEntry> change)
    {
        var entries = AuditTestSupport.NodeEntries(_dir);
        var previous = entries.Single(e => e.Seq == from - 1).Hash;
        var rewritten = new List<AuditEntry>();
        foreach (var e in entries.Where(e => e.Seq >= from && e.Seq <= to))
        {
            var changed = change(e) with { PrevHash = previous };
            changed = changed with { Hash = AuditChain.ComputeHash(changed) };
            previous = changed.Hash;
            rewritten.Add(changed);
        }

        using var c = AuditTestSupport.OpenWithoutTriggers(_db);
        foreach (var e in rewritten)
        {
            c.Execute("UPDATE audit_log SET outcome=@Outcome, detail=@Detail, prev_hash=@PrevHash, hash=@Hash WHERE seq=@Seq", new { Outcome = (int)e.Outcome, e.Detail, e.PrevHash, e.Hash, e.Seq });
        }

        return rewritten;
    }
}
