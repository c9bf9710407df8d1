using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>One attempt of one round of a study: the key of every per-attempt row (attempt_keys, submissions, decryption_shares, commitment_sets).</summary>
public readonly record struct AttemptRef(string Study, int Round, int Attempt)
{
    internal object Args => new { s = Study, r = Round, a = Attempt };
}

/// <summary>This node's key share for an attempt and the CRP seed it keyed with (null: keyed before seeds were kept), and when.</summary>
public sealed record StoredKeyShare(byte[] KeyShare, byte[]? CrpSeed, string CreatedAt);

/// <summary>This node's sealed update for an attempt: the ciphertext, how many values it holds, and the SHA-256 of the plaintext values.</summary>
public sealed record StoredSubmission(byte[] Ciphertext, long ValueCount, string? ValuesSha256);

/// <summary>The decryption share this node issued for an attempt, and the aggregate and update set it was over.</summary>
public sealed record IssuedShare(string AggregateDigest, byte[] Share, string UpdateSetDigest, string? DecryptSetDigest = null);

/// <summary>When an attempt's secret was deleted (null for secrets deleted by the schema migration without a time) and why.</summary>
public sealed record RetiredSecret(string? At, string Reason);

/// <summary>A commitment set this node accepted: its digest and the submitter keys it lists (JSON).</summary>
public sealed record StoredCommitmentSet(string Digest, string KeysJson);

/// <summary>A row of the release ledger (decryption_shares) as stored; columns added by later migrations are null on older rows.</summary>
public sealed record ReleaseRow(string Study, long Round, long Attempt, string? SubmittersSha256, string? SubmittersJson, string? ValuesSha256, string? HospitalsJson, string? StatisticsJson, long? Exact);

/// <summary>A decryption share to record, with what it releases and over whom (JSON lists, as the ledger stores them).</summary>
public sealed record ReleaseRecord(AttemptRef Attempt, string AggregateDigest, byte[] Share, string IssuedAt, string SubmittersJson, string SubmittersSha256, string ValuesSha256,
    string UpdateSetDigest, string HospitalsJson, string StatisticsJson, bool Exact, string? DecryptSetDigest = null);

/// <summary>
/// The round participant's rows in node.db: per attempt, the sealed key share, the submission, the commitment sets seen and the
/// decryption share (the release ledger), and the highest attempt seen per round. Every write takes the caller's transaction, so a
/// check and the row it guards (the release ledger's and the share it records) stay one step.
/// </summary>
public static class FederationQueries
{
    private const string AttemptWhere = "WHERE study_id=@s AND round=@r AND attempt=@a";

    private static readonly string InsertKeyShareSql =
        $"{SqliteSyntax.InsertOrIgnore} attempt_keys(study_id, round, attempt, sealed_secret, key_share, crp_seed, created_at) VALUES (@s, @r, @a, @secret, @share, @seed, @now)";

    private static readonly string InsertSubmissionSql =
        $"{SqliteSyntax.InsertOrIgnore} submissions(study_id, round, attempt, ciphertext, digest, value_count, submitted_at, values_sha256, draw) VALUES (@s, @r, @a, @ct, @d, @n, @now, @vs, @draw)";

    private static readonly string RaiseWatermarkSql = $"""
        INSERT INTO attempt_watermarks(study_id, round, highest_attempt) VALUES (@s, @r, @a)
        ON CONFLICT(study_id, round) DO UPDATE SET highest_attempt = {SqliteSyntax.Greatest("highest_attempt", "excluded.highest_attempt")}
        """;

    private static readonly string InsertShareSql = $"""
        {SqliteSyntax.InsertOrIgnore} decryption_shares(study_id, round, attempt, aggregate_digest, share, issued_at, submitters_json, submitters_sha256, values_sha256, update_set_digest,
            hospitals_json, statistics_json, exact, decrypt_set_digest)
        VALUES (@s, @r, @a, @d, @share, @now, @members, @membersSha, @vs, @set, @hospitals, @statistics, @exact, @decryptSet)
        """;

    /// <summary>Records the attempt's sealed secret and key share; 0 when one was already recorded (a retry keeps the first).</summary>
    public static int InsertKeyShare(DbConnection c, DbTransaction t, AttemptRef attempt, byte[] sealedSecret, byte[] keyShare, byte[] crpSeed, string now) =>
        c.Execute(InsertKeyShareSql, new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, secret = sealedSecret, share = keyShare, seed = crpSeed, now }, t);

    public static StoredKeyShare? KeyShare(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<(byte[] key_share, byte[]? crp_seed, string created_at)?>($"SELECT key_share, crp_seed, created_at FROM attempt_keys {AttemptWhere}", attempt.Args) is { } r
            ? new StoredKeyShare(r.key_share, r.crp_seed, r.created_at)
            : null;

    /// <summary>The attempt's sealed secret, or empty when it was deleted (then <see cref="SecretRetirement"/> says when and why).</summary>
    public static byte[] SealedSecret(DbConnection c, AttemptRef attempt) =>
        c.QuerySingle<byte[]>($"SELECT sealed_secret FROM attempt_keys {AttemptWhere}", attempt.Args);

    /// <summary>When and why the attempt's secret was deleted; null when it was not.</summary>
    public static RetiredSecret? SecretRetirement(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<(string? at, string? reason)?>($"SELECT secret_retired_at, secret_retired_reason FROM attempt_keys {AttemptWhere} AND length(sealed_secret) = 0", attempt.Args) is { } r
            ? new RetiredSecret(r.at, r.reason ?? "unknown")
            : null;

    /// <summary>
    /// Deletes attempt secrets: the sealed bytes are overwritten by an empty blob, with secure_delete on for this connection so SQLite
    /// zeroes the freed cell in the file (https://sqlite.org/pragma.html#pragma_secure_delete) rather than leaving it in a free page.
    /// Without <paramref name="attempt"/>, every secret still held (a restored store); with <paramref name="belowAttempt"/>, the round's
    /// attempts below that one (superseded). Returns how many were deleted.
    /// </summary>
    public static int RetireSecrets(DbConnection c, DbTransaction t, AttemptRef? attempt, string reason, string now, bool belowAttempt = false)
    {
        c.Execute("PRAGMA secure_delete=ON", transaction: t);
        var where = attempt is null ? string.Empty
            : belowAttempt ? "AND study_id=@s AND round=@r AND attempt<@a"
            : "AND study_id=@s AND round=@r AND attempt=@a";
        return c.Execute(
            $"UPDATE attempt_keys SET sealed_secret = X'', secret_retired_at = @now, secret_retired_reason = @reason WHERE length(sealed_secret) > 0 {where}",
            new { s = attempt?.Study, r = attempt?.Round, a = attempt?.Attempt, now, reason }, t);
    }

    /// <summary>How many attempt secrets were deleted for <paramref name="reason"/>.</summary>
    public static long RetiredSecretCount(DbConnection c, DbTransaction t, string reason) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM attempt_keys WHERE length(sealed_secret) = 0 AND secret_retired_reason = @reason", new { reason }, t);

    /// <summary>The attempts whose secret is still held, with when this node keyed them (to delete those past their deadline).</summary>
    public static IReadOnlyList<(AttemptRef Attempt, string CreatedAt)> HeldSecrets(DbConnection c) =>
        c.Query<(string study_id, long round, long attempt, string created_at)>("SELECT study_id, round, attempt, created_at FROM attempt_keys WHERE length(sealed_secret) > 0")
            .Select(r => (new AttemptRef(r.study_id, (int)r.round, (int)r.attempt), r.created_at)).ToList();

    /// <summary>Records this node's sealed update; 0 when one was already recorded (a retry sends the stored bytes).</summary>
    public static int InsertSubmission(DbConnection c, DbTransaction t, AttemptRef attempt, byte[] ciphertext, string digest, int valueCount, string now, string valuesSha256, int draw) =>
        c.Execute(InsertSubmissionSql, new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, ct = ciphertext, d = digest, n = valueCount, now, vs = valuesSha256, draw }, t);

    public static byte[]? SubmissionCiphertext(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<byte[]?>($"SELECT ciphertext FROM submissions {AttemptWhere}", attempt.Args);

    public static byte[] StoredSubmissionCiphertext(DbConnection c, AttemptRef attempt) =>
        c.QuerySingle<byte[]>($"SELECT ciphertext FROM submissions {AttemptWhere}", attempt.Args);

    public static StoredSubmission? Submission(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<(byte[] ciphertext, long value_count, string? values_sha256)?>($"SELECT ciphertext, value_count, values_sha256 FROM submissions {AttemptWhere}", attempt.Args) is { } r
            ? new StoredSubmission(r.ciphertext, r.value_count, r.values_sha256)
            : null;

    public static IssuedShare? Share(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<(string aggregate_digest, byte[] share, string update_set_digest, string? decrypt_set_digest)?>(
            $"SELECT aggregate_digest, share, update_set_digest, decrypt_set_digest FROM decryption_shares {AttemptWhere}", attempt.Args) is { } r
            ? new IssuedShare(r.aggregate_digest, r.share, r.update_set_digest, r.decrypt_set_digest)
            : null;

    public static IssuedShare StoredShare(DbConnection c, AttemptRef attempt)
    {
        var r = c.QuerySingle<(string aggregate_digest, byte[] share, string update_set_digest, string? decrypt_set_digest)>(
            $"SELECT aggregate_digest, share, update_set_digest, decrypt_set_digest FROM decryption_shares {AttemptWhere}", attempt.Args);
        return new IssuedShare(r.aggregate_digest, r.share, r.update_set_digest, r.decrypt_set_digest);
    }

    /// <summary>
    /// Replaces the attempt's (dealer) secret with the node's sealed committee secret and its point, once: 0 when the secret was already
    /// replaced or deleted. The dealer secret is overwritten in place under secure_delete, as <see cref="RetireSecrets"/> does.
    /// </summary>
    public static int StoreCommitteeSecret(DbConnection c, DbTransaction t, AttemptRef attempt, byte[] sealedCommitteeSecret, int point)
    {
        c.Execute("PRAGMA secure_delete=ON", transaction: t);
        return c.Execute($"UPDATE attempt_keys SET sealed_secret = @secret, committee_point = @point {AttemptWhere} AND length(sealed_secret) > 0 AND committee_point IS NULL",
            new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, secret = sealedCommitteeSecret, point }, t);
    }

    /// <summary>The node's committee point for the attempt, when it holds (or held) a committee secret for it.</summary>
    public static long? CommitteePoint(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<long?>($"SELECT committee_point FROM attempt_keys {AttemptWhere}", attempt.Args);

    /// <summary>The attempts whose committee secret is still held, of one attempt or (<paramref name="belowAttempt"/>) of the attempts of its round below it, or of all.</summary>
    public static IReadOnlyList<AttemptRef> HeldCommitteeSecrets(DbConnection c, DbTransaction t, AttemptRef? attempt, bool belowAttempt = false)
    {
        var where = attempt is null ? string.Empty
            : belowAttempt ? "AND study_id=@s AND round=@r AND attempt<@a"
            : "AND study_id=@s AND round=@r AND attempt=@a";
        return c.Query<(string study_id, long round, long attempt)>(
                $"SELECT study_id, round, attempt FROM attempt_keys WHERE length(sealed_secret) > 0 AND committee_point IS NOT NULL {where}",
                new { s = attempt?.Study, r = attempt?.Round, a = attempt?.Attempt }, t)
            .Select(r => new AttemptRef(r.study_id, (int)r.round, (int)r.attempt)).ToList();
    }

    /// <summary>How many decryption shares of the study were over these plaintext values (released: a re-send is no longer unreleased).</summary>
    public static long SharesOverValues(DbConnection c, string study, string valuesSha256) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM decryption_shares WHERE study_id=@s AND values_sha256=@v", new { s = study, v = valuesSha256 });

    /// <summary>Every release this node made, in the order it made them.</summary>
    public static IReadOnlyList<ReleaseRow> Releases(DbConnection c, DbTransaction? t) => c.Query<(string study_id, long round, long attempt, string? submitters_sha256, string? submitters_json, string? values_sha256, string? hospitals_json, string? statistics_json, long? exact)>(
            "SELECT study_id, round, attempt, submitters_sha256, submitters_json, values_sha256, hospitals_json, statistics_json, exact FROM decryption_shares ORDER BY issued_at, study_id, round, attempt",
            transaction: t)
        .Select(r => new ReleaseRow(r.study_id, r.round, r.attempt, r.submitters_sha256, r.submitters_json, r.values_sha256, r.hospitals_json, r.statistics_json, r.exact)).ToList();

    /// <summary>Records a decryption share in the release ledger; 0 when the attempt's share was already recorded.</summary>
    public static int InsertShare(DbConnection c, DbTransaction t, ReleaseRecord release)
    {
        ArgumentNullException.ThrowIfNull(release);
        return c.Execute(InsertShareSql, new
        {
            s = release.Attempt.Study, r = release.Attempt.Round, a = release.Attempt.Attempt, d = release.AggregateDigest, share = release.Share, now = release.IssuedAt,
            members = release.SubmittersJson, membersSha = release.SubmittersSha256, vs = release.ValuesSha256, set = release.UpdateSetDigest,
            hospitals = release.HospitalsJson, statistics = release.StatisticsJson, exact = release.Exact ? 1 : 0, decryptSet = release.DecryptSetDigest,
        }, t);
    }

    /// <summary>Records the attempt as the highest seen for its round, unless a higher one was.</summary>
    public static int RaiseWatermark(DbConnection c, DbTransaction t, AttemptRef attempt) => c.Execute(RaiseWatermarkSql, attempt.Args, t);

    public static long? HighestAttempt(DbConnection c, AttemptRef attempt) =>
        c.QuerySingleOrDefault<long?>("SELECT highest_attempt FROM attempt_watermarks WHERE study_id=@s AND round=@r", attempt.Args);

    /// <summary>The digest of the commitment set of this kind this node accepted for the attempt, in the caller's transaction.</summary>
    public static string? CommitmentSetDigest(DbConnection c, DbTransaction t, AttemptRef attempt, string kind) =>
        c.QuerySingleOrDefault<string?>($"SELECT digest FROM commitment_sets {AttemptWhere} AND kind=@k",
            new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, k = kind }, t);

    public static int InsertCommitmentSet(DbConnection c, DbTransaction t, AttemptRef attempt, string kind, string digest, string keysJson, string now) =>
        c.Execute("INSERT INTO commitment_sets(study_id, round, attempt, kind, digest, keys_json, seen_at) VALUES (@s, @r, @a, @k, @d, @keys, @now)",
            new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, k = kind, d = digest, keys = keysJson, now }, t);

    public static StoredCommitmentSet? CommitmentSet(DbConnection c, AttemptRef attempt, string kind) =>
        c.QuerySingleOrDefault<(string digest, string keys_json)?>($"SELECT digest, keys_json FROM commitment_sets {AttemptWhere} AND kind=@k",
            new { s = attempt.Study, r = attempt.Round, a = attempt.Attempt, k = kind }) is { } r
            ? new StoredCommitmentSet(r.digest, r.keys_json)
            : null;
}
