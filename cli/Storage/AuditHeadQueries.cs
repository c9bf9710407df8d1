using Microsoft.Data.Sqlite;

namespace FederatedTwin.Cli.Storage;

/// <summary>An audit-chain head a node sent with a signed request, as the coordinator recorded it.</summary>
internal sealed record ReceivedAuditHead(string NodeId, long Seq, string Sha256, string ReceivedAt);

/// <summary>
/// `ftwin audit heads` reads the coordinator's store (node_audit_heads) read-only, from the CLI, without starting the coordinator:
/// the one query the CLI makes on coordinator.db itself.
/// </summary>
internal static class AuditHeadQueries
{
    /// <summary>Every head received, of one node (its id) or all, by node and sequence number.</summary>
    public static IReadOnlyList<ReceivedAuditHead> Heads(string coordinatorDb, string? nodeId)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = coordinatorDb, Mode = SqliteOpenMode.ReadOnly }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT node_id, seq, sha256, received_at FROM node_audit_heads WHERE @node IS NULL OR node_id = @node ORDER BY node_id, seq";
        command.Parameters.AddWithValue("@node", (object?)nodeId ?? DBNull.Value);
        using var reader = command.ExecuteReader();
        var heads = new List<ReceivedAuditHead>();
        while (reader.Read())
        {
            heads.Add(new ReceivedAuditHead(reader.GetString(0), reader.GetInt64(1), reader.GetString(2), reader.GetString(3)));
        }

        return heads;
    }
}
