namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>
/// The dashboard's three roles. An analyst defines and cancels studies and reads models; an admin also manages
/// enrollment (tokens, revocation); an auditor reads everything and changes nothing.
/// </summary>
public static class DashboardRoles
{
    public const string Analyst = "analyst";
    public const string Admin = "admin";
    public const string Auditor = "auditor";

    public static IReadOnlyList<string> All { get; } = [Analyst, Admin, Auditor];

    public static bool IsRole(string? value) => value is not null && All.Contains(value, StringComparer.Ordinal);
}

/// <summary>The authorization policies every page and page handler names; each is a set of roles.</summary>
public static class DashboardPolicies
{
    /// <summary>Any signed-in dashboard role: see the federation, studies and models.</summary>
    public const string Read = "dashboard.read";

    /// <summary>Create and cancel studies, run scenarios: analysts and admins.</summary>
    public const string Analyze = "dashboard.analyze";

    /// <summary>Issue and revoke enrollment tokens, revoke nodes: admins only.</summary>
    public const string Administer = "dashboard.administer";
}
