using System.Data;
using System.Text;
using Dapper;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A study as the state machine reads it (the one select of these columns: <see cref="StudyQueries"/>).</summary>
internal sealed record StudyRow(string study_id, string spec_json, string state, string offered_until, long current_round, long current_attempt)
{
    public StudySpec Spec => WireJson.Deserialize<StudySpec>(Encoding.UTF8.GetBytes(spec_json));

    public StudyState State => StudyStates.Parse(state);

    public DateTimeOffset OfferedUntil => StoredTime.Parse(offered_until);
}

/// <summary>A study as lists show it (admin API, dashboard).</summary>
internal sealed record StudySummaryRow(string study_id, string state, string spec_json, long current_round, long current_attempt, string created_at)
{
    public StudySpec Spec => WireJson.Deserialize<StudySpec>(Encoding.UTF8.GetBytes(spec_json));
}

/// <summary>Everything stored of one study itself (its decisions, attempts and rounds are read apart).</summary>
internal sealed record StudyDetailRow(string study_id, string spec_json, string state, long current_round, long current_attempt, string? failure_reason,
    string? result_json, string created_at, string updated_at);

/// <summary>A node's decision on a study, with the node's name.</summary>
internal sealed record DecisionRow(string node_id, string name, long accept, string rule, string reason);

/// <summary>
/// The studies and decisions tables, in SQL that SQLite and PostgreSQL both read (the decision's upsert: INSERT ... ON CONFLICT DO UPDATE).
/// </summary>
internal static class StudyQueries
{
    private const string StudyColumns = "study_id, spec_json, state, offered_until, current_round, current_attempt";

    public static bool Exists(IDbConnection c, IDbTransaction? t, string id) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM studies WHERE study_id=@id", new { id }, t) > 0;

    public static void Insert(IDbConnection c, IDbTransaction t, string id, string specJson, StudyState state, DateTimeOffset now, DateTimeOffset offeredUntil) =>
        c.Execute("INSERT INTO studies(study_id, spec_json, state, created_at, offered_until, updated_at) VALUES (@id, @spec, @state, @now, @until, @now)",
            new { id, spec = specJson, state = state.ToWire(), now = StoredTime.Format(now), until = StoredTime.Format(offeredUntil) }, t);

    public static StudyRow? Find(IDbConnection c, IDbTransaction? t, string id) =>
        c.QuerySingleOrDefault<StudyRow>($"SELECT {StudyColumns} FROM studies WHERE study_id=@id", new { id }, t);

    public static StudyRow Get(IDbConnection c, IDbTransaction? t, string id) =>
        c.QuerySingle<StudyRow>($"SELECT {StudyColumns} FROM studies WHERE study_id=@id", new { id }, t);

    /// <summary>The ids of the offered and running studies, oldest first.</summary>
    public static List<string> LiveIds(IDbConnection c) =>
        [.. c.Query<string>("SELECT study_id FROM studies WHERE state IN (@offered, @running) ORDER BY created_at",
            new { offered = StudyState.Offered.ToWire(), running = StudyState.Running.ToWire() })];

    public static List<StudyRow> InState(IDbConnection c, IDbTransaction? t, StudyState state) =>
        [.. c.Query<StudyRow>($"SELECT {StudyColumns} FROM studies WHERE state=@state", new { state = state.ToWire() }, t)];

    /// <summary>The offered studies a node has not decided on yet.</summary>
    public static List<StudyRow> OfferedUndecidedBy(IDbConnection c, IDbTransaction? t, string node) =>
        [.. c.Query<StudyRow>($"""
            SELECT {StudyColumns} FROM studies s
            WHERE s.state=@offered AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.study_id=s.study_id AND d.node_id=@node)
            """, new { offered = StudyState.Offered.ToWire(), node }, t)];

    public static void SetState(IDbConnection c, IDbTransaction t, string id, StudyState state, DateTimeOffset now) =>
        c.Execute("UPDATE studies SET state=@state, updated_at=@now WHERE study_id=@id", new { state = state.ToWire(), now = StoredTime.Format(now), id }, t);

    public static void SetFailed(IDbConnection c, IDbTransaction t, string id, string reason, DateTimeOffset now) =>
        c.Execute("UPDATE studies SET state=@state, failure_reason=@reason, updated_at=@now WHERE study_id=@id",
            new { state = StudyState.Failed.ToWire(), reason, now = StoredTime.Format(now), id }, t);

    public static void SetCompleted(IDbConnection c, IDbTransaction t, string id, string resultJson, DateTimeOffset now) =>
        c.Execute("UPDATE studies SET state=@state, result_json=@result, updated_at=@now WHERE study_id=@id",
            new { state = StudyState.Completed.ToWire(), result = resultJson, now = StoredTime.Format(now), id }, t);

    /// <summary>Cancels the study if it is offered or running; false if it is unknown or has ended.</summary>
    public static bool CancelIfLive(IDbConnection c, IDbTransaction t, string id, string reason, DateTimeOffset now) =>
        c.Execute("UPDATE studies SET state=@cancelled, failure_reason=@reason, updated_at=@now WHERE study_id=@id AND state IN (@offered, @running)",
            new { cancelled = StudyState.Cancelled.ToWire(), reason, now = StoredTime.Format(now), id, offered = StudyState.Offered.ToWire(), running = StudyState.Running.ToWire() }, t) > 0;

    public static void SetCurrentAttempt(IDbConnection c, IDbTransaction t, string id, int round, int attempt, DateTimeOffset now) =>
        c.Execute("UPDATE studies SET current_round=@round, current_attempt=@attempt, updated_at=@now WHERE study_id=@id",
            new { round, attempt, now = StoredTime.Format(now), id }, t);

    public static List<StudySummaryRow> Summaries(IDbConnection c, bool newestFirst) =>
        [.. c.Query<StudySummaryRow>("SELECT study_id, state, spec_json, current_round, current_attempt, created_at FROM studies ORDER BY created_at" + (newestFirst ? " DESC" : string.Empty))];

    public static StudyDetailRow? Detail(IDbConnection c, string id) =>
        c.QuerySingleOrDefault<StudyDetailRow>(
            "SELECT study_id, spec_json, state, current_round, current_attempt, failure_reason, result_json, created_at, updated_at FROM studies WHERE study_id=@id", new { id });

    /// <summary>Records a node's decision, replacing one it made before.</summary>
    public static void RecordDecision(IDbConnection c, IDbTransaction t, string study, string node, bool accept, string rule, string reason, DateTimeOffset now) =>
        c.Execute(UpsertDecision, new { study, node, accept = accept ? 1 : 0, rule, reason, now = StoredTime.Format(now) }, t);

    /// <summary>The nodes that accepted the study, in the order they decided.</summary>
    public static List<string> AcceptedNodes(IDbConnection c, IDbTransaction? t, string study) =>
        [.. c.Query<string>("SELECT node_id FROM decisions WHERE study_id=@study AND accept=1 ORDER BY decided_at, node_id", new { study }, t)];

    public static long DecisionCount(IDbConnection c, IDbTransaction? t, string study) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM decisions WHERE study_id=@study", new { study }, t);

    /// <summary>Every decision on the study, by node name.</summary>
    public static List<DecisionRow> Decisions(IDbConnection c, string study) =>
        [.. c.Query<DecisionRow>("SELECT d.node_id, n.name, d.accept, d.rule, d.reason FROM decisions d JOIN nodes n ON n.node_id=d.node_id WHERE d.study_id=@study ORDER BY n.name", new { study })];

    /// <summary>The names of the nodes that accepted the study, alphabetically.</summary>
    public static List<string> AcceptedNodeNames(IDbConnection c, string study) =>
        [.. c.Query<string>("SELECT n.name FROM decisions d JOIN nodes n ON n.node_id=d.node_id WHERE d.study_id=@study AND d.accept=1 ORDER BY n.name", new { study })];

    // The node's data version as its last work poll carried it is kept with the decision: the version the study's refresh rule compares
    // against (docs/models.md, "Refresh"); null for a node that sends none. Every column is replaced, as INSERT OR REPLACE did.
    private const string UpsertDecision = """
        INSERT INTO decisions(study_id, node_id, accept, rule, reason, decided_at, data_version)
        VALUES (@study, @node, @accept, @rule, @reason, @now, (SELECT data_version FROM nodes WHERE node_id=@node))
        ON CONFLICT (study_id, node_id) DO UPDATE SET accept=excluded.accept, rule=excluded.rule, reason=excluded.reason,
            decided_at=excluded.decided_at, data_version=excluded.data_version
        """;
}
