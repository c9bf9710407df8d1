using System.Data;
using System.Text;
using System.Text.Json;
using Dapper;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>One attempt of a round (Dapper matches a record's constructor column by column, in this order).</summary>
internal sealed record AttemptRow(string study_id, long round, long attempt, string phase, string participants_json, byte[] crp_seed, string request_json,
    byte[]? collective_key, byte[]? aggregate, string? aggregate_digest, string phase_deadline, string started_at)
{
    public AttemptPhase Phase => AttemptPhases.Parse(phase);

    public List<string> Participants => JsonSerializer.Deserialize<List<string>>(participants_json) ?? [];

    public RoundRequest Request => WireJson.Deserialize<RoundRequest>(Encoding.UTF8.GetBytes(request_json));

    public DateTimeOffset Deadline => StoredTime.Parse(phase_deadline);
}

/// <summary>An attempt as the study's history shows it.</summary>
internal sealed record AttemptHistoryRow(long round, long attempt, string phase, string participants_json, string started_at, string? finished_at, string? outcome);

/// <summary>A round's decryption, timed from its attempt's start.</summary>
internal sealed record RoundTimingRow(long round, long attempt, string started_at, string finished_at);

/// <summary>A contribution with the key of the node that signed it.</summary>
internal sealed record ContributionRow(string node_id, byte[] payload, byte[] signature, string public_key);

/// <summary>
/// The attempts, contributions and round_results tables: the round state machine's storage. Standard SQL throughout
/// (LIMIT is read by SQLite and PostgreSQL alike); sums and participant lists are stored as JSON text, encoded here.
/// </summary>
internal static class RoundQueries
{
    // In AttemptRow's constructor order.
    private const string AttemptHead = "SELECT study_id, round, attempt, phase, participants_json, crp_seed, request_json, ";
    private const string AttemptTail = ", aggregate_digest, phase_deadline, started_at FROM attempts WHERE study_id=@id AND round=@round AND attempt=@attempt";
    private const string AttemptWithCiphertexts = AttemptHead + "collective_key, aggregate" + AttemptTail;
    // Typed nulls: PostgreSQL would type a bare NULL as text, which does not match the record's byte[] (SQLite reads BYTEA as a type name of NUMERIC affinity, and a CAST of NULL is NULL).
    private const string AttemptState = AttemptHead + "CAST(NULL AS BYTEA) AS collective_key, CAST(NULL AS BYTEA) AS aggregate" + AttemptTail;

    /// <summary>
    /// An attempt. Without <paramref name="ciphertexts"/> its two ciphertext columns are left out (collective_key and
    /// aggregate null): that is what the 200 ms tick and every node's 100 ms work poll read for each running study.
    /// Reading those blobs (about 0.25 and 0.37 MB) there, for nothing, grew with the number of studies running at once:
    /// with the demo's 17 it was most of the coordinator's CPU time, which the nodes' rounds then waited for.
    /// </summary>
    public static AttemptRow Attempt(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, bool ciphertexts = true) =>
        c.QuerySingle<AttemptRow>(ciphertexts ? AttemptWithCiphertexts : AttemptState, new { id, round, attempt }, t);

    /// <summary>An attempt with its ciphertexts, or null if there is none.</summary>
    public static AttemptRow? FindAttempt(IDbConnection c, IDbTransaction? t, string id, long round, long attempt) =>
        c.QuerySingleOrDefault<AttemptRow>(AttemptWithCiphertexts, new { id, round, attempt }, t);

    public static void InsertAttempt(IDbConnection c, IDbTransaction t, string id, int round, int attempt, AttemptPhase phase, IReadOnlyList<string> participants,
        byte[] crpSeed, string requestJson, DateTimeOffset deadline, DateTimeOffset now) =>
        c.Execute("""
            INSERT INTO attempts(study_id, round, attempt, phase, participants_json, crp_seed, request_json, phase_deadline, started_at)
            VALUES (@id, @round, @attempt, @phase, @participants, @seed, @request, @deadline, @now)
            """,
            new
            {
                id, round, attempt, phase = phase.ToWire(), participants = JsonSerializer.Serialize(participants), seed = crpSeed, request = requestJson,
                deadline = StoredTime.Format(deadline), now = StoredTime.Format(now),
            }, t);

    /// <summary>Moves an attempt to its next live phase, with the phase's deadline.</summary>
    public static void SetPhase(IDbConnection c, IDbTransaction t, string id, long round, long attempt, AttemptPhase phase, DateTimeOffset deadline) =>
        c.Execute("UPDATE attempts SET phase=@phase, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
            new { phase = phase.ToWire(), deadline = StoredTime.Format(deadline), id, round, attempt }, t);

    /// <summary>Stores the collective key and moves the attempt to <paramref name="phase"/>.</summary>
    public static void SetCollectiveKey(IDbConnection c, IDbTransaction t, string id, long round, long attempt, AttemptPhase phase, byte[] key, DateTimeOffset deadline) =>
        c.Execute("UPDATE attempts SET phase=@phase, collective_key=@key, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
            new { phase = phase.ToWire(), key, deadline = StoredTime.Format(deadline), id, round, attempt }, t);

    /// <summary>Stores the aggregate ciphertext and its digest and moves the attempt to <paramref name="phase"/>.</summary>
    public static void SetAggregate(IDbConnection c, IDbTransaction t, string id, long round, long attempt, AttemptPhase phase, byte[] aggregate, string digest, DateTimeOffset deadline) =>
        c.Execute("UPDATE attempts SET phase=@phase, aggregate=@aggregate, aggregate_digest=@digest, phase_deadline=@deadline WHERE study_id=@id AND round=@round AND attempt=@attempt",
            new { phase = phase.ToWire(), aggregate, digest, deadline = StoredTime.Format(deadline), id, round, attempt }, t);

    /// <summary>Ends one attempt (done or superseded) with its outcome.</summary>
    public static void Finish(IDbConnection c, IDbTransaction t, string id, long round, long attempt, AttemptPhase phase, string outcome, DateTimeOffset now) =>
        c.Execute("UPDATE attempts SET phase=@phase, outcome=@outcome, finished_at=@now WHERE study_id=@id AND round=@round AND attempt=@attempt",
            new { phase = phase.ToWire(), outcome, now = StoredTime.Format(now), id, round, attempt }, t);

    /// <summary>Supersedes every live attempt of the study (neither done nor superseded) with the outcome.</summary>
    public static void SupersedeLive(IDbConnection c, IDbTransaction t, string id, string outcome, DateTimeOffset now) =>
        c.Execute("UPDATE attempts SET phase=@superseded, outcome=@outcome, finished_at=@now WHERE study_id=@id AND phase NOT IN (@done, @superseded)",
            new { superseded = AttemptPhase.Superseded.ToWire(), done = AttemptPhase.Done.ToWire(), outcome, now = StoredTime.Format(now), id }, t);

    /// <summary>The study's attempts, in order.</summary>
    public static List<AttemptHistoryRow> History(IDbConnection c, string id) =>
        [.. c.Query<AttemptHistoryRow>("SELECT round, attempt, phase, participants_json, started_at, finished_at, outcome FROM attempts WHERE study_id=@id ORDER BY round, attempt", new { id })];

    /// <summary>The nodes that made a contribution of the kind to the attempt.</summary>
    public static HashSet<string> Contributors(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, string kind) =>
        c.Query<string>("SELECT node_id FROM contributions WHERE study_id=@id AND round=@round AND attempt=@attempt AND kind=@kind",
            new { id, round, attempt, kind }, t).ToHashSet(StringComparer.Ordinal);

    /// <summary>The attempt's contributions of a kind, with their signers' keys, by node id.</summary>
    public static List<ContributionRow> Contributions(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, string kind) =>
        [.. c.Query<ContributionRow>("""
            SELECT k.node_id, k.payload, k.signature, n.public_key FROM contributions k JOIN nodes n ON n.node_id = k.node_id
            WHERE k.study_id=@id AND k.round=@round AND k.attempt=@attempt AND k.kind=@kind ORDER BY k.node_id
            """, new { id, round, attempt, kind }, t)];

    /// <summary>The nodes that made a contribution of the kind to the attempt, first received first (ties by node id): a t-of-n study's decrypting set is the first t decrypt-ready nodes.</summary>
    public static List<string> ContributorsInOrder(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, string kind) =>
        [.. c.Query<string>("SELECT node_id FROM contributions WHERE study_id=@id AND round=@round AND attempt=@attempt AND kind=@kind ORDER BY received_at, node_id",
            new { id, round, attempt, kind }, t)];

    /// <summary>The digest of a node's contribution of a kind to the attempt, or null if it made none.</summary>
    public static string? ContributionDigest(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, string kind, string node) =>
        c.QuerySingleOrDefault<string?>("SELECT digest FROM contributions WHERE study_id=@id AND round=@round AND attempt=@attempt AND kind=@kind AND node_id=@node",
            new { id, round, attempt, kind, node }, t);

    public static bool HasContributed(IDbConnection c, IDbTransaction? t, string id, long round, long attempt, string kind, string node) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND round=@round AND attempt=@attempt AND kind=@kind AND node_id=@node",
            new { id, round, attempt, kind, node }, t) > 0;

    /// <summary>How many contributions of the kind the round took, over all its attempts.</summary>
    public static long ContributionsInRound(IDbConnection c, IDbTransaction? t, string id, long round, string kind) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM contributions WHERE study_id=@id AND round=@round AND kind=@kind", new { id, round, kind }, t);

    public static void InsertContribution(IDbConnection c, IDbTransaction t, string id, long round, long attempt, string kind, string node,
        byte[] payload, byte[] signature, string digest, DateTimeOffset now) =>
        c.Execute("INSERT INTO contributions(study_id, round, attempt, kind, node_id, payload, signature, digest, received_at) VALUES (@id, @round, @attempt, @kind, @node, @payload, @signature, @digest, @now)",
            new { id, round, attempt, kind, node, payload, signature, digest, now = StoredTime.Format(now) }, t);

    /// <summary>Records a round's decrypted sums (the participants as stored on its attempt).</summary>
    public static void InsertResult(IDbConnection c, IDbTransaction t, string id, long round, long attempt, long[] sums, string participantsJson, string startedAt, DateTimeOffset now) =>
        c.Execute("INSERT INTO round_results(study_id, round, attempt, values_json, participants_json, started_at, finished_at) VALUES (@id, @round, @attempt, @values, @participants, @started, @now)",
            new { id, round, attempt, values = JsonSerializer.Serialize(sums), participants = participantsJson, started = startedAt, now = StoredTime.Format(now) }, t);

    /// <summary>Every decrypted round's sums, in round order.</summary>
    public static List<long[]> Sums(IDbConnection c, IDbTransaction? t, string id) =>
        [.. c.Query<string>("SELECT values_json FROM round_results WHERE study_id=@id ORDER BY round", new { id }, t).Select(v => JsonSerializer.Deserialize<long[]>(v)!)];

    /// <summary>The participants of the study's first decrypted round, or null before one.</summary>
    public static List<string>? FirstRoundParticipants(IDbConnection c, IDbTransaction? t, string id) =>
        c.Query<string>("SELECT participants_json FROM round_results WHERE study_id=@id ORDER BY round LIMIT 1", new { id }, t).FirstOrDefault() is { } json
            ? JsonSerializer.Deserialize<List<string>>(json) ?? []
            : null;

    public static List<RoundTimingRow> Timings(IDbConnection c, string id) =>
        [.. c.Query<RoundTimingRow>("SELECT round, attempt, started_at, finished_at FROM round_results WHERE study_id=@id ORDER BY round", new { id })];
}
