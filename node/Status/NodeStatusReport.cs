using System.Text.Json.Nodes;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Storage;
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
    IngestRunRow? LastIngest,
    long QuarantinedLines,
    JsonObject? SensitiveExcluded,
    JsonObject? ConsentDenied,
    IReadOnlyList<NodeStatusReport.Decision> Decisions,
    IReadOnlyList<PrivacySpend> Privacy,
    AuditVerification Audit,
    PinnedRoster? Roster = null,
    EnrollmentState? Enrollment = null,
    LifetimeSpend? Lifetime = null,
    IReadOnlyList<SourceStatusRow>? Sources = null,
    string? SourcesError = null)
{

    public sealed record Decision(string StudyId, bool Accept, string Rule, string Reason, string Purpose, string Algorithm, string DecidedAt);

    public static NodeStatusReport Read(NodeDirectory node, NodeStatus status, DateTimeOffset now, SourceScheduler? scheduler = null)
    {
        var (sources, sourcesError) = ReadSources(node, now, scheduler);
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
            var run = StatusQueries.LastIngest(c);
            var quarantine = StatusQueries.QuarantinedLines(c);
            var detail = AuditTrailQueries.LatestDetail(c, AuditActions.ExclusionsCounted);
            var list = StudyQueries.RecentDecisions(c)
                .Select(d => new Decision(d.StudyId, d.Accept != 0, d.Rule, d.Reason, d.PurposeOfUse, d.Algorithm, d.DecidedAt)).ToList();
            var (entries, checkpoints) = AuditLog.ReadAll(c);
            return (run,
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
            policy is null ? null : PrivacyLedgerReport.Lifetime(node.Store, policy),
            sources,
            sourcesError);
    }

    /// <summary>The configured data sources with their pull state (issue 22); the next run as the running scheduler has it.</summary>
    internal static (IReadOnlyList<SourceStatusRow> Rows, string? Error) ReadSources(NodeDirectory node, DateTimeOffset now, SourceScheduler? scheduler)
    {
        try
        {
            var configured = NodeConfiguration.Load(node.Path).Sources;
            var rows = SourceStatusRow.Read(node, configured, now, scheduler is null ? null : scheduler.Failures);
            if (scheduler is not null)
            {
                var states = node.Store.Read(SourceQueries.All).ToDictionary(s => s.SourceKey, StringComparer.Ordinal);
                rows = [.. rows.Zip(configured, (r, s) => r with { NextRun = scheduler.NextRun(s, states.GetValueOrDefault(s.WatermarkKey), now) })];
            }

            return (rows, null);
        }
        catch (NodeConfigurationException e)
        {
            return ([], e.Message);
        }
    }
}
