using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>The one page an anonymous visitor sees: local account sign-in, and the identity provider's button when configured.</summary>
public sealed class SignInModel(DashboardUsers users, IOptions<DashboardOptions> options, TimeProvider? clock = null) : DashboardPageModel
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public override string Section => "signin";

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    [BindProperty]
    public string? Name { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    /// <summary>The name is locked (the error says until when).</summary>
    public bool Locked { get; private set; }

    public string? OidcName => options.Value.Oidc.Enabled ? options.Value.Oidc.DisplayName : null;

    public IActionResult OnGet() => User.Identity?.IsAuthenticated == true ? LocalRedirect(SafeReturnUrl) : Page();

    public async Task<IActionResult> OnPostAsync()
    {
        var outcome = string.IsNullOrEmpty(Name) || string.IsNullOrEmpty(Password) ? new SignInOutcome(null, null) : users.Verify(Name, Password, _clock.GetUtcNow());
        if (outcome.LockedUntil is { } until)
        {
            ModelState.AddModelError(string.Empty, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Too many wrong passwords for '{Name}': this user name is locked until {until:HH:mm} UTC. Try again after that; until then even the right password is refused."));
            Locked = true;
            return Page();
        }

        if (outcome.User is not { } user)
        {
            ModelState.AddModelError(string.Empty, "The user name or password is not right.");
            return Page();
        }

        await DashboardSetup.SignIn(HttpContext, user);
        return LocalRedirect(SafeReturnUrl);
    }

    public IActionResult OnPostOidc() => OidcName is null
        ? NotFound()
        : Challenge(new AuthenticationProperties { RedirectUri = SafeReturnUrl }, DashboardSetup.OidcScheme);

    private string SafeReturnUrl => !string.IsNullOrEmpty(ReturnUrl) && Url.IsLocalUrl(ReturnUrl) ? ReturnUrl : "/federation";
}
