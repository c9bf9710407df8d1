using FederatedTwin.Hosting.Security;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// The admin API on a listener of its own (<see cref="CoordinatorOptions.AdminUrl"/>, loopback by default), apart from the
/// listener the nodes reach (--urls): a request for /v1/admin that arrives on the node listener is answered 404, and the admin
/// listener serves only /v1/admin and the health endpoints. So the ACO can publish the node API on the internet while the admin
/// API, and its bearer token, stay on the host (or behind whatever the ACO puts in front of the admin address). Which listener a
/// request came through is read from the local port of its connection, which the client cannot choose; the Host header, which it
/// can, is never consulted. Refusals are counted under <see cref="RefusalRules.WrongListener"/>.
/// </summary>
public sealed class AdminListener(RequestDelegate next, IOptions<CoordinatorOptions> options, RequestRefusals refusals)
{
    private readonly int _adminPort = new Uri(options.Value.AdminUrl).Port;

    public async Task InvokeAsync(HttpContext context)
    {
        var admin = context.Connection.LocalPort == _adminPort;
        var path = context.Request.Path;
        var adminPath = path.StartsWithSegments("/v1/admin", StringComparison.Ordinal);
        if (admin == adminPath || (admin && path.StartsWithSegments("/health", StringComparison.Ordinal)))
        {
            await next(context);
            return;
        }

        refusals.Refused(context, RefusalRules.WrongListener, StatusCodes.Status404NotFound);
        context.Response.Headers.Connection = "close";
        await SignedNodeRequests.WriteProblem(context, StatusCodes.Status404NotFound, "Not found", admin
            ? "The coordinator's admin listener serves only /v1/admin and /health; nodes and the dashboard use its public address."
            : "The admin API is not served on this address: it listens on the coordinator's admin address (Coordinator:AdminUrl, by default http://127.0.0.1:7401 on the coordinator's host).", RefusalRules.WrongListener);
    }

    /// <summary>
    /// Listens on the node URLs (--urls, or ASP.NET Core's default) and on the admin URL. Refuses, at start, an admin URL that
    /// shares a port with a node URL (the listeners would be indistinguishable) or a non-loopback admin URL on plain http.
    /// </summary>
    public static void Listen(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var adminUrl = app.Services.GetRequiredService<IOptions<CoordinatorOptions>>().Value.AdminUrl;
        var admin = new Uri(adminUrl);
        var nodeUrls = (app.Configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } configured ? configured : "http://localhost:5000")
            .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var url in nodeUrls)
        {
            if (BindingAddress.Parse(url).Port == admin.Port)
            {
                throw new OptionsValidationException(CoordinatorOptions.Section, typeof(CoordinatorOptions),
                    [$"Coordinator:AdminUrl {adminUrl} uses port {admin.Port}, as the node listener {url} does: give the admin API a port of its own."]);
            }
        }

        if (CoordinatorTls.ListenerProblem(app.Services.GetRequiredService<IOptions<CoordinatorOptions>>().Value, nodeUrls, admin) is { } tls)
        {
            throw new OptionsValidationException(CoordinatorOptions.Section, typeof(CoordinatorOptions), [tls]);
        }

        app.Urls.Clear();
        foreach (var url in nodeUrls)
        {
            app.Urls.Add(url);
        }

        app.Urls.Add(admin.GetLeftPart(UriPartial.Authority));
    }

    /// <summary>The admin URL's own checks (see <see cref="CoordinatorOptions.Validate"/>): absolute, http(s), an explicit port, https beyond loopback.</summary>
    internal static string? Problem(string adminUrl)
    {
        if (!Uri.TryCreate(adminUrl, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps) || url.AbsolutePath != "/")
        {
            return $"Coordinator:AdminUrl must be an absolute http(s) URL with no path, got '{adminUrl}'.";
        }

        if (url.Port == 0)
        {
            return $"Coordinator:AdminUrl must name its port (not 0), got '{adminUrl}': the admin listener is told apart from the node listener by it.";
        }

        return UrlPolicy.Refusal(url, "Coordinator:AdminUrl") is { } refusal
            ? refusal + " (bind the admin API to loopback, or serve it over TLS)"
            : null;
    }
}
