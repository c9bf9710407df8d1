using System.ComponentModel.DataAnnotations;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>The dashboard's settings (section "Dashboard"), validated at start-up.</summary>
public sealed class DashboardOptions : IValidatableObject
{
    public const string Section = "Dashboard";

    /// <summary>Counts below this (and above zero) are shown as "&lt; N", never as the number (CMS cell-size suppression policy).</summary>
    [Range(1, 1000)]
    public int MinimumCellSize { get; set; } = 11;

    /// <summary>How long a sign-in lasts without activity.</summary>
    [Range(5, 24 * 60)]
    public int SessionMinutes { get; set; } = 60;

    /// <summary>Consecutive wrong passwords after which a user name is locked (SignInLockout).</summary>
    [Range(3, 100)]
    public int SignInMaxFailures { get; set; } = 5;

    /// <summary>How long a locked user name stays locked.</summary>
    [Range(1, 24 * 60)]
    public int SignInLockoutMinutes { get; set; } = 15;

    /// <summary>Sign-in attempts (POST /signin) one client address may make per minute; more get 429 Too Many Requests.</summary>
    [Range(1, 10_000)]
    public int SignInAttemptsPerMinute { get; set; } = 30;

    /// <summary>Require HTTPS for the session cookie. Off only for loopback (the demo, the tests); on behind TLS.</summary>
    public bool SecureCookies { get; set; }

    /// <summary>OpenID Connect, for an ACO with an identity provider; off while Authority is empty.</summary>
    public OidcOptions Oidc { get; set; } = new();

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Oidc.Enabled && string.IsNullOrWhiteSpace(Oidc.ClientId))
        {
            yield return new ValidationResult("Dashboard:Oidc:ClientId is required when Dashboard:Oidc:Authority is set.", [nameof(Oidc)]);
        }

        if (Oidc.Enabled && !Uri.TryCreate(Oidc.Authority, UriKind.Absolute, out _))
        {
            yield return new ValidationResult($"Dashboard:Oidc:Authority must be an absolute URL, got '{Oidc.Authority}'.", [nameof(Oidc)]);
        }
    }
}

/// <summary>An OpenID Connect identity provider whose users sign in to the dashboard (docs/operations.md).</summary>
public sealed class OidcOptions
{
    public string Authority { get; set; } = string.Empty;

    public string ClientId { get; set; } = string.Empty;

    public string ClientSecret { get; set; } = string.Empty;

    /// <summary>The claim that carries the dashboard role (analyst, admin or auditor); users without one are refused.</summary>
    public string RoleClaim { get; set; } = "roles";

    /// <summary>What the sign-in page's button says.</summary>
    public string DisplayName { get; set; } = "your organisation's sign-in";

    public bool Enabled => !string.IsNullOrWhiteSpace(Authority);
}
