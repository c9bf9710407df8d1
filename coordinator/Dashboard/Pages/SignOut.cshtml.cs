using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Mvc;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>Ends the session (POST only, with the antiforgery token, so a link elsewhere cannot sign anyone out).</summary>
public sealed class SignOutModel : DashboardPageModel
{
    public override string Section => "signout";

    public IActionResult OnGet() => Redirect("/federation");

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return Redirect("/signin");
    }
}
