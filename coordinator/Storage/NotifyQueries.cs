using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>
/// PostgreSQL's LISTEN/NOTIFY between replicas (https://www.postgresql.org/docs/current/sql-notify.html): one channel, a payload of
/// what changed and which replica says so. Notifications are delivered only to sessions listening at the time, and only after the
/// sending transaction commits: a lost one costs a tick of latency, never correctness (the state is in the store).
/// </summary>
internal static class NotifyQueries
{
    public const string Channel = "ftwin_coordinator";

    public static void Listen(IDbConnection c) => c.Execute($"LISTEN {Channel}");

    public static void Notify(IDbConnection c, string payload) => c.Execute("SELECT pg_notify(@channel, @payload)", new { channel = Channel, payload });
}
