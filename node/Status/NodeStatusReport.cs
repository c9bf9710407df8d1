using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Node.Status;

/// <summary>
/// What hospital IT and the compliance officer check first, read from node.db: health, enrollment and the pinned
/// coordinator, the last ingest, exclusions, study decisions, privacy budget (the year's per purpose, and the lifetime one, in
/// the policy's privacy unit) and the audit chain.
/// </summary>
internal sealed record NodeStatusReport(
    DateTimeOffset At,
    bool PolicyValid,
    string? PolicyError,
    DateTimeOffset? LastContact,
    string? LastError,
    string? NodeId,
    string? CoordinatorUrl,
    string? PinnedCoordinatorKey,
    string PublicKey,
    NodeStatusReport.IngestRun? LastIngest,
    long QuarantinedLines,
    JsonObject? SensitiveExcluded,
    JsonObject? ConsentDenied,
    IReadOnlyList<NodeStatusReport.Decision> Decisions,
    IReadOnlyList<PrivacySpend> Privacy,
    AuditVerification Audit,
    PinnedRoster? Roster = null,
    EnrollmentState? Enrollment = null,
    LifetimeSpend? Lifetime = null)
{
    public sealed record IngestRun(long RunId, string StartedAt, string? FinishedAt, long LinesRead, long Accepted, long Quarantined, long Unchanged);

    public sealed record Decision(string StudyId, bool Accept, string Rule, string Reason, string Purpose, string Algorithm, string DecidedAt);

    public static NodeStatusReport Read(NodeDirectory node, NodeStatus status, DateTimeOffset now)
    {
        var enrollment = node.Store.GetEnrollment();
        SitePolicy? policy = null;
        string? policyError = null;
        try
        {
            policy = node.LoadPolicy();
        }
        catch (SitePolicyException e)
        {
            policyError = e.Message;
        }

        var (ingest, quarantined, exclusions, decisions, audit) = node.Store.Read(c =>
        {
            var run = c.QuerySingleOrDefault<(long run_id, string started_at, string? finished_at, long lines_read, long accepted, long quarantined, long unchanged)>(
                "SELECT run_id, started_at, finished_at, lines_read, accepted, quarantined, unchanged FROM ingest_runs ORDER BY run_id DESC LIMIT 1");
            var quarantine = c.ExecuteScalar<long>("SELECT COUNT(*) FROM quarantine");
            var detail = c.QuerySingleOrDefault<string?>("SELECT detail FROM audit_log WHERE action=@a ORDER BY seq DESC LIMIT 1", new { a = AuditActions.ExclusionsCounted });
            var list = c.Query<(string study_id, long accept, string rule, string reason, string purpose_of_use, string algorithm, string decided_at)>(
                "SELECT study_id, accept, rule, reason, purpose_of_use, algorithm, decided_at FROM decisions ORDER BY decided_at DESC LIMIT 100")
                .Select(d => new Decision(d.study_id, d.accept != 0, d.rule, d.reason, d.purpose_of_use, d.algorithm, d.decided_at)).ToList();
            var (entries, checkpoints) = AuditLog.ReadAll(c);
            return (run.started_at is null ? null : new IngestRun(run.run_id, run.started_at, run.finished_at, run.lines_read, run.accepted, run.quarantined, run.unchanged),
                quarantine, detail is null ? null : JsonNode.Parse(detail) as JsonObject, list, AuditVerifier.Verify(entries, checkpoints, node.Keys.Current(c, null).PublicKey));
        });
        var state = EnrollmentState.Read(node, status);

        return new NodeStatusReport(
            now,
            policy is not null,
            policyError,
            status.LastContact,
            status.LastError,
            enrollment?.NodeId,
            enrollment?.CoordinatorUrl,
            enrollment?.CoordinatorPublicKey,
            node.Identity.PublicKey,
            ingest,
            quarantined,
            exclusions?["sensitive_records_excluded"] as JsonObject,
            exclusions?["consent_denied_patient_years"] as JsonObject,
            decisions,
            policy is null ? [] : PrivacyLedgerReport.Read(node.Store, policy, now.Year),
            audit,
            PinnedRoster.Load(node.Store),
            state,
            policy is null ? null : PrivacyLedgerReport.Lifetime(node.Store, policy));
    }
}
