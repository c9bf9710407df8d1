using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>
/// The state of a spec-faithful SMART Backend Services authorization server, a test double (an EHR's authorization server cannot run
/// here): the JWKS registered per client id, the tokens it issued, and counters. It checks a token request as SMART App Launch v2
/// "Backend Services" and RFC 7523 §3 require, with System.Security.Cryptography alone (no code of the node's): grant_type
/// client_credentials, client_assertion_type jwt-bearer, header typ JWT, alg allowed, kid in the client's JWKS, the signature
/// (ES384 as r‖s of 96 bytes, RFC 7518 §3.4; RS384 RSASSA-PKCS1-v1_5 SHA-384, §3.3), iss = sub = a registered client id, aud = its
/// own token endpoint URL, exp in the future and at most five minutes ahead, a jti not seen before. A Bulk Data test server mounted on
/// the same application (<see cref="SmartAuthTestServer.StartAsync"/>'s mount) requires its tokens through <see cref="IsValidToken"/>.
/// </summary>
internal sealed partial class SmartAuthState(TimeProvider? time = null)
{
    private readonly ConcurrentDictionary<string, List<JsonObject>> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string ClientId, string Scope, DateTimeOffset ExpiresAt)> _tokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _seenJti = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _refusals = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(HttpStatusCode Status, TimeSpan? RetryAfter)> _busy = new();
    private readonly ConcurrentQueue<(string Error, string Description)> _forcedErrors = new();
    private readonly ConcurrentQueue<string> _requestedScopes = new();
    private int _tokensIssued;
    private int _tokenRequests;

    public TimeProvider Time { get; } = time ?? TimeProvider.System;

    /// <summary>Where the FHIR base is: the configuration is served at {FhirBasePath}/.well-known/smart-configuration.</summary>
    public string FhirBasePath { get; init; } = "/fhir";

    public string TokenPath { get; init; } = "/auth/token";

    /// <summary>The server's own token endpoint URL, the only aud it takes (the host sets it once it knows its port).</summary>
    public Uri? TokenEndpoint { get; set; }

    /// <summary>A token endpoint to publish instead of its own (to test a client's URL policy); null publishes <see cref="TokenEndpoint"/>.</summary>
    public string? AdvertisedTokenEndpoint { get; set; }

    public TimeSpan TokenLifetime { get; set; } = TimeSpan.FromMinutes(5);

    public IReadOnlyList<string> SigningAlgorithms { get; set; } = ["ES384", "RS384"];

    public IReadOnlyList<string> AuthMethods { get; set; } = ["private_key_jwt"];

    public int TokensIssued => Volatile.Read(ref _tokensIssued);

    public int TokenRequests => Volatile.Read(ref _tokenRequests);

    /// <summary>Refused token requests by reason (unknown_client, kid_not_found, signature, aud, expired, exp_too_far, jti_replayed, ...).</summary>
    public IReadOnlyDictionary<string, int> Refusals => new Dictionary<string, int>(_refusals);

    public int RefusalCount(string reason) => _refusals.GetValueOrDefault(reason);

    public IReadOnlyList<string> RequestedScopes => [.. _requestedScopes];

    /// <summary>Registers a client's JWKS (what an EHR administrator pastes), replacing any earlier one.</summary>
    public void RegisterClient(string clientId, string jwks)
    {
        var keys = JsonNode.Parse(jwks)!["keys"]!.AsArray().Select(k => k!.AsObject()).ToList();
        _clients[clientId] = keys;
    }

    /// <summary>Answers the next <paramref name="times"/> token requests with a busy status (429, 503), with Retry-After when given.</summary>
    public void FailNext(HttpStatusCode status, int times = 1, TimeSpan? retryAfter = null)
    {
        for (var i = 0; i < times; i++)
        {
            _busy.Enqueue((status, retryAfter));
        }
    }

    /// <summary>Refuses the next token request with an OAuth error (RFC 6749 §5.2), whatever it holds.</summary>
    public void RefuseNext(string error, string description) => _forcedErrors.Enqueue((error, description));

    /// <summary>Whether a bearer token is one this server issued and it has not expired.</summary>
    public bool IsValidToken(string? token) =>
        token is not null && _tokens.TryGetValue(token, out var issued) && Time.GetUtcNow() < issued.ExpiresAt;

    /// <summary>The scope a valid token was granted, or null.</summary>
    public string? ScopeOf(string token) => IsValidToken(token) ? _tokens[token].Scope : null;

    internal IResult Configuration(HttpRequest request)
    {
        var document = new JsonObject
        {
            ["token_endpoint"] = AdvertisedTokenEndpoint ?? OwnTokenEndpoint(request).AbsoluteUri,
            ["token_endpoint_auth_methods_supported"] = new JsonArray([.. AuthMethods.Select(m => (JsonNode)m)]),
            ["token_endpoint_auth_signing_alg_values_supported"] = new JsonArray([.. SigningAlgorithms.Select(a => (JsonNode)a)]),
            ["grant_types_supported"] = new JsonArray("client_credentials"),
            ["scopes_supported"] = new JsonArray("system/*.rs", "system/Patient.rs", "system/Condition.rs", "system/Observation.rs"),
            ["capabilities"] = new JsonArray("client-confidential-asymmetric", "permission-v2"),
        };
        return Results.Text(document.ToJsonString(), "application/json");
    }

    internal async Task<IResult> Token(HttpContext context)
    {
        Interlocked.Increment(ref _tokenRequests);
        if (_busy.TryDequeue(out var busy))
        {
            if (busy.RetryAfter is { } wait)
            {
                context.Response.Headers.RetryAfter = ((int)wait.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            return Results.StatusCode((int)busy.Status);
        }

        if (!context.Request.HasFormContentType)
        {
            return Refuse("invalid_request", "malformed", "the body must be application/x-www-form-urlencoded");
        }

        var form = await context.Request.ReadFormAsync();
        if (_forcedErrors.TryDequeue(out var forced))
        {
            return Refuse(forced.Error, "forced", forced.Description);
        }

        if (form["grant_type"] != "client_credentials")
        {
            return Refuse("unsupported_grant_type", "grant_type", "grant_type must be client_credentials");
        }

        if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Refuse("invalid_client", "assertion_type", "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        }

        var (clientId, reason, description) = Verify(form["client_assertion"].ToString(), OwnTokenEndpoint(context.Request));
        if (clientId is null)
        {
            return Refuse("invalid_client", reason!, description!);
        }

        var scope = form["scope"].ToString();
        _requestedScopes.Enqueue(scope);
        var scopes = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (scopes.Length == 0 || !scopes.All(s => SystemScope().IsMatch(s)))
        {
            return Refuse("invalid_scope", "scope", "only SMART system scopes (system/Type.rs) are granted");
        }

        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        _tokens[token] = (clientId, scope, Time.GetUtcNow() + TokenLifetime);
        Interlocked.Increment(ref _tokensIssued);
        context.Response.Headers.CacheControl = "no-store"; // RFC 6749 §5.1
        context.Response.Headers.Pragma = "no-cache";
        return Results.Text(
            new JsonObject { ["access_token"] = token, ["token_type"] = "bearer", ["expires_in"] = (long)TokenLifetime.TotalSeconds, ["scope"] = scope }.ToJsonString(),
            "application/json");
    }

    private Uri OwnTokenEndpoint(HttpRequest request) => TokenEndpoint ?? new Uri($"{request.Scheme}://{request.Host}{TokenPath}");

    private IResult Refuse(string error, string reason, string description)
    {
        _refusals.AddOrUpdate(reason, 1, (_, n) => n + 1);
        return Results.Text(new JsonObject { ["error"] = error, ["error_description"] = description }.ToJsonString(), "application/json", statusCode: 400);
    }

    /// <summary>The client id the assertion authenticates, or null with the refusal's reason and description.</summary>
    private (string? ClientId, string? Reason, string? Description) Verify(string assertion, Uri ownEndpoint)
    {
        var parts = assertion.Split('.');
        if (parts.Length != 3)
        {
            return (null, "malformed", "client_assertion is not a compact JWS");
        }

        JsonObject header, claims;
        byte[] signature;
        try
        {
            header = JsonNode.Parse(Base64Url.DecodeFromChars(parts[0]))!.AsObject();
            claims = JsonNode.Parse(Base64Url.DecodeFromChars(parts[1]))!.AsObject();
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException or NullReferenceException)
        {
            return (null, "malformed", "client_assertion is not a compact JWS of JSON objects");
        }

        if ((string?)header["typ"] != "JWT")
        {
            return (null, "typ", "the assertion's typ must be JWT");
        }

        var alg = (string?)header["alg"];
        if (alg is null || !SigningAlgorithms.Contains(alg))
        {
            return (null, "alg", $"alg {alg} is not allowed");
        }

        var iss = Claim(claims, "iss");
        if (iss is null || !_clients.TryGetValue(iss, out var keys))
        {
            return (null, "unknown_client", "no JWKS is registered for this client id");
        }

        var kid = (string?)header["kid"];
        var jwk = keys.FirstOrDefault(k => (string?)k["kid"] == kid && ((string?)k["alg"] ?? alg) == alg);
        if (kid is null || jwk is null)
        {
            return (null, "kid_not_found", $"kid {kid} is not in the JWKS registered for this client");
        }

        var signingInput = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        if (!VerifySignature(alg, jwk, signingInput, signature))
        {
            return (null, "signature", "the assertion's signature does not verify under the registered key");
        }

        if (Claim(claims, "sub") != iss)
        {
            return (null, "iss_sub", "iss and sub must both be the client id");
        }

        var aud = claims["aud"] is JsonArray audiences ? audiences.Select(a => (string?)a).ToList() : [Claim(claims, "aud")];
        if (!aud.Contains(ownEndpoint.AbsoluteUri))
        {
            return (null, "aud", "aud must be this server's token endpoint URL");
        }

        var now = Time.GetUtcNow().ToUnixTimeSeconds();
        var exp = claims["exp"] is JsonValue e2 && e2.TryGetValue<long>(out var x) ? x : (long?)null;
        if (exp is null || exp <= now)
        {
            return (null, "expired", "the assertion has expired");
        }

        if (exp > now + 300)
        {
            return (null, "exp_too_far", "exp must be no more than five minutes in the future");
        }

        var jti = Claim(claims, "jti");
        if (string.IsNullOrEmpty(jti))
        {
            return (null, "jti_missing", "the assertion has no jti");
        }

        foreach (var old in _seenJti.Where(j => j.Value.ToUnixTimeSeconds() < now).Select(j => j.Key).ToList())
        {
            _seenJti.TryRemove(old, out _); // past its exp it is refused as expired anyway
        }

        if (!_seenJti.TryAdd(iss + "\n" + jti, DateTimeOffset.FromUnixTimeSeconds(exp.Value)))
        {
            return (null, "jti_replayed", "this jti was used before");
        }

        return (iss, null, null);
    }

    private static string? Claim(JsonObject claims, string name) => claims[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static bool VerifySignature(string alg, JsonObject jwk, byte[] signingInput, byte[] signature)
    {
        if (alg == "ES384")
        {
            if ((string?)jwk["kty"] != "EC" || (string?)jwk["crv"] != "P-384" || signature.Length != 96)
            {
                return false; // RFC 7518 §3.4: exactly r‖s, 48 octets each; a DER signature is not a JWS signature
            }

            using var ec = ECDsa.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP384,
                Q = new ECPoint { X = Base64Url.DecodeFromChars((string)jwk["x"]!), Y = Base64Url.DecodeFromChars((string)jwk["y"]!) },
            });
            return ec.VerifyData(signingInput, signature, HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }

        if ((string?)jwk["kty"] != "RSA")
        {
            return false;
        }

        using var rsa = RSA.Create(new RSAParameters { Modulus = Base64Url.DecodeFromChars((string)jwk["n"]!), Exponent = Base64Url.DecodeFromChars((string)jwk["e"]!) });
        return rsa.KeySize >= 2048 && rsa.VerifyData(signingInput, signature, HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1);
    }

    [GeneratedRegex(@"^system/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?|read|write|\*)$")]
    private static partial Regex SystemScope();
}

/// <summary>Maps the SMART authorization server's two endpoints onto an application (one a Bulk Data test server can share).</summary>
internal static class SmartAuthEndpoints
{
    public static void MapSmartAuth(IEndpointRouteBuilder app, SmartAuthState state)
    {
        app.MapGet(state.FhirBasePath + "/.well-known/smart-configuration", (HttpRequest request) => state.Configuration(request));
        app.MapPost(state.TokenPath, (Func<HttpContext, Task<IResult>>)state.Token); // a route handler: its IResult is written
    }
}

/// <summary>
/// Kestrel on 127.0.0.1 (a port the system picks) serving a SMART Backend Services authorization server, a test double
/// (<see cref="SmartAuthState"/>); <c>mount</c> maps more endpoints on the same application (a Bulk Data server under <see cref="FhirBase"/>).
/// </summary>
internal sealed class SmartAuthTestServer : IAsyncDisposable
{
    private SmartAuthTestServer(WebApplication app, SmartAuthState state, Uri baseAddress)
    {
        App = app;
        State = state;
        BaseAddress = baseAddress;
    }

    public WebApplication App { get; }

    public SmartAuthState State { get; }

    /// <summary>http://127.0.0.1:PORT/</summary>
    public Uri BaseAddress { get; }

    public Uri FhirBase => new(BaseAddress, State.FhirBasePath.TrimStart('/'));

    public Uri TokenEndpoint => State.TokenEndpoint!;

    public static async Task<SmartAuthTestServer> StartAsync(SmartAuthState? state = null, Action<WebApplication>? mount = null)
    {
        state ??= new SmartAuthState();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        SmartAuthEndpoints.MapSmartAuth(app, state);
        mount?.Invoke(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var baseAddress = new Uri(address.TrimEnd('/') + "/");
        state.TokenEndpoint ??= new Uri(baseAddress, state.TokenPath.TrimStart('/'));
        return new SmartAuthTestServer(app, state, baseAddress);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
