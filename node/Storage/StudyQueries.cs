using System.Data.Common;
using Dapper;

using DecisionTuple = (string study_id, long accept, string rule, string reason, string purpose_of_use, string algorithm, string decided_at);

namespace FederatedTwin.Node.Storage;

/// <summary>A study decision as stored (decisions), as the admin API lists it.</summary>
public sealed record StoredDecision(string StudyId, long Accept, string Rule, string Reason, string PurposeOfUse, string Algorithm, string DecidedAt);

/// <summary>A decision to record, with the study exactly as offered (wire JSON).</summary>
public sealed record DecisionRecord(string StudyId, bool Accept, string Rule, string Reason, string PurposeOfUse, string Algorithm, string DecidedAt, string SpecJson);

/// <summary>
/// The node's study decisions (decisions: one per study offered, with the study as offered) and its enrollment row: what the
/// decision, the round checks (<c>AcceptedStudy</c>), the admin API, the status page and the CLI's exports read.
/// </summary>
public static class StudyQueries
{
    private const string DecisionColumns = "study_id, accept, rule, reason, purpose_of_use, algorithm, decided_at";

    /// <summary>The recorded answer to a study, in the deciding transaction (an offer seen again gets the same answer).</summary>
    public static (bool Accept, string Rule, string Reason)? Decision(DbConnection c, DbTransaction t, string study) =>
        c.QuerySingleOrDefault<(long accept, string rule, string reason)?>("SELECT accept, rule, reason FROM decisions WHERE study_id=@s", new { s = study }, t) is { } r
            ? (r.accept == 1, r.rule, r.reason)
            : null;

    public static void InsertDecision(DbConnection c, DbTransaction t, DecisionRecord decision)
    {
        ArgumentNullException.ThrowIfNull(decision);
        c.Execute("""
            INSERT INTO decisions(study_id, accept, rule, reason, purpose_of_use, algorithm, decided_at, spec_json)
            VALUES (@s, @a, @rule, @reason, @p, @alg, @now, @spec)
            """, new { s = decision.StudyId, a = decision.Accept ? 1 : 0, rule = decision.Rule, reason = decision.Reason, p = decision.PurposeOfUse, alg = decision.Algorithm, now = decision.DecidedAt, spec = decision.SpecJson }, t);
    }

    /// <summary>The decision on a study with the study as offered (null before schema v4) and the ρ charged for it (null: none).</summary>
    public static (long Accept, string? SpecJson, double? Charged)? Accepted(DbConnection c, string study) =>
        c.QuerySingleOrDefault<(long accept, string? spec_json, double? charged)?>(
            "SELECT d.accept, d.spec_json, l.rho AS charged FROM decisions d LEFT JOIN privacy_ledger l ON l.study_id = d.study_id WHERE d.study_id=@s", new { s = study }) is { } r
            ? (r.accept, r.spec_json, r.charged)
            : null;

    /// <summary>
    /// Pins the data version an accepted study computes every round on, in the deciding transaction. The pin holds until the study's
    /// last planned round was decrypted here and <paramref name="graceSeconds"/> passed without a new attempt, or until the study has
    /// been idle here for <paramref name="idleSeconds"/> (<see cref="ReleaseEndedSnapshots"/>).
    /// </summary>
    public static void PinSnapshot(DbConnection c, DbTransaction t, string study, long dataVersion, int lastRound, long graceSeconds, string now) =>
        c.Execute("INSERT INTO study_snapshots(study_id, data_version, last_round, grace_seconds, pinned_at) VALUES (@study, @dataVersion, @lastRound, @graceSeconds, @now)",
            new { study, dataVersion, lastRound, graceSeconds, now }, t);

    /// <summary>The data version a study pinned and, once released, why (null: the study was accepted before studies were pinned).</summary>
    public static (long DataVersion, string? ReleaseReason)? Snapshot(DbConnection c, string study) =>
        c.QuerySingleOrDefault<(long data_version, string? released_at, string? release_reason)?>(
            "SELECT data_version, released_at, release_reason FROM study_snapshots WHERE study_id=@study", new { study }) is { } r
            ? (r.data_version, r.released_at is null ? null : r.release_reason ?? "released")
            : null;

    /// <summary>How long a pinned study may go without a new attempt at this node before its pin is released (the study is then over here).</summary>
    public const long IdleSeconds = 7 * 24 * 3600;

    /// <summary>
    /// Releases the pins of studies that ended at this node: its last planned round's decryption share was issued and no attempt began
    /// for grace_seconds since (a retried attempt of the last round still finds the snapshot), or no attempt began for
    /// <see cref="IdleSeconds"/> (a GLM that converged before its last planned round: the node is never told). Times are ISO 8601 UTC.
    /// </summary>
    public static int ReleaseEndedSnapshots(DbConnection c, DbTransaction t, string now) => c.Execute("""
        UPDATE study_snapshots AS s SET released_at = @now,
            release_reason = CASE WHEN EXISTS (SELECT 1 FROM decryption_shares d WHERE d.study_id = s.study_id AND d.round >= s.last_round) THEN 'last_round' ELSE 'idle' END
        WHERE s.released_at IS NULL AND (
            (EXISTS (SELECT 1 FROM decryption_shares d WHERE d.study_id = s.study_id AND d.round >= s.last_round)
                AND (julianday(@now) - julianday(COALESCE((SELECT MAX(k.created_at) FROM attempt_keys k WHERE k.study_id = s.study_id), s.pinned_at))) * 86400 > s.grace_seconds)
            OR (julianday(@now) - julianday(COALESCE((SELECT MAX(k.created_at) FROM attempt_keys k WHERE k.study_id = s.study_id), s.pinned_at))) * 86400 > @idle)
        """, new { now, idle = IdleSeconds }, t);

    /// <summary>The decision on a study and the study as offered, as `ftwin node study export` reads them.</summary>
    public static (long Accept, string? SpecJson)? Offer(DbConnection c, string studyId) =>
        c.QuerySingleOrDefault<(long accept, string? spec_json)?>("SELECT accept, spec_json FROM decisions WHERE study_id=@studyId", new { studyId }) is { } r
            ? (r.accept, r.spec_json)
            : null;

    /// <summary>Every decision, oldest first.</summary>
    public static IReadOnlyList<StoredDecision> Decisions(DbConnection c) => Map(c.Query<DecisionTuple>($"SELECT {DecisionColumns} FROM decisions ORDER BY decided_at"));

    /// <summary>The latest 100 decisions, newest first.</summary>
    public static IReadOnlyList<StoredDecision> RecentDecisions(DbConnection c) => Map(c.Query<DecisionTuple>($"SELECT {DecisionColumns} FROM decisions ORDER BY decided_at DESC LIMIT 100"));

    /// <summary>The decisions made in [from, to) (ISO 8601 UTC text, compared as text), oldest first.</summary>
    public static IReadOnlyList<StoredDecision> DecisionsBetween(DbConnection c, string fromText, string toText) =>
        Map(c.Query<DecisionTuple>($"SELECT {DecisionColumns} FROM decisions WHERE decided_at >= @fromText AND decided_at < @toText ORDER BY decided_at", new { fromText, toText }));

    /// <summary>How many studies were accepted and refused.</summary>
    public static (long Accepted, long Refused) DecisionCounts(DbConnection c) =>
        c.QuerySingle<(long accepted, long refused)>("SELECT COALESCE(SUM(accept),0), COALESCE(SUM(1-accept),0) FROM decisions");

    /// <summary>Records the enrollment (there is one: id 1).</summary>
    public static void InsertEnrollment(DbConnection c, DbTransaction t, string nodeId, string coordinatorUrl, string coordinatorPublicKey, string now) =>
        c.Execute("INSERT INTO enrollment(id, node_id, coordinator_url, coordinator_public_key, enrolled_at) VALUES (1, @id, @url, @key, @now)",
            new { id = nodeId, url = coordinatorUrl, key = coordinatorPublicKey, now }, t);

    /// <summary>The node id the coordinator assigned, or null before enrollment.</summary>
    public static string? NodeId(DbConnection c, DbTransaction? t) =>
        c.ExecuteScalar<string?>("SELECT node_id FROM enrollment WHERE id=1", transaction: t);

    private static List<StoredDecision> Map(IEnumerable<DecisionTuple> rows) =>
        rows.Select(d => new StoredDecision(d.Item1, d.Item2, d.Item3, d.Item4, d.Item5, d.Item6, d.Item7)).ToList();
}
