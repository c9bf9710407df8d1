using System.Security.Cryptography;
using System.Text;
using FederatedTwin.Hosting.Files;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Hosting.Security;

/// <summary>What <see cref="AdminTokens.EnsureHashed"/> found or did.</summary>
public enum AdminTokenFile
{
    /// <summary>The directory already held a hashed token.</summary>
    Existing,

    /// <summary>There was none: a token was created and its hash stored; the token is returned once.</summary>
    Created,

    /// <summary>A plaintext token (from before tokens were hashed) was replaced by its hash; it stays valid.</summary>
    Migrated,
}

/// <summary>
/// What a service keeps of an admin token: a random salt and HMAC-SHA256(salt, token). The token has 256 random bits, so a
/// fast keyed hash suffices (a slow password hash such as NIST SP 800-63B section 5.1.1.2 asks for protects guessable,
/// memorized secrets; nobody can enumerate 2^256 tokens). Whoever reads the file learns nothing that authenticates.
/// </summary>
public sealed class AdminTokenVerifier
{
    private readonly byte[] _salt;
    private readonly byte[] _mac;

    private AdminTokenVerifier(byte[] salt, byte[] mac)
    {
        _salt = salt;
        _mac = mac;
    }

    /// <summary>The verifier of <paramref name="token"/> under a fresh salt.</summary>
    public static AdminTokenVerifier For(string token)
    {
        var salt = RandomNumberGenerator.GetBytes(32);
        return new AdminTokenVerifier(salt, Mac(salt, token));
    }

    /// <summary>Whether <paramref name="presented"/> is the token, in time independent of where they differ.</summary>
    public bool Matches(string? presented) => presented is not null && CryptographicOperations.FixedTimeEquals(Mac(_salt, presented), _mac);

    /// <summary>SHA-256 of what the file keeps: changes whenever a new token is issued, reveals nothing of the token (a session bound to it ends with it).</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(Serialize())));

    internal string Serialize() => $"{AdminTokens.HashedPrefix}{Convert.ToHexStringLower(_salt)}:{Convert.ToHexStringLower(_mac)}";

    /// <summary>Reads a stored line: a hashed token, or a plaintext token of 64 hex digits (an older directory), hashed here.</summary>
    internal static AdminTokenVerifier? Parse(string line)
    {
        if (line.StartsWith(AdminTokens.HashedPrefix, StringComparison.Ordinal))
        {
            var parts = line[AdminTokens.HashedPrefix.Length..].Split(':');
            return parts is [{ Length: 64 } salt, { Length: 64 } mac] && salt.All(char.IsAsciiHexDigit) && mac.All(char.IsAsciiHexDigit)
                ? new AdminTokenVerifier(Convert.FromHexString(salt), Convert.FromHexString(mac))
                : null;
        }

        return AdminTokens.IsPlaintextToken(line) ? For(line) : null;
    }

    private static byte[] Mac(byte[] salt, string token) => HMACSHA256.HashData(salt, Encoding.UTF8.GetBytes(token));
}

/// <summary>
/// The local administrators' token: 256 random bits as hex, presented as an RFC 6750 bearer token and compared in constant
/// time. The coordinator keeps only a salted hash of it in its data directory's admin.token (<see cref="EnsureHashed"/>,
/// <see cref="Issue"/>): the token is shown once, when it is made, and reading the file does not yield it. A node keeps its
/// own the same way (a plaintext token left by an older version is hashed when the node directory is next opened).
/// </summary>
public static class AdminTokens
{
    public const string FileName = "admin.token";

    private const string BearerPrefix = "Bearer ";

    /// <summary>How a hashed admin.token line starts: format, version and algorithm, then the hex salt and MAC.</summary>
    internal const string HashedPrefix = "ftwin-admin-token:v1:hmac-sha256:";

    /// <summary>
    /// Makes sure the directory's admin.token holds a hash: creates a token when there is none (returned in
    /// <paramref name="token"/>, the only time it is shown), and replaces a plaintext token by its hash (it stays valid).
    /// </summary>
    public static AdminTokenFile EnsureHashed(string directory, out string? token)
    {
        token = null;
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
        {
            token = Issue(directory);
            return AdminTokenFile.Created;
        }

        var line = File.ReadAllText(path).Trim();
        if (!IsPlaintextToken(line))
        {
            return AdminTokenFile.Existing;
        }

        DurableFile.Replace(path, Encoding.ASCII.GetBytes(AdminTokenVerifier.For(line).Serialize() + "\n"));
        return AdminTokenFile.Migrated;
    }

    /// <summary>A new admin token, replacing any: its hash is stored (owner-only, atomically) and the token returned to be shown once.</summary>
    public static string Issue(string directory)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        DurableFile.Replace(Path.Combine(directory, FileName), Encoding.ASCII.GetBytes(AdminTokenVerifier.For(token).Serialize() + "\n"));
        return token;
    }

    /// <summary>
    /// The verifier of the directory's admin token, read now (so a token issued while the service runs takes effect at once);
    /// null when there is none or the file is not a token.
    /// </summary>
    public static AdminTokenVerifier? LoadVerifier(string directory)
    {
        try
        {
            return AdminTokenVerifier.Parse(File.ReadAllText(Path.Combine(directory, FileName)).Trim());
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>A plaintext token as this class wrote them before hashing: 64 lowercase hex digits.</summary>
    internal static bool IsPlaintextToken(string line) => line.Length == 64 && line.All(char.IsAsciiHexDigitLower);

    /// <summary>The bearer token of a request's Authorization header, or null.</summary>
    public static string? Bearer(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith(BearerPrefix, StringComparison.Ordinal) ? header[BearerPrefix.Length..] : null;
    }

    /// <summary>
    /// Admits only requests bearing the token <paramref name="verifier"/> checks; <paramref name="gate"/> may answer first
    /// (a source over its failed-authentication budget gets 429 before its token is looked at); any other request gets 401 as
    /// problem details (RFC 9457) after <paramref name="refused"/> (which counts and audits it).
    /// </summary>
    public static TBuilder RequireAdminToken<TBuilder>(this TBuilder builder, Func<HttpContext, AdminTokenVerifier?> verifier, Func<HttpContext, IResult?> gate, Action<HttpContext> refused, string service)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(verifier);
        ArgumentNullException.ThrowIfNull(gate);
        ArgumentNullException.ThrowIfNull(refused);
        builder.AddEndpointFilter(async (context, next) =>
        {
            if (gate(context.HttpContext) is { } answered)
            {
                return answered;
            }

            if (verifier(context.HttpContext)?.Matches(Bearer(context.HttpContext.Request)) == true)
            {
                return await next(context);
            }

            refused(context.HttpContext);
            return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Admin token required", detail: $"Send 'Authorization: Bearer <token>' with the {service}'s admin token (shown once when it was made; `ftwin {service} admin-token` makes a new one).");
        });
        return builder;
    }
}
