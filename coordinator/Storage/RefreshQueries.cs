using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A study template with a refresh rule, as stored.</summary>
internal sealed record TemplateRow(string template_id, string spec_json, string refresh, long? every_seconds, long? min_nodes_with_new_data,
    double? min_new_data_fraction, string created_at, string? stopped_at);

/// <summary>One run of a template: its sequence number, study, state and when it was created.</summary>
internal sealed record TemplateRunRow(string template_id, long seq, string study_id, string created_at, string trigger, string state);

/// <summary>A participant of a run: the data version it had when it decided, and the one it reports now (null: unknown).</summary>
internal sealed record RunParticipantRow(string node_id, long? used, long? now, long revoked);

/// <summary>The study templates and their runs (docs/models.md, "Refresh"), in standard SQL.</summary>
internal static class RefreshQueries
{
    public static bool TemplateExists(IDbConnection c, IDbTransaction? t, string id) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM study_templates WHERE template_id=@id", new { id }, t) > 0;

    public static void InsertTemplate(IDbConnection c, IDbTransaction t, string id, string specJson, string refresh, long? everySeconds, long? minNodes, double? minFraction, DateTimeOffset now) =>
        c.Execute("""
            INSERT INTO study_templates(template_id, spec_json, refresh, every_seconds, min_nodes_with_new_data, min_new_data_fraction, created_at)
            VALUES (@id, @specJson, @refresh, @everySeconds, @minNodes, @minFraction, @now)
            """, new { id, specJson, refresh, everySeconds, minNodes, minFraction, now = StoredTime.Format(now) }, t);

    /// <summary>Templates whose refresh has not been stopped, oldest first.</summary>
    public static List<TemplateRow> Active(IDbConnection c, IDbTransaction? t) =>
        [.. c.Query<TemplateRow>("SELECT * FROM study_templates WHERE stopped_at IS NULL ORDER BY created_at, template_id", transaction: t)];

    public static List<TemplateRow> All(IDbConnection c) =>
        [.. c.Query<TemplateRow>("SELECT * FROM study_templates ORDER BY created_at, template_id")];

    public static bool Stop(IDbConnection c, IDbTransaction t, string id, DateTimeOffset now) =>
        c.Execute("UPDATE study_templates SET stopped_at=@now WHERE template_id=@id AND stopped_at IS NULL", new { id, now = StoredTime.Format(now) }, t) > 0;

    public static void InsertRun(IDbConnection c, IDbTransaction t, string template, long seq, string study, DateTimeOffset now, string trigger) =>
        c.Execute("INSERT INTO template_runs(template_id, seq, study_id, created_at, trigger) VALUES (@template, @seq, @study, @now, @trigger)",
            new { template, seq, study, now = StoredTime.Format(now), trigger }, t);

    /// <summary>A template's runs with their studies' states, newest first.</summary>
    public static List<TemplateRunRow> Runs(IDbConnection c, IDbTransaction? t, string template) =>
        [.. c.Query<TemplateRunRow>("""
            SELECT r.template_id, r.seq, r.study_id, r.created_at, r.trigger, s.state FROM template_runs r JOIN studies s ON s.study_id=r.study_id
            WHERE r.template_id=@template ORDER BY r.seq DESC
            """, new { template }, t)];

    /// <summary>The template run a study is, or null for a one-off study.</summary>
    public static (string Template, long Seq)? RunOf(IDbConnection c, IDbTransaction? t, string study) =>
        c.QuerySingleOrDefault<(string, long)?>("SELECT template_id, seq FROM template_runs WHERE study_id=@study", new { study }, t);

    /// <summary>
    /// The nodes that took part in a study (accepted it) with the data version each had when it decided and the one it reports now,
    /// and whether it has been revoked since.
    /// </summary>
    public static List<RunParticipantRow> Participants(IDbConnection c, IDbTransaction? t, string study) =>
        [.. c.Query<RunParticipantRow>("""
            SELECT d.node_id, d.data_version AS used, n.data_version AS now, n.revoked FROM decisions d JOIN nodes n ON n.node_id=d.node_id
            WHERE d.study_id=@study AND d.accept=1 ORDER BY d.node_id
            """, new { study }, t)];

    /// <summary>When a study started running (its first attempt), or null.</summary>
    public static string? StartedAt(IDbConnection c, IDbTransaction? t, string study) =>
        c.ExecuteScalar<string?>("SELECT MIN(started_at) FROM attempts WHERE study_id=@study", new { study }, t);
}
