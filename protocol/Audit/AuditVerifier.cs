using System.Globalization;
using System.Text.Json.Nodes;

namespace FederatedTwin.Protocol.Audit;

/// <summary>What is wrong with a chain at a given entry.</summary>
public enum AuditProblemKind
{
    /// <summary>An entry's content no longer matches its hash, or it was re-hashed after the next entry was chained to it.</summary>
    Altered,

    /// <summary>Entries are missing from the middle of the chain.</summary>
    Removed,

    /// <summary>An entry sits in another place than the one it was chained in.</summary>
    Reordered,

    /// <summary>Entries were put between two entries that were chained to each other.</summary>
    Inserted,

    /// <summary>The chain ends before an entry that a signed checkpoint covers.</summary>
    Truncated,

    /// <summary>A checkpoint's signature does not verify under the service's key.</summary>
    CheckpointSignatureInvalid,

    /// <summary>A validly signed checkpoint names another hash than the entry now has: the chain was rewritten.</summary>
    CheckpointMismatch,

    /// <summary>A periodic checkpoint the chain must have (every N entries) is not there.</summary>
    CheckpointMissing,

    /// <summary>An identity_key_rotated entry that does not chain from the key before it or lacks both keys' signatures.</summary>
    KeyRotationInvalid,

    /// <summary>The key the trail is checked against is none of the identity keys the chain names.</summary>
    KeyUnknown,

    /// <summary>The service's key history file disagrees with the rotations recorded in the chain.</summary>
    KeyHistoryMismatch,
}

/// <summary>One finding, located at the first entry it implicates.</summary>
public sealed record AuditProblem(AuditProblemKind Kind, long Seq, string Message)
{
    public string KindCode => Kind switch
    {
        AuditProblemKind.CheckpointSignatureInvalid => "checkpoint_signature_invalid",
        AuditProblemKind.CheckpointMismatch => "checkpoint_mismatch",
        AuditProblemKind.CheckpointMissing => "checkpoint_missing",
        AuditProblemKind.KeyRotationInvalid => "key_rotation_invalid",
        AuditProblemKind.KeyUnknown => "key_unknown",
        AuditProblemKind.KeyHistoryMismatch => "key_history_mismatch",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    public JsonObject ToJson() => new() { ["kind"] = KindCode, ["seq"] = Seq, ["message"] = Message };
}

/// <summary>The result of walking a chain and its checkpoints.</summary>
public sealed record AuditVerification(
    long Entries,
    long LastSeq,
    string HeadHash,
    int Checkpoints,
    int CheckpointsVerified,
    long LastCheckpointSeq,
    int CheckpointInterval,
    IReadOnlyList<AuditProblem> Problems,
    IReadOnlyList<IdentityKeySpan>? IdentityKeys = null)
{
    public bool Ok => Problems.Count == 0;

    /// <summary>The earliest entry anything implicates (chain findings before checkpoint findings at the same entry).</summary>
    public AuditProblem? FirstProblem => Problems.OrderBy(p => p.Seq).ThenBy(p => p.Kind).FirstOrDefault();

    /// <summary>Entries after the last verified checkpoint: chained, but not yet covered by a signature.</summary>
    public long UnsignedTail => Math.Max(0, LastSeq - LastCheckpointSeq);

    public JsonObject ToJson() => new()
    {
        ["ok"] = Ok,
        ["entries"] = Entries,
        ["last_seq"] = LastSeq,
        ["head_hash"] = HeadHash,
        ["checkpoints"] = Checkpoints,
        ["checkpoints_verified"] = CheckpointsVerified,
        ["last_checkpoint_seq"] = LastCheckpointSeq,
        ["checkpoint_interval"] = CheckpointInterval,
        ["unsigned_tail"] = UnsignedTail,
        ["first_problem"] = FirstProblem?.ToJson(),
        ["problems"] = new JsonArray([.. Problems.OrderBy(p => p.Seq).ThenBy(p => p.Kind).Select(p => (JsonNode)p.ToJson())]),
        ["identity_keys"] = new JsonArray([.. (IdentityKeys ?? []).Select(k => (JsonNode)new JsonObject { ["public_key"] = k.PublicKey, ["from_seq"] = k.FromSeq, ["until_seq"] = k.UntilSeq })]),
    };
}

/// <summary>
/// Walks an audit chain in stored order and its checkpoints, and names the first entry that was
/// altered, removed, reordered or inserted, plus every checkpoint that fails (45 CFR 164.312(b):
/// audit records a compliance officer can show were not changed). Each entry is checked on its own
/// (its hash over its content and stored previous hash) and against its neighbour (its previous hash
/// is the hash of the entry before it); the combination tells the kinds of tampering apart. Checkpoints
/// must carry a valid signature and name the hash their entry still has; one is required every N
/// entries, N as the chain's first entry declares.
/// </summary>
public static class AuditVerifier
{
    /// <summary>How far back a renumbered entry is looked for (entries removed and the rest renumbered).</summary>
    private const int RenumberSearch = 64;

    /// <param name="entries">The chain in stored order.</param>
    /// <param name="checkpoints">Its signed checkpoints.</param>
    /// <param name="publicKey">
    /// The service's key from a source the verifier trusts (its sealed identity, or one the coordinator enrolled). A
    /// chain whose identity was rotated must name it among its keys; each checkpoint is checked under the key of its
    /// span (<see cref="IdentityKeyChain"/>).
    /// </param>
    /// <param name="keyHistory">The retired keys as the service's key history file lists them, oldest first; null when there is no file to compare.</param>
    public static AuditVerification Verify(IReadOnlyList<AuditEntry> entries, IReadOnlyList<AuditCheckpoint> checkpoints, string publicKey, IReadOnlyList<IdentityKeySpan>? keyHistory = null)
    {
        var problems = new List<AuditProblem>();
        var chainProblem = WalkChain(entries);
        if (chainProblem is not null)
        {
            problems.Add(chainProblem);
        }

        var (spans, keyProblems) = IdentityKeyChain.Read(entries, publicKey);
        problems.AddRange(keyProblems);
        if (spans.Count > 1 && !spans.Any(k => k.PublicKey == publicKey))
        {
            problems.Add(new AuditProblem(AuditProblemKind.KeyUnknown, 1,
                $"the key it is checked against, {publicKey}, is none of the identity keys the trail names: {string.Join(", ", spans)}"));
        }

        if (keyHistory is not null && HistoryMismatch(spans, keyHistory) is { } mismatch)
        {
            problems.Add(mismatch);
        }

        var bySeq = new Dictionary<long, AuditEntry>();
        foreach (var e in entries)
        {
            bySeq.TryAdd(e.Seq, e);
        }

        var lastSeq = entries.Count == 0 ? 0 : entries[^1].Seq;
        var verified = 0;
        long lastVerified = 0;
        long previousGood = 0;
        AuditCheckpoint? beyondEnd = null;
        foreach (var cp in checkpoints.OrderBy(c => c.Seq))
        {
            var span = spans.FirstOrDefault(k => k.Covers(cp.Seq)) ?? spans[^1];
            if (!cp.VerifySignature(span.PublicKey))
            {
                var other = spans.FirstOrDefault(k => k != span && cp.VerifySignature(k.PublicKey));
                var what = spans.Count == 1 ? "the service's key" : $"the identity key at seq {cp.Seq}";
                var why = other is not null
                    ? $"it is signed by key {other.PublicKey}, the identity only for seq {other.FromSeq}–{(other.UntilSeq is { } u ? u.ToString(CultureInfo.InvariantCulture) : string.Empty)}, not by {what} {span.PublicKey}"
                    : cp.PublicKey != span.PublicKey
                    ? $"it claims key {cp.PublicKey}, not {what} {span.PublicKey}"
                    : $"its signature does not verify under {what}";
                problems.Add(new AuditProblem(AuditProblemKind.CheckpointSignatureInvalid, cp.Seq, $"the checkpoint at seq {cp.Seq} (recorded {cp.At}) is forged or damaged: {why}"));
                continue;
            }

            if (cp.Seq > lastSeq)
            {
                beyondEnd = cp; // the last such checkpoint shows how far the chain reached at least
                continue;
            }

            if (!bySeq.TryGetValue(cp.Seq, out var entry))
            {
                problems.Add(new AuditProblem(AuditProblemKind.Removed, cp.Seq, $"entry {cp.Seq}, covered by a checkpoint signed at {cp.At}, is missing"));
                continue;
            }

            if (entry.Hash != cp.HeadHash)
            {
                // A chain already broken at or before this checkpoint explains the mismatch; the chain finding locates it exactly.
                if (chainProblem is null || chainProblem.Seq > cp.Seq)
                {
                    problems.Add(new AuditProblem(AuditProblemKind.CheckpointMismatch, previousGood + 1,
                        $"the checkpoint signed at {cp.At} says entry {cp.Seq} had hash {Short(cp.HeadHash)}, it now has {Short(entry.Hash)}: an entry between seq {previousGood + 1} and {cp.Seq} was altered and the chain re-hashed after it"));
                }

                continue;
            }

            verified++;
            lastVerified = cp.Seq;
            previousGood = cp.Seq;
        }

        if (beyondEnd is not null)
        {
            problems.Add(new AuditProblem(AuditProblemKind.Truncated, lastSeq + 1,
                $"the chain ends at seq {lastSeq}, but a checkpoint signed at {beyondEnd.At} covers seq {beyondEnd.Seq}: entries {lastSeq + 1}–{beyondEnd.Seq} (at least) were removed from the end"));
        }

        var interval = AuditChain.CheckpointInterval(entries.Count > 0 && entries[0].Seq == 1 ? entries[0] : null);
        var present = checkpoints.Select(c => c.Seq).ToHashSet();
        for (long m = interval; m <= lastSeq; m += interval)
        {
            if (!present.Contains(m))
            {
                problems.Add(new AuditProblem(AuditProblemKind.CheckpointMissing, m, $"the checkpoint every {interval} entries is missing at seq {m}"));
            }
        }

        return new AuditVerification(entries.Count, lastSeq, entries.Count == 0 ? AuditChain.GenesisHash : entries[^1].Hash, checkpoints.Count, verified, lastVerified, interval, problems, spans);
    }

    /// <summary>
    /// The history file must list the chain's retired keys with the same spans, oldest first. It may lack the last one
    /// only: a rotation is committed to the chain before the file is rewritten, and a crash between the two is
    /// finished by the next run.
    /// </summary>
    private static AuditProblem? HistoryMismatch(IReadOnlyList<IdentityKeySpan> spans, IReadOnlyList<IdentityKeySpan> history)
    {
        var retired = spans.Count > 1 ? spans.Take(spans.Count - 1).ToList() : [];
        for (var i = 0; i < history.Count; i++)
        {
            if (i >= retired.Count)
            {
                return new AuditProblem(AuditProblemKind.KeyHistoryMismatch, history[i].FromSeq,
                    $"the key history file lists key {history[i]} as retired, but the trail records no rotation away from it");
            }

            if (history[i] != retired[i])
            {
                return new AuditProblem(AuditProblemKind.KeyHistoryMismatch, Math.Min(history[i].FromSeq, retired[i].FromSeq),
                    $"the key history file lists {history[i]} where the trail records {retired[i]}");
            }
        }

        return history.Count < retired.Count - 1
            ? new AuditProblem(AuditProblemKind.KeyHistoryMismatch, retired[history.Count].FromSeq, $"the key history file does not list the retired key {retired[history.Count]}")
            : null;
    }

    /// <summary>The first chain problem in stored order, or null.</summary>
    private static AuditProblem? WalkChain(IReadOnlyList<AuditEntry> entries)
    {
        var positionOfHash = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < entries.Count; i++)
        {
            positionOfHash.TryAdd(entries[i].Hash, i);
        }

        for (var i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var expectedSeq = i == 0 ? 1 : entries[i - 1].Seq + 1;
            var expectedPrev = i == 0 ? AuditChain.GenesisHash : entries[i - 1].Hash;
            if (e.Seq != expectedSeq)
            {
                return e.Seq > expectedSeq
                    ? new AuditProblem(AuditProblemKind.Removed, expectedSeq, e.Seq - expectedSeq == 1
                        ? $"entry {expectedSeq} was removed (the chain goes from seq {expectedSeq - 1} to {e.Seq})"
                        : $"entries {expectedSeq}–{e.Seq - 1} were removed (the chain goes from seq {expectedSeq - 1} to {e.Seq})")
                    : new AuditProblem(AuditProblemKind.Reordered, e.Seq, $"entry {e.Seq} appears after entry {expectedSeq - 1}");
            }

            var selfConsistent = SelfConsistent(e);
            if (e.PrevHash != expectedPrev)
            {
                if (positionOfHash.TryGetValue(e.PrevHash, out var j) && j != i - 1)
                {
                    return j > i
                        ? new AuditProblem(AuditProblemKind.Reordered, e.Seq, $"entry {e.Seq} ({Describe(e)}) was chained after the entry now at seq {entries[j].Seq}: entries were reordered")
                        : new AuditProblem(AuditProblemKind.Inserted, entries[j + 1].Seq, $"entries {entries[j + 1].Seq}–{entries[i - 1].Seq} were inserted between entries that were chained to each other");
                }

                if (selfConsistent && i > 0)
                {
                    return new AuditProblem(AuditProblemKind.Altered, entries[i - 1].Seq,
                        $"entry {entries[i - 1].Seq} ({Describe(entries[i - 1])}) was altered and re-hashed: entry {e.Seq} was chained to a different hash");
                }

                for (var d = 1; d <= RenumberSearch && !selfConsistent; d++)
                {
                    if (Matches(e with { Seq = e.Seq + d }))
                    {
                        return new AuditProblem(AuditProblemKind.Removed, e.Seq, $"{d} entr{(d == 1 ? "y was" : "ies were")} removed before the entry now at seq {e.Seq}, and the later entries renumbered");
                    }
                }

                return new AuditProblem(AuditProblemKind.Altered, e.Seq, $"entry {e.Seq} ({Describe(e)}) was altered: its link to the previous entry and its content no longer match its hash");
            }

            if (!selfConsistent)
            {
                return new AuditProblem(AuditProblemKind.Altered, e.Seq, $"entry {e.Seq} ({Describe(e)}) was altered: its content no longer matches its hash");
            }

            if (!DetailIsCanonical(e))
            {
                return new AuditProblem(AuditProblemKind.Altered, e.Seq, $"entry {e.Seq} ({Describe(e)}) was altered: its detail is not in the canonical form it was written in");
            }
        }

        return null;
    }

    private static bool SelfConsistent(AuditEntry e) => Matches(e);

    private static bool Matches(AuditEntry e)
    {
        try
        {
            return AuditChain.ComputeHash(e) == e.Hash;
        }
        catch (Exception ex) when (ex is JsonCanonicalizationException or FormatException)
        {
            return false;
        }
    }

    private static bool DetailIsCanonical(AuditEntry e)
    {
        try
        {
            return JsonCanonicalizer.CanonicalString(e.Detail) == e.Detail;
        }
        catch (Exception ex) when (ex is JsonCanonicalizationException or System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static string Describe(AuditEntry e) => $"{e.Action}, recorded {e.At}";

    private static string Short(string hash) => hash.Length > 16 ? hash[..16] + "…" : hash;

    /// <summary>Formats a verification for a terminal: one headline, then details.</summary>
    public static string Summary(AuditVerification v, string publicKey)
    {
        var lines = new List<string>();
        if (v.Ok)
        {
            lines.Add($"audit trail OK: {v.Entries} entries (seq 1–{v.LastSeq}), head {Short(v.HeadHash)}");
        }
        else
        {
            var first = v.FirstProblem!;
            lines.Add($"audit trail FAILED at entry {first.Seq} ({first.KindCode}): {first.Message}");
            foreach (var p in v.Problems.OrderBy(p => p.Seq).ThenBy(p => p.Kind).Where(p => p != first))
            {
                lines.Add($"  also at entry {p.Seq} ({p.KindCode}): {p.Message}");
            }

            lines.Add($"{v.Entries} entries read (last seq {v.LastSeq})");
        }

        var keys = v.IdentityKeys is { Count: > 1 } spans
            ? $"the identity key of their span ({string.Join(", ", spans.Select(k => k.ToString()))}; checked against {publicKey})"
            : $"key {publicKey}";
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"checkpoints: {v.CheckpointsVerified} of {v.Checkpoints} verified under {keys}, one every {v.CheckpointInterval} entries; last verified at seq {v.LastCheckpointSeq}"));
        if (v.UnsignedTail > 0)
        {
            lines.Add($"{v.UnsignedTail} entr{(v.UnsignedTail == 1 ? "y" : "ies")} after the last checkpoint {(v.UnsignedTail == 1 ? "is" : "are")} chained but not yet signed");
        }

        return string.Join(Environment.NewLine, lines);
    }
}
