using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>The coordinator answered with a problem (RFC 9457), or could not be trusted.</summary>
public sealed class CoordinatorRefusedException(int status, string title, string detail) : Exception($"{status} {title}: {detail}")
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public string Detail { get; } = detail;

    /// <summary>
    /// The RFC 9457 problem object, only when the coordinator's signature on the response verified (so its members can be acted on).
    /// Its extension members are open-ended, so it stays a JSON object, read only inside the node.
    /// </summary>
    internal JsonObject? Problem { get; init; }
}

/// <summary>
/// The node's only network peer. Every request is signed (RFC 9421, Ed25519, with an RFC 9530
/// Content-Digest); every response must be signed by the coordinator key pinned in the site policy,
/// cover this request's own signature ("signature";req, so an answer obtained by another enrolled node
/// for its own request is refused even with a copied nonce), echo the request's nonce and speak the same
/// protocol version, or it is discarded. A response is read only up to the size its kind may have (<see cref="ResponseLimits"/>):
/// its signature can be checked only once it is read, so an answer too large for its kind is refused unread, whoever sent it.
/// </summary>
public sealed class CoordinatorClient(HttpClient http, Ed25519Identity identity, string keyId, string pinnedCoordinatorKey, TimeSpan window, Func<string>? auditHead = null, TimeProvider? time = null)
{
    /// <summary>The title of the refusal raised when a response fails authentication.</summary>
    public const string UntrustedResponse = "Untrusted response";

    public static string EnrollKeyId(Ed25519Identity identity) => "enroll:" + identity.PublicKey;

    /// <param name="maxResponseBytes">The most the answer may be (default <see cref="ResponseLimits.Default"/>; a key or aggregate announcement is larger).</param>
    public async Task<T> Get<T>(string pathAndQuery, CancellationToken cancellationToken, long maxResponseBytes = ResponseLimits.Default) =>
        WireJson.Deserialize<T>(await Send(HttpMethod.Get, pathAndQuery, null, maxResponseBytes, cancellationToken));

    /// <summary>A response body as bytes, after the same checks (a roster document is checked by its approvals, not parsed here).</summary>
    public Task<byte[]> GetBytes(string pathAndQuery, CancellationToken cancellationToken) => Send(HttpMethod.Get, pathAndQuery, null, ResponseLimits.Default, cancellationToken);

    public async Task<T> Post<T>(string path, object body, CancellationToken cancellationToken) =>
        WireJson.Deserialize<T>(await Send(HttpMethod.Post, path, WireJson.Serialize(body), ResponseLimits.Default, cancellationToken));

    public Task Post(string path, object body, CancellationToken cancellationToken) => Send(HttpMethod.Post, path, WireJson.Serialize(body), ResponseLimits.Default, cancellationToken);

    private async Task<byte[]> Send(HttpMethod method, string pathAndQuery, byte[]? body, long maxResponseBytes, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, pathAndQuery);
        body ??= [];
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(FederationProtocol.JsonMediaType);
        var version = FederationProtocol.Version.ToString(CultureInfo.InvariantCulture);
        request.Headers.Add(FederationProtocol.VersionHeader, version);
        request.Content.Headers.Add(ContentDigest.HeaderName, ContentDigest.Compute(body));
        var nonce = HttpMessageSignatures.NewNonce();
        var uri = new Uri(http.BaseAddress!, pathAndQuery);
        var head = auditHead?.Invoke();
        IReadOnlyList<string> components = head is null ? HttpMessageSignatures.RequestComponents : [.. HttpMessageSignatures.RequestComponents, FederationProtocol.AuditHeadComponent];
        if (head is not null)
        {
            request.Headers.Add(FederationProtocol.AuditHeadHeader, head);
        }

        var parameters = new SignatureParameters(components, (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeSeconds(), keyId, nonce, HttpMessageSignatures.Algorithm);
        var (input, signature) = HttpMessageSignatures.Sign(identity, parameters, c => c switch
        {
            "@method" => method.Method,
            "@path" => uri.AbsolutePath,
            "@query" => uri.Query.Length == 0 ? "?" : uri.Query,
            "content-digest" => ContentDigest.Compute(body),
            "ftwin-protocol" => version,
            FederationProtocol.AuditHeadComponent => head,
            _ => null,
        });
        request.Headers.Add(HttpMessageSignatures.SignatureInputHeader, input);
        request.Headers.Add(HttpMessageSignatures.SignatureHeader, signature);

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        var responseBody = await ResponseLimits.Read(response, maxResponseBytes, cancellationToken);
        string? Header(string name) => response.Headers.TryGetValues(name, out var v) ? string.Join(", ", v)
            : response.Content.Headers.TryGetValues(name, out var cv) ? string.Join(", ", cv) : null;

        var (failure, signed) = HttpMessageSignatures.Verify(
            Header(HttpMessageSignatures.SignatureInputHeader),
            Header(HttpMessageSignatures.SignatureHeader),
            HttpMessageSignatures.ResponseComponents,
            HttpMessageSignatures.ResponseResolver((int)response.StatusCode, method.Method, uri.AbsolutePath, signature, Header),
            responseBody,
            k => k == "coordinator" ? pinnedCoordinatorKey : null,
            (time ?? TimeProvider.System).GetUtcNow(),
            window);
        if (failure != SignatureFailure.None || signed!.Nonce != nonce)
        {
            // An unsigned answer may still explain itself (e.g. a protocol version mismatch); report it, never act on it.
            var reason = failure != SignatureFailure.None ? failure.ToString() : "nonce mismatch (replayed response)";
            throw new CoordinatorRefusedException((int)response.StatusCode, UntrustedResponse, $"The coordinator's response signature was refused ({reason}). {ProblemDetail(responseBody)}".Trim());
        }

        if (Header(FederationProtocol.VersionHeader) != version)
        {
            throw new CoordinatorRefusedException((int)response.StatusCode, "Protocol version mismatch", $"The coordinator speaks protocol version {Header(FederationProtocol.VersionHeader)}; this node speaks {version}.");
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new CoordinatorRefusedException((int)response.StatusCode, response.ReasonPhrase ?? "Error", ProblemDetail(responseBody)) { Problem = ProblemObject(responseBody) };
        }

        return responseBody;
    }

    private static JsonObject? ProblemObject(byte[] body)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string ProblemDetail(byte[] body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var title = doc.RootElement.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
            return string.Join(": ", new[] { title, detail }.Where(s => !string.IsNullOrEmpty(s)));
        }
        catch (JsonException)
        {
            return string.Empty;
        }
    }
}
