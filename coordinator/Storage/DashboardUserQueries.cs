using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A dashboard account with its password hash.</summary>
internal sealed record DashboardUserRow(string user_name, string role, string password_hash);

/// <summary>
/// The dashboard_users table. Names compare without case: lower() on both sides here, and the schema keeps them unique without
/// case (SQLite: the column is COLLATE NOCASE; PostgreSQL: a unique index on lower(user_name), Migrations.cs).
/// </summary>
internal static class DashboardUserQueries
{
    public static bool Exists(IDbConnection c, IDbTransaction? t, string name) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM dashboard_users WHERE lower(user_name)=lower(@name)", new { name }, t) > 0;

    public static void Insert(IDbConnection c, IDbTransaction t, string name, string role, string passwordHash, DateTimeOffset now) =>
        c.Execute("INSERT INTO dashboard_users(user_name, role, password_hash, created_at) VALUES (@name, @role, @hash, @now)",
            new { name, role, hash = passwordHash, now = StoredTime.Format(now) }, t);

    public static DashboardUserRow? Find(IDbConnection c, string name) =>
        c.QuerySingleOrDefault<DashboardUserRow>("SELECT user_name, role, password_hash FROM dashboard_users WHERE lower(user_name)=lower(@name)", new { name });

    public static void SetPasswordHash(IDbConnection c, IDbTransaction t, string name, string passwordHash) =>
        c.Execute("UPDATE dashboard_users SET password_hash=@hash WHERE lower(user_name)=lower(@name)", new { hash = passwordHash, name }, t);

    public static void SetLastSignIn(IDbConnection c, IDbTransaction t, string name, DateTimeOffset now) =>
        c.Execute("UPDATE dashboard_users SET last_sign_in_at=@now WHERE lower(user_name)=lower(@name)", new { now = StoredTime.Format(now), name }, t);

    /// <summary>Every account's name and role, by name.</summary>
    public static List<(string Name, string Role)> All(IDbConnection c) =>
        [.. c.Query<(string user_name, string role)>("SELECT user_name, role FROM dashboard_users ORDER BY lower(user_name), user_name")];
}
