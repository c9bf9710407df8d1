using System.Net.Http.Headers;
using System.Text.Json;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Node.Sources.Smart;

/// <summary>
/// SMART authorization failed: discovery, a token request the server refused (RFC 6749 §5.2 <see cref="Error"/>), or a server that
/// could not be reached within the retries. The message names what to fix; it never holds a token or an assertion.
/// </summary>
public sealed class SmartAuthorizationException(string message, string? error = null, int? status = null, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The OAuth error code the server answered (invalid_client, invalid_scope, ...), or null.</summary>
    public string? Error { get; } = error;

    /// <summary>The HTTP status of the answer, or null when there was none (a network error).</summary>
    public int? Status { get; } = status;
}

/// <summary>
/// What a FHIR server publishes at <c>{base}/.well-known/smart-configuration</c> (SMART App Launch v2, "Conformance"), as much of it as
/// a Backend Services client needs: the token endpoint, and what the server says it takes there.
/// </summary>
public sealed record SmartConfiguration(
    Uri TokenEndpoint,
    IReadOnlyList<string>? TokenEndpointAuthMethods,
    IReadOnlyList<string>? SigningAlgorithms,
    IReadOnlyList<string>? GrantTypes,
    IReadOnlyList<string>? ScopesSupported)
{
    /// <summary>The path SMART App Launch v2 publishes the configuration at, relative to the FHIR base.</summary>
    public const string WellKnownPath = ".well-known/smart-configuration";

    /// <summary>The most of a discovery or token answer read: both are a few hundred bytes; a larger one is refused unread.</summary>
    internal const int MaxResponseBytes = 64 * 1024;

    /// <summary>
    /// Reads the server's SMART configuration and checks it fits a Backend Services client signing with <paramref name="algorithm"/>:
    /// a token endpoint (https, or http on loopback: <see cref="UrlPolicy"/>), "private_key_jwt" among the token endpoint's
    /// authentication methods and the algorithm among its signing algorithms when the server lists them (SMART lists both as
    /// RECOMMENDED), and "client_credentials" among its grant types when it lists them.
    /// </summary>
    /// <param name="http">The client (its handler's TLS settings are the caller's).</param>
    /// <param name="fhirBase">The FHIR server's base URL.</param>
    /// <param name="algorithm">The node key's algorithm ("ES384", "RS384"); null to skip that check.</param>
    public static async Task<SmartConfiguration> DiscoverAsync(HttpClient http, Uri fhirBase, string? algorithm = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(fhirBase);
        UrlPolicy.Require(fhirBase, "the FHIR base URL");
        var url = new Uri(fhirBase.AbsoluteUri.TrimEnd('/') + "/" + WellKnownPath);
        var where = $"{url.GetLeftPart(UriPartial.Authority)} ({WellKnownPath})";
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        JsonDocument document;
        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new SmartAuthorizationException($"SMART discovery failed: {where} answered HTTP {(int)response.StatusCode}; the FHIR server must publish its SMART configuration for Backend Services.", status: (int)response.StatusCode);
            }

            var body = await ReadBoundedAsync(response, "the SMART configuration", cancellationToken).ConfigureAwait(false);
            document = JsonDocument.Parse(body);
        }
        catch (HttpRequestException e)
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {where} could not be reached ({e.HttpRequestError}).", inner: e);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {where} did not answer in time.", inner: e);
        }
        catch (JsonException e)
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {where} did not answer a JSON object.", inner: e);
        }

        using (document)
        {
            return Parse(document.RootElement, where, algorithm);
        }
    }

    /// <summary>The refusal when this server cannot authorize a client signing with <paramref name="algorithm"/>; null when it can.</summary>
    public string? Refusal(string? algorithm)
    {
        if (TokenEndpointAuthMethods is { } methods && !methods.Contains("private_key_jwt", StringComparer.Ordinal))
        {
            return $"its token endpoint does not take private_key_jwt (token_endpoint_auth_methods_supported: {string.Join(", ", methods)}), the client authentication SMART Backend Services uses";
        }

        if (algorithm is not null && SigningAlgorithms is { } algorithms && !algorithms.Contains(algorithm, StringComparer.Ordinal))
        {
            return $"it does not take {algorithm} assertions (token_endpoint_auth_signing_alg_values_supported: {string.Join(", ", algorithms)}); create the node's key with `ftwin node smart-key create --replace --alg` one of those";
        }

        if (GrantTypes is { } grants && !grants.Contains("client_credentials", StringComparer.Ordinal))
        {
            return $"it does not offer the client_credentials grant (grant_types_supported: {string.Join(", ", grants)})";
        }

        return null;
    }

    private static SmartConfiguration Parse(JsonElement root, string where, string? algorithm)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {where} did not answer a JSON object.");
        }

        if (!root.TryGetProperty("token_endpoint", out var endpoint) || endpoint.ValueKind != JsonValueKind.String
            || !Uri.TryCreate(endpoint.GetString(), UriKind.Absolute, out var tokenEndpoint))
        {
            throw new SmartAuthorizationException($"SMART discovery failed: the configuration at {where} has no absolute token_endpoint.");
        }

        try
        {
            UrlPolicy.Require(tokenEndpoint, "the token endpoint");
        }
        catch (InsecureUrlException e)
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {e.Message}.", inner: e);
        }

        var configuration = new SmartConfiguration(
            tokenEndpoint,
            Strings(root, "token_endpoint_auth_methods_supported", where),
            Strings(root, "token_endpoint_auth_signing_alg_values_supported", where),
            Strings(root, "grant_types_supported", where),
            Strings(root, "scopes_supported", where));
        if (configuration.Refusal(algorithm) is { } refusal)
        {
            throw new SmartAuthorizationException($"The FHIR server at {where} cannot authorize this node: {refusal}.");
        }

        return configuration;
    }

    private static List<string>? Strings(JsonElement root, string name, string where)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
        {
            throw new SmartAuthorizationException($"SMART discovery failed: {name} in the configuration at {where} is not an array of strings.");
        }

        return value.EnumerateArray().Select(v => v.GetString()!).ToList();
    }

    /// <summary>Reads at most <see cref="MaxResponseBytes"/> of an answer; a longer one is refused (a server cannot make the node buffer without end).</summary>
    internal static async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > MaxResponseBytes)
        {
            throw new SmartAuthorizationException($"{what} is larger than {MaxResponseBytes / 1024} KiB; refused unread.", status: (int)response.StatusCode);
        }

        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = new byte[MaxResponseBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false)) > 0)
        {
            length += read;
        }

        if (length > MaxResponseBytes)
        {
            throw new SmartAuthorizationException($"{what} is larger than {MaxResponseBytes / 1024} KiB; refused.", status: (int)response.StatusCode);
        }

        return buffer.AsSpan(0, length).ToArray();
    }
}
