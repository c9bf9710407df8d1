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
