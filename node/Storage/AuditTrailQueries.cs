using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>
/// Lookups of the node's own audit trail by action (the audit_log_by_action index): the policy in force, the enrollment's state,
/// the last exclusion counts. The trail itself is written and verified by protocol/Audit/AuditLog.cs.
/// </summary>
public static class AuditTrailQueries
{
    /// <summary>The latest entry of any of <paramref name="actions"/>: its action and detail (JSON).</summary>
    public static (string Action, string Detail)? Latest(DbConnection c, DbTransaction? t, IReadOnlyList<string> actions) =>
        c.QuerySingleOrDefault<(string action, string detail)?>(
            "SELECT action, detail FROM audit_log WHERE action IN @actions ORDER BY seq DESC LIMIT 1", new { actions }, t) is { } r
            ? (r.action, r.detail)
            : null;

    /// <summary>The latest entry of any of <paramref name="actions"/> with its time (the action is null when there is none).</summary>
    public static (string? Action, string At, string Detail) LatestWithTime(DbConnection c, DbTransaction? t, IReadOnlyList<string> actions) =>
        c.QuerySingleOrDefault<(string? action, string at, string detail)>(
            "SELECT action, at, detail FROM audit_log WHERE action IN @actions ORDER BY seq DESC LIMIT 1", new { actions }, t);

    /// <summary>The detail (JSON) of the latest entry of <paramref name="action"/>, or null.</summary>
    public static string? LatestDetail(DbConnection c, string action, DbTransaction? t = null) =>
        c.QuerySingleOrDefault<string?>("SELECT detail FROM audit_log WHERE action=@a ORDER BY seq DESC LIMIT 1", new { a = action }, t);
}
