using Dapper;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// Middleware for everything under /v1/node: checks the protocol version, verifies the request's
/// RFC 9421 signature against the enrolled node's key (or, for enrollment, the key the request
/// enrolls), refuses replayed nonces, and signs the response with the coordinator's key. Failures
/// are 401 problem details, logged, counted and audited.
/// </summary>
public sealed partial class SignedNodeRequests(
    RequestDelegate next,
    CoordinatorStore store,
    CoordinatorKeys keys,
    CoordinatorMetrics metrics,
    CoordinatorAuditTrail audit,
    IOptions<CoordinatorOptions> options,
    ILogger<SignedNodeRequests> logger,
    TimeProvider time)
{
    public const string NodeIdItem = "ftwin.node_id";
    public const string EnrollKeyPrefix = "enroll:";
    private const string SigningKeyItem = "ftwin.signing_key";

    /// <summary>The public key that signed the current request (for enrollment, the key being enrolled).</summary>
    public static string SignatureKeyOf(HttpContext context) => context.Items[SigningKeyItem] as string ?? string.Empty;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1/node", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        var version = context.Request.Headers[FederationProtocol.VersionHeader].ToString();
        if (version != FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            await WriteProblem(context, StatusCodes.Status400BadRequest, "Protocol version mismatch",
                $"This coordinator speaks federation protocol version {FederationProtocol.Version}; the request says '{(version.Length == 0 ? "none" : version)}'. Upgrade the older side.", "protocol-version");
            return;
        }

        var body = await ReadBody(context.Request);
        var now = time.GetUtcNow();
        var window = TimeSpan.FromSeconds(options.Value.SignatureWindowSeconds);
        var (failure, parameters) = HttpMessageSignatures.Verify(
            context.Request.Headers[HttpMessageSignatures.SignatureInputHeader],
            context.Request.Headers[HttpMessageSignatures.SignatureHeader],
            HttpMessageSignatures.RequestComponents,
            c => RequestComponent(context.Request, c),
            body,
            PublicKeyOf,
            now,
            window);
        if (failure == SignatureFailure.None && parameters is not null && !RememberNonce(parameters, now, window))
        {
            failure = SignatureFailure.Replayed;
        }

        if (failure != SignatureFailure.None)
        {
            metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", failure.ToString()));
            LogRefused(logger, context.Request.Method, context.Request.Path, failure, parameters?.KeyId ?? "-");
            store.Write((c, t) =>
            {
                c.Execute("INSERT INTO events(at, kind, node_id, detail) VALUES (@at, 'auth_failure', @node, @detail)",
                    new { at = now.ToString("O"), node = parameters?.KeyId, detail = $"{failure} {context.Request.Method} {context.Request.Path}" }, t);
                audit.Append(c, t, CoordinatorAuditRecords.AuthenticationFailure(failure.ToString(), context.Request.Method, context.Request.Path.Value ?? "/", parameters?.KeyId), now);
            });
            await Refuse(context, failure, parameters);
            return;
        }

        context.Items[SigningKeyItem] = PublicKeyOf(parameters!.KeyId);
        if (!parameters.KeyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal))
        {
            context.Items[NodeIdItem] = new NodeId(parameters.KeyId);
            // The node's audit head, only when its signature covers it; a new head is kept (never overwritten).
            var head = parameters.Components.Contains(FederationProtocol.AuditHeadComponent, StringComparer.Ordinal)
                ? FederationProtocol.ParseAuditHead(context.Request.Headers[FederationProtocol.AuditHeadHeader].ToString())
                : null;
            store.Write((c, t) =>
            {
                c.Execute("UPDATE nodes SET last_seen_at=@at, protocol_version=@v WHERE node_id=@id",
                    new { at = now.ToString("O"), v = FederationProtocol.Version, id = parameters.KeyId }, t);
                if (head is { Seq: > 0 } h)
                {
                    c.Execute("INSERT OR IGNORE INTO node_audit_heads(node_id, seq, sha256, received_at) VALUES (@id, @seq, @sha, @at)",
                        new { id = parameters.KeyId, seq = h.Seq, sha = h.Sha256, at = now.ToString("O") }, t);
                }
            });
        }

        await SignResponse(context, parameters.Nonce, next.Invoke);
    }

    /// <summary>
    /// The 401 problem for a refused signature. When the signature's parameters could be read it is signed like every
    /// response (with the request's nonce), and names the key id refused and the fingerprint of the key held for that
    /// node, so a node can trust that it was refused and tell why: revoked, unknown, or signing with a key the
    /// coordinator no longer holds (a rotation, or a stale backup of its directory). Fingerprints of public keys
    /// reveal nothing an enrolled node cannot already read (GET /v1/node/nodes).
    /// </summary>
    private async Task Refuse(HttpContext context, SignatureFailure failure, SignatureParameters? parameters)
    {
        var keyId = parameters?.KeyId;
        var node = keyId is null || keyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal)
            ? default
            : store.Read(c => c.QuerySingleOrDefault<(string? public_key, long revoked)>("SELECT public_key, revoked FROM nodes WHERE node_id=@keyId", new { keyId }));
        var revoked = failure == SignatureFailure.UnknownKey && node.public_key is not null && node.revoked != 0;
        var extensions = new Dictionary<string, object?> { [NodeAuthenticationProblem.KeyIdMember] = keyId };
        if (failure == SignatureFailure.BadSignature && node.public_key is not null && node.revoked == 0)
        {
            extensions[NodeAuthenticationProblem.EnrolledKeyMember] = KeyRotationStatement.Fingerprint(node.public_key);
        }

        Task Write(HttpContext http) => revoked
            ? WriteProblem(http, StatusCodes.Status401Unauthorized, "Node revoked", "This node's enrollment was revoked by the ACO: the coordinator refuses its requests. Ask the ACO; a revoked node enrolls again only as a new node.", NodeAuthenticationProblem.Revoked, extensions)
            : WriteProblem(http, StatusCodes.Status401Unauthorized, "Request signature refused", Explain(failure), "signature-" + failure.ToString().ToLowerInvariant(), extensions);
        if (parameters is null)
        {
            await Write(context);
            return;
        }

        await SignResponse(context, parameters.Nonce, Write);
    }

    private string? PublicKeyOf(string keyId) => keyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal)
        ? keyId[EnrollKeyPrefix.Length..]
        : store.Read(c => c.ExecuteScalar<string?>("SELECT public_key FROM nodes WHERE node_id=@keyId AND revoked=0", new { keyId }));

    private bool RememberNonce(SignatureParameters parameters, DateTimeOffset now, TimeSpan window) =>
        store.Write((c, t) =>
        {
            c.Execute("DELETE FROM nonces WHERE expires_at < @now", new { now = now.ToUnixTimeSeconds() }, t);
            return c.Execute("INSERT OR IGNORE INTO nonces(key_id, nonce, expires_at) VALUES (@k, @n, @e)",
                new { k = parameters.KeyId, n = parameters.Nonce, e = parameters.Created + (long)window.TotalSeconds + 1 }, t) == 1;
        });

    private async Task SignResponse(HttpContext context, string requestNonce, Func<HttpContext, Task> write)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await write(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        var body = buffer.ToArray();
        var response = context.Response;
        response.Headers[FederationProtocol.VersionHeader] = FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers[ContentDigest.HeaderName] = ContentDigest.Compute(body);
        var parameters = new SignatureParameters(HttpMessageSignatures.ResponseComponents, time.GetUtcNow().ToUnixTimeSeconds(), CoordinatorKeys.KeyId, requestNonce, HttpMessageSignatures.Algorithm);
        var (input, signature) = HttpMessageSignatures.Sign(keys.Identity, parameters, HttpMessageSignatures.ResponseResolver(
            response.StatusCode, context.Request.Method, context.Request.Path.Value ?? "/", context.Request.Headers[HttpMessageSignatures.SignatureHeader].ToString(), c => response.Headers[c].ToString()));
        response.Headers[HttpMessageSignatures.SignatureInputHeader] = input;
        response.Headers[HttpMessageSignatures.SignatureHeader] = signature;
        response.ContentLength = body.Length;
        if (body.Length > 0)
        {
            // Kestrel refuses any write, even an empty one, to a 204 response: every signed 204 (a decision, a contribution)
            // used to log an unhandled InvalidOperationException after its response had been sent.
            await original.WriteAsync(body);
        }
    }

    internal static string? RequestComponent(HttpRequest request, string component) => component switch
    {
        "@method" => request.Method,
        "@path" => request.Path.Value ?? "/",
        "@query" => request.QueryString.HasValue ? request.QueryString.Value : "?",
        _ => request.Headers[component].Count == 0 ? null : request.Headers[component].ToString(),
    };

    private static async Task<byte[]> ReadBody(HttpRequest request)
    {
        request.EnableBuffering();
        using var copy = new MemoryStream();
        await request.Body.CopyToAsync(copy);
        request.Body.Position = 0;
        return copy.ToArray();
    }

    private static string Explain(SignatureFailure failure) => failure switch
    {
        SignatureFailure.Missing => "The request carries no RFC 9421 Signature and Signature-Input headers.",
        SignatureFailure.Malformed => "The request's signature headers are malformed or use an algorithm other than ed25519.",
        SignatureFailure.MissingComponents => "The signature does not cover @method, @path, @query, content-digest and ftwin-protocol.",
        SignatureFailure.Expired => "The signature's created time is outside the accepted window; check the node's clock.",
        SignatureFailure.UnknownKey => "The key id is not an enrolled node.",
        SignatureFailure.BadSignature => "The signature does not verify under the node's enrolled key.",
        SignatureFailure.DigestMismatch => "The Content-Digest does not match the body.",
        SignatureFailure.Replayed => "This nonce was already used: the request is a replay.",
        _ => failure.ToString(),
    };

    internal static Task WriteProblem(HttpContext context, int status, string title, string detail, string type, IDictionary<string, object?>? extensions = null) =>
        Results.Problem(detail: detail, statusCode: status, title: title, type: NodeAuthenticationProblem.TypePrefix + type, extensions: extensions).ExecuteAsync(context);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} {Path}: signature {Failure} (key id {KeyId})")]
    private static partial void LogRefused(ILogger logger, string method, string path, SignatureFailure failure, string keyId);
}
