using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Hosting.Files;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Hosting.Security;

/// <summary>
/// The local administrators' token: 256 random bits as hex in the service directory's admin.token (owner-only, so only
/// the service's account and root read it), presented as an RFC 6750 bearer token and compared in constant time.
/// </summary>
public static class AdminTokens
{
    public const string FileName = "admin.token";

    private const string BearerPrefix = "Bearer ";

    /// <summary>Creates the directory's admin token when it has none; true when it did (the audit trail records it).</summary>
    public static bool EnsureCreated(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (File.Exists(path))
        {
            return false;
        }

        DurableFile.CreateOwnerOnly(path, Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));
        return true;
    }

    /// <summary>The admin token stored in a service directory (for the service, and the CLI on the same host).</summary>
    public static string Read(string directory) => File.ReadAllText(Path.Combine(directory, FileName)).Trim();

    /// <summary>Whether <paramref name="presented"/> is the token, in time independent of where they differ.</summary>
    public static bool Matches(string? presented, string token) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(token));

    /// <summary>The bearer token of a request's Authorization header, or null.</summary>
    public static string? Bearer(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith(BearerPrefix, StringComparison.Ordinal) ? header[BearerPrefix.Length..] : null;
    }

    /// <summary>
    /// Admits only requests bearing the admin token; any other gets 401 as problem details (RFC 9457) after
    /// <paramref name="refused"/> (which audits it).
    /// </summary>
    /// <param name="token">The token in force, resolved per request (the node's may be replaced while it runs).</param>
    /// <param name="refused">Called with the request refused, before the 401 is returned.</param>
    /// <param name="service">Whose admin.token, for the 401's detail ("node directory", "coordinator").</param>
    public static TBuilder RequireAdminToken<TBuilder>(this TBuilder builder, Func<HttpContext, string> token, Action<HttpContext> refused, string service)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(token);
        ArgumentNullException.ThrowIfNull(refused);
        builder.AddEndpointFilter(async (context, next) =>
        {
            if (Matches(Bearer(context.HttpContext.Request), token(context.HttpContext)))
            {
                return await next(context);
            }

            refused(context.HttpContext);
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Admin token required", detail: $"Send 'Authorization: Bearer <token>' with the token in the {service}'s admin.token.");
        });
        return builder;
    }
}
