using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.ApplicationParts;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>
/// The analysts' dashboard: Razor Pages rendered on the coordinator (docs/architecture.md says why), cookie sign-in
/// with local accounts or OpenID Connect, a role policy on every page and handler, antiforgery on every form.
/// </summary>
public static class DashboardSetup
{
    public const string OidcScheme = OpenIdConnectDefaults.AuthenticationScheme;

    /// <summary>The rate-limiting policy on sign-in posts (per client address).</summary>
    public const string SignInRateLimit = "signin";

    public static void AddDashboard(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(DashboardOptions.Section);
        builder.Services.AddOptions<DashboardOptions>().Bind(section).ValidateDataAnnotations().ValidateOnStart();
        var options = section.Get<DashboardOptions>() ?? new DashboardOptions();
        builder.Services.AddSingleton<SignInLockout>();
        builder.Services.AddSingleton<DashboardUsers>();
        builder.Services.AddSingleton<ScenarioRuns>();

        var authentication = builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme).AddCookie(o =>
        {
            o.Cookie.Name = "ftwin.dashboard";
            o.Cookie.HttpOnly = true;
            // Strict unless an identity provider redirects back to us: then Lax, or the first page after its redirect has no session.
            o.Cookie.SameSite = options.Oidc.Enabled ? SameSiteMode.Lax : SameSiteMode.Strict;
            o.Cookie.SecurePolicy = options.SecureCookies ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;
            o.LoginPath = "/signin";
            o.LogoutPath = "/signout";
            o.AccessDeniedPath = "/denied";
            o.ExpireTimeSpan = TimeSpan.FromMinutes(options.SessionMinutes);
            o.SlidingExpiration = true;
        });
        if (options.Oidc.Enabled)
        {
            authentication.AddOpenIdConnect(OidcScheme, o =>
            {
                o.SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
                o.Authority = options.Oidc.Authority;
                o.ClientId = options.Oidc.ClientId;
                o.ClientSecret = string.IsNullOrEmpty(options.Oidc.ClientSecret) ? null : options.Oidc.ClientSecret;
                o.ResponseType = "code";
                o.UsePkce = true;
                o.MapInboundClaims = false;
                o.GetClaimsFromUserInfoEndpoint = true;
                o.CallbackPath = "/signin-oidc";
                o.SignedOutCallbackPath = "/signout-callback-oidc";
                o.TokenValidationParameters.NameClaimType = "preferred_username";
                o.TokenValidationParameters.RoleClaimType = options.Oidc.RoleClaim;
                o.Events.OnTokenValidated = context =>
                {
                    // Only the three dashboard roles count; a user of the identity provider without one gets no session.
                    var roles = context.Principal?.FindAll(options.Oidc.RoleClaim).Select(c => c.Value).Where(DashboardRoles.IsRole).ToList() ?? [];
                    if (roles.Count == 0)
                    {
                        context.Fail($"The identity provider gave no dashboard role (claim '{options.Oidc.RoleClaim}': {string.Join(", ", DashboardRoles.All)}).");
                    }

                    return Task.CompletedTask;
                };
            });
        }

        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(DashboardPolicies.Read, p => p.RequireRole(DashboardRoles.Analyst, DashboardRoles.Admin, DashboardRoles.Auditor))
            .AddPolicy(DashboardPolicies.Analyze, p => p.RequireRole(DashboardRoles.Analyst, DashboardRoles.Admin))
            .AddPolicy(DashboardPolicies.Administer, p => p.RequireRole(DashboardRoles.Admin));
        // Password guessing: at most SignInAttemptsPerMinute sign-in posts per client address (429 Too Many Requests,
        // RFC 6585 section 4, with Retry-After, RFC 9110 section 10.2.3), on top of the per-name lockout (SignInLockout).
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(SignInRateLimit, http => HttpMethods.IsPost(http.Request.Method)
                ? RateLimitPartition.GetFixedWindowLimiter(http.Connection.RemoteIpAddress?.ToString() ?? "unknown", _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = options.SignInAttemptsPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                })
                : RateLimitPartition.GetNoLimiter("read"));
            o.OnRejected = async (context, cancellationToken) =>
            {
                var retry = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after) ? (int)Math.Ceiling(after.TotalSeconds) : 60;
                context.HttpContext.Response.Headers.RetryAfter = retry.ToString(System.Globalization.CultureInfo.InvariantCulture);
                context.HttpContext.Response.ContentType = "text/html; charset=utf-8";
                await context.HttpContext.Response.WriteAsync(
                    $"<!doctype html><html lang=\"en\"><head><title>Too many sign-in attempts</title></head><body><main><h1>Too many sign-in attempts</h1><p id=\"rate-limited\">Too many sign-in attempts from this address: wait {retry} seconds, then <a href=\"/signin\">try again</a>.</p></main></body></html>",
                    cancellationToken);
            };
        });
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "ftwin.antiforgery";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = options.SecureCookies ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;
        });
        builder.Services.AddRazorPages(o =>
        {
            o.RootDirectory = "/Dashboard/Pages";
            // Deny by default: every page needs a dashboard role; the few below loosen or tighten that.
            o.Conventions.AuthorizeFolder("/", DashboardPolicies.Read);
            o.Conventions.AllowAnonymousToPage("/SignIn");
            o.Conventions.AddPageApplicationModelConvention("/SignIn", page => page.EndpointMetadata.Add(new EnableRateLimitingAttribute(SignInRateLimit)));
            o.Conventions.AllowAnonymousToPage("/Denied");
            o.Conventions.AuthorizePage("/Studies/New", DashboardPolicies.Analyze);
        }).ConfigureApplicationPartManager(parts =>
        {
            // ftwin (the host) is not a web project, so the pages compiled into this assembly are added by hand.
            var assembly = typeof(DashboardSetup).Assembly;
            if (!parts.ApplicationParts.OfType<AssemblyPart>().Any(p => p.Assembly == assembly))
            {
                foreach (var part in ApplicationPartFactory.GetApplicationPartFactory(assembly).GetApplicationParts(assembly))
                {
                    parts.ApplicationParts.Add(part);
                }
            }
        });
    }

    public static void MapDashboard(this WebApplication app)
    {
        var oidcAuthority = app.Configuration.GetSection(DashboardOptions.Section).Get<DashboardOptions>()?.Oidc is { Enabled: true } oidc
            ? new Uri(oidc.Authority).GetLeftPart(UriPartial.Authority)
            : null;
        app.Use(async (context, next) =>
        {
            // Everything the pages load comes from the coordinator itself: no CDN, no inline script.
            if (!context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal))
            {
                context.Response.Headers.ContentSecurityPolicy =
                    $"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'{(oidcAuthority is null ? string.Empty : " " + oidcAuthority)}";
                context.Response.Headers.XContentTypeOptions = "nosniff";
                context.Response.Headers["Referrer-Policy"] = "same-origin";
            }

            await next(context);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.MapGet("/dashboard/assets/{name}", (string name) => DashboardAssets.Get(name) is { } asset
            ? Results.Bytes(asset.Content, asset.ContentType)
            : Results.NotFound()).AllowAnonymous();
        app.MapRazorPages();
    }

    /// <summary>The principal of a local account: its name and its one role.</summary>
    public static ClaimsPrincipal Principal(DashboardUser user, string method) => new(new ClaimsIdentity(
        [new Claim(ClaimTypes.Name, user.Name), new Claim(ClaimTypes.Role, user.Role), new Claim(ClaimTypes.AuthenticationMethod, method)],
        CookieAuthenticationDefaults.AuthenticationScheme));

    public static Task SignIn(HttpContext context, DashboardUser user) =>
        context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, Principal(user, "password"));
}

/// <summary>The dashboard's stylesheet and its one small script, embedded in this assembly and served by the coordinator.</summary>
internal static class DashboardAssets
{
    private static readonly Dictionary<string, (string ContentType, string Resource)> Known = new(StringComparer.Ordinal)
    {
        ["dashboard.css"] = ("text/css; charset=utf-8", "FederatedTwin.Coordinator.Dashboard.Assets.dashboard.css"),
        ["live.js"] = ("text/javascript; charset=utf-8", "FederatedTwin.Coordinator.Dashboard.Assets.live.js"),
        ["example-scenario.yaml"] = ("text/yaml; charset=utf-8", "FederatedTwin.Coordinator.Dashboard.Assets.example-scenario.yaml"),
    };

    public static (byte[] Content, string ContentType)? Get(string name)
    {
        if (!Known.TryGetValue(name, out var known))
        {
            return null;
        }

        using var stream = typeof(DashboardAssets).Assembly.GetManifestResourceStream(known.Resource)
            ?? throw new InvalidOperationException($"The dashboard asset {known.Resource} is not embedded.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return (copy.ToArray(), known.ContentType);
    }
}
