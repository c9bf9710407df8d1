using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>The dashboard's front door opens on the federation.</summary>
public sealed class IndexModel : DashboardPageModel
{
    public override string Section => "federation";

    public IActionResult OnGet() => Redirect("/federation");
}
