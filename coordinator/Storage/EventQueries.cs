using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>The events table: the operational log the dashboard and operators read (the audit trail is kept apart, protocol/Audit).</summary>
internal static class EventQueries
{
    public static void Append(IDbConnection c, IDbTransaction t, DateTimeOffset at, string kind, string? study, string? node, string detail) =>
        c.Execute("INSERT INTO events(at, kind, study_id, node_id, detail) VALUES (@at, @kind, @study, @node, @detail)",
            new { at = StoredTime.Format(at), kind, study, node, detail }, t);
}
