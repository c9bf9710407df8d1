using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>Where a signed-in user lands when their role does not allow a page or an action: a 403 that says which role it needs.</summary>
public sealed class DeniedModel : DashboardPageModel
{
    public override string Section => "denied";

    public void OnGet() => Response.StatusCode = StatusCodes.Status403Forbidden;
}
