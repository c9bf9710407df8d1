using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using FederatedTwin.Node.Federation;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Node.Status;

/// <summary>
/// GET /status: the node's status page, behind the admin token. The token is typed once into a form; the browser
/// then holds an HttpOnly, SameSite=Strict cookie carrying an HMAC of the token (never the token itself), so the
/// page works in a browser that cannot send a bearer header. The forms carry antiforgery tokens.
/// </summary>
internal static class NodeStatusEndpoints
{
    private const string Cookie = "ftwin.node-status";

    public static void MapNodeStatusPage(this IEndpointRouteBuilder app)
    {
        app.MapGet("/status.css", () => Results.Text(NodeStatusPage.Stylesheet, "text/css; charset=utf-8"));

        app.MapGet("/status", (HttpContext http, NodeDirectory node, NodeStatus status, IAntiforgery antiforgery) =>
        {
            var tokens = antiforgery.GetAndStoreTokens(http);
            NoStore(http);
            return SignedIn(http, node)
                ? Results.Content(NodeStatusPage.Render(NodeStatusReport.Read(node, status, (http.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow(), http.RequestServices.GetService<Sources.SourceScheduler>()), tokens.FormFieldName, tokens.RequestToken!), "text/html; charset=utf-8")
                : Results.Content(NodeStatusPage.SignIn(tokens.FormFieldName, tokens.RequestToken!, null), "text/html; charset=utf-8");
        });

        // The patient and facility twins (issue 21): computed on request from the node's own registry and data, audited like the commands.
        app.MapGet("/status/twins", (HttpContext http, NodeDirectory node, IAntiforgery antiforgery) =>
        {
            if (!SignedIn(http, node))
            {
                return Results.Redirect("/status");
            }

            var tokens = antiforgery.GetAndStoreTokens(http);
            NoStore(http);
            return Results.Content(NodeTwinsPage.Render(NodeTwinsView.Build(node), tokens.FormFieldName, tokens.RequestToken!, node.Store.GetEnrollment()?.NodeId ?? "unenrolled node"), "text/html; charset=utf-8");
        });

        app.MapPost("/status/session", async (HttpContext http, NodeDirectory node, IAntiforgery antiforgery) =>
        {
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Antiforgery token missing or invalid", detail: "Reload /status and submit its form again.");
            }

            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var presented = form["token"].ToString();
            if (node.AdminToken?.Matches(presented) != true)
            {
                node.Audit.Append(Audit.NodeAuditRecords.AdminAuthenticationFailure("POST", "/status/session"));
                var tokens = antiforgery.GetAndStoreTokens(http);
                NoStore(http);
                return Results.Content(NodeStatusPage.SignIn(tokens.FormFieldName, tokens.RequestToken!, "That is not this node's admin token."), "text/html; charset=utf-8", Encoding.UTF8, StatusCodes.Status401Unauthorized);
            }

            http.Response.Cookies.Append(Cookie, SessionValue(node), new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true, Secure = http.Request.IsHttps });
            return Results.Redirect("/status");
        });

        app.MapPost("/status/signout", async (HttpContext http, IAntiforgery antiforgery) =>
        {
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Antiforgery token missing or invalid", detail: "Reload /status and submit its form again.");
            }

            http.Response.Cookies.Delete(Cookie, new CookieOptions { Path = "/" });
            return Results.Redirect("/status");
        });
    }

    private static bool SignedIn(HttpContext http, NodeDirectory node)
    {
        if (!http.Request.Cookies.TryGetValue(Cookie, out var value) || value is null || node.AdminToken is not { } verifier)
        {
            return false;
        }

        try
        {
            return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Session(node).Unprotect(value)), Encoding.ASCII.GetBytes(verifier.Fingerprint));
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>
    /// The session: the fingerprint of the stored token hash, sealed by the node's key ring. It ends when a new token is issued, reveals
    /// nothing of the token, and cannot be made from admin.token alone (that takes the key ring too).
    /// </summary>
    private static string SessionValue(NodeDirectory node) => Session(node).Protect(node.AdminToken!.Fingerprint);

    private static Microsoft.AspNetCore.DataProtection.IDataProtector Session(NodeDirectory node) => node.Protector.CreateProtector("ftwin node status session v1");

    private static void NoStore(HttpContext http)
    {
        http.Response.Headers.CacheControl = "no-store";
        http.Response.Headers.ContentSecurityPolicy = "default-src 'self'; style-src 'self'; script-src 'none'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";
    }
}
