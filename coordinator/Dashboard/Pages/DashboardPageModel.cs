using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>What every dashboard page shares: the role checks its handlers make and the minimum cell size its counts respect.</summary>
public abstract class DashboardPageModel : PageModel
{
    /// <summary>Which item of the navigation this page is.</summary>
    public abstract string Section { get; }

    public int MinimumCellSize => HttpContext.RequestServices.GetRequiredService<IOptions<DashboardOptions>>().Value.MinimumCellSize;

    public CellCount Count(long value) => new(value, MinimumCellSize);

    /// <summary>Whether the signed-in user's role satisfies a policy; handlers that change something check it before acting.</summary>
    public async Task<bool> Allowed(string policy) =>
        (await HttpContext.RequestServices.GetRequiredService<IAuthorizationService>().AuthorizeAsync(User, policy)).Succeeded;

    public bool Can(string policy) => Allowed(policy).GetAwaiter().GetResult();

    public string Role => User.FindFirst(System.Security.Claims.ClaimTypes.Role)?.Value ?? string.Empty;
}
