using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// Middleware for everything under /v1/node: checks the protocol version, verifies the request's RFC 9421 signature against the
/// enrolled node's key (or, for enrollment, the key the request enrolls), refuses replayed nonces, and signs the response with the
/// coordinator's key. A source over its requests per minute is refused first (<see cref="NodeRateLimits"/>, 429). Nothing of the
/// body is read until the headers have passed: its declared length must be within the limit of
/// its endpoint kind (<see cref="NodeRequestBodies"/>, 413 otherwise), the source must not have spent its failed authentications
/// (<see cref="NodeRateLimits"/>, 429), and the signature over the headers, among them Content-Digest, must verify with a fresh
/// nonce (401). Only then is the body read, within its limit and hashed as it streams, and its digest compared with the signed
/// header. A refusal before the body is read closes the connection, so the rest of a large body is never taken in. Failures are
/// problem details (RFC 9457), counted, and audited as counted summaries (<see cref="RequestRefusals"/>).
/// </summary>
public sealed class SignedNodeRequests(
    RequestDelegate next,
    CoordinatorStore store,
    CoordinatorKeys keys,
    RequestRefusals refusals,
    NodeRateLimits limits,
    NodeRequestBodies bodies,
    IOptions<CoordinatorOptions> options,
    TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public const string NodeIdItem = "ftwin.node_id";
    public const string EnrollKeyPrefix = "enroll:";
    private const string SigningKeyItem = "ftwin.signing_key";
    private const string BodyItem = "ftwin.body";

    /// <summary>The public key that signed the current request (for enrollment, the key being enrolled).</summary>
    public static string SignatureKeyOf(HttpContext context) => context.Items[SigningKeyItem] as string ?? string.Empty;

    /// <summary>The verified body of the current request (its digest matched the signed Content-Digest), or null outside /v1/node.</summary>
    public static byte[]? VerifiedBodyOf(HttpContext context) => context.Items[BodyItem] as byte[];

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/v1/node", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }

        var source = CountedRefusals.SourceOf(context);
        if (!limits.AllowAddress(source))
        {
            refusals.Refused(context, RefusalRules.AddressRateLimit, StatusCodes.Status429TooManyRequests);
            await NodeRateLimits.TooMany(context, RefusalRules.AddressRateLimit, "This address sent more node requests in the last minute than the coordinator serves from one address.");
            return;
        }

        var version = context.Request.Headers[FederationProtocol.VersionHeader].ToString();
        if (version != FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            await WriteProblem(context, StatusCodes.Status400BadRequest, "Protocol version mismatch",
                $"This coordinator speaks federation protocol version {FederationProtocol.Version}; the request says '{(version.Length == 0 ? "none" : version)}'. Upgrade the older side.", "protocol-version");
            return;
        }

        var limit = bodies.LimitFor(context.Request);
        if (context.Request.ContentLength > limit)
        {
            await RefuseBody(context, new NodeRequestBodyException(StatusCodes.Status413PayloadTooLarge, RefusalRules.BodyTooLarge, $"The body of this kind of request is limited to {limit} bytes (the protocol's largest message of its kind); this one declares {context.Request.ContentLength}."));
            return;
        }

        if (limits.LockedOut(source))
        {
            refusals.Refused(context, RefusalRules.FailedAuthenticationLimit, StatusCodes.Status429TooManyRequests);
            await NodeRateLimits.TooMany(context, RefusalRules.FailedAuthenticationLimit, "This address failed authentication too often in the last minute; its requests are refused unread until the minute ends.");
            return;
        }

        var now = _clock.GetUtcNow();
        var window = TimeSpan.FromSeconds(options.Value.SignatureWindowSeconds);
        var (failure, parameters) = HttpMessageSignatures.VerifyHeaders(
            context.Request.Headers[HttpMessageSignatures.SignatureInputHeader],
            context.Request.Headers[HttpMessageSignatures.SignatureHeader],
            HttpMessageSignatures.RequestComponents,
            c => RequestComponent(context.Request, c),
            PublicKeyOf,
            now,
            window);
        if (failure == SignatureFailure.None && parameters is not null && !RememberNonce(parameters, now, window))
        {
            failure = SignatureFailure.Replayed;
        }

        if (failure != SignatureFailure.None)
        {
            context.Response.Headers.Connection = "close"; // the body stays unread
            await RefuseSignature(context, failure, parameters, source);
            return;
        }

        // Mutual TLS: an enrolled node's request must come over a connection that presents the certificate it registered (an
        // enrollment's is checked against its own body, NodeGateway.Enroll). Refused like a failed authentication, and signed.
        if (options.Value.RequireClientCertificates && !parameters!.KeyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal)
            && !RegisteredCertificatePresented(context, parameters.KeyId))
        {
            limits.Failed(source);
            refusals.Refused(context, RefusalRules.ClientCertificateMismatch, StatusCodes.Status401Unauthorized);
            context.Response.Headers.Connection = "close"; // the body stays unread
            await SignResponse(context, parameters.Nonce, http => WriteProblem(http, StatusCodes.Status401Unauthorized, "Client certificate refused",
                "This coordinator requires TLS client certificates: the connection must present the certificate whose fingerprint this node registered when it enrolled.", RefusalRules.ClientCertificateMismatch));
            return;
        }

        if (!limits.AllowKey(parameters!.KeyId))
        {
            refusals.Refused(context, RefusalRules.KeyRateLimit, StatusCodes.Status429TooManyRequests);
            await SignResponse(context, parameters.Nonce, http => NodeRateLimits.TooMany(http, RefusalRules.KeyRateLimit, "This node made more requests in the last minute than the coordinator serves one node."));
            return;
        }

        NodeRequestBody body;
        try
        {
            body = await NodeRequestBodies.Read(context, limit);
        }
        catch (NodeRequestBodyException e)
        {
            await RefuseBody(context, e, parameters.Nonce);
            return;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            return; // the client went away
        }

        if (!ContentDigest.MatchesSha256(context.Request.Headers[ContentDigest.HeaderName], body.Sha256))
        {
            await RefuseSignature(context, SignatureFailure.DigestMismatch, parameters, source);
            return;
        }

        context.Items[BodyItem] = body.Bytes;
        context.Request.Body = new MemoryStream(body.Bytes, writable: false);
        context.Items[SigningKeyItem] = PublicKeyOf(parameters.KeyId);
        if (!parameters.KeyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal))
        {
            context.Items[NodeIdItem] = new NodeId(parameters.KeyId);
            // The node's audit head, only when its signature covers it; a new head is kept (never overwritten).
            var head = parameters.Components.Contains(FederationProtocol.AuditHeadComponent, StringComparer.Ordinal)
                ? FederationProtocol.ParseAuditHead(context.Request.Headers[FederationProtocol.AuditHeadHeader].ToString())
                : null;
            store.Write((c, t) =>
            {
                NodeQueries.Seen(c, t, parameters.KeyId, now, FederationProtocol.Version);
                if (head is { Seq: > 0 } h)
                {
                    NodeQueries.RecordAuditHead(c, t, parameters.KeyId, h.Seq, h.Sha256, now);
                }
            });
        }

        await SignResponse(context, parameters.Nonce, next.Invoke);
    }

    /// <summary>A refused signature: counted against the source's failed authentications, recorded, answered 401.</summary>
    private async Task RefuseSignature(HttpContext context, SignatureFailure failure, SignatureParameters? parameters, string source)
    {
        limits.Failed(source);
        refusals.SignatureRefused(context, failure, parameters?.KeyId);
        await Refuse(context, failure, parameters);
    }

    /// <summary>A body over its limit (413), too slow (408) or unreadable (400): recorded under its rule; signed when the request was.</summary>
    private async Task RefuseBody(HttpContext context, NodeRequestBodyException e, string? nonce = null)
    {
        refusals.Refused(context, e.Rule, e.Status);
        context.Response.Headers.Connection = "close";
        Task Write(HttpContext http) => WriteProblem(http, e.Status, e.Status switch
        {
            StatusCodes.Status413PayloadTooLarge => "Request body too large",
            StatusCodes.Status408RequestTimeout => "Request body too slow",
            _ => "Request body unreadable",
        }, e.Message, e.Rule);
        if (nonce is null)
        {
            await Write(context);
            return;
        }

        await SignResponse(context, nonce, Write);
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
            : store.Read(c => NodeQueries.KeyState(c, keyId));
        var revoked = failure == SignatureFailure.UnknownKey && node is not null && node.revoked != 0;
        var extensions = new Dictionary<string, object?> { [NodeAuthenticationProblem.KeyIdMember] = keyId };
        if (failure == SignatureFailure.BadSignature && node is not null && node.revoked == 0)
        {
            extensions[NodeAuthenticationProblem.EnrolledKeyMember] = KeyRotationStatement.Fingerprint(node.public_key);
        }

        Task Write(HttpContext http) => revoked
            ? WriteProblem(http, StatusCodes.Status401Unauthorized, "Node revoked", "This node's enrollment was revoked by the ACO: the coordinator refuses its requests. Ask the ACO; a revoked node enrolls again only as a new node.", NodeAuthenticationProblem.Revoked, extensions)
            : WriteProblem(http, StatusCodes.Status401Unauthorized, "Request signature refused", Explain(failure), "signature-" + failure.ToString().ToLowerInvariant(), extensions);
        // A signed answer covers the request's signature (RFC 9421 section 2.4): a Signature header without one ("sig1=") cannot
        // be covered, and signing it threw (a 500 for an unauthenticated caller); such a request gets its refusal unsigned.
        if (parameters is null || HttpMessageSignatures.SignatureMember(context.Request.Headers[HttpMessageSignatures.SignatureHeader], HttpMessageSignatures.Label) is null)
        {
            await Write(context);
            return;
        }

        await SignResponse(context, parameters.Nonce, Write);
    }

    private bool RegisteredCertificatePresented(HttpContext context, string nodeId)
    {
        var presented = CoordinatorTls.ClientCertificateOf(context);
        var registered = store.Read(c => NodeQueries.TlsClientCertificate(c, nodeId));
        return presented is not null && registered is not null
            && System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(presented), System.Text.Encoding.ASCII.GetBytes(registered));
    }

    private string? PublicKeyOf(string keyId) => keyId.StartsWith(EnrollKeyPrefix, StringComparison.Ordinal)
        ? keyId[EnrollKeyPrefix.Length..]
        : store.Read(c => NodeQueries.ActiveKey(c, null, keyId));

    private bool RememberNonce(SignatureParameters parameters, DateTimeOffset now, TimeSpan window) =>
        store.Write((c, t) => NodeQueries.RememberNonce(c, t, parameters.KeyId, parameters.Nonce, parameters.Created + (long)window.TotalSeconds + 1, now.ToUnixTimeSeconds()));

    /// <summary>Set while a response is written for signing: an endpoint may then hand over a <see cref="PreparedBody"/> instead of writing.</summary>
    internal const string SignsResponseItem = "ftwin.signs-response";

    /// <summary>Where an endpoint hands its <see cref="PreparedBody"/> to the signer.</summary>
    internal const string PreparedBodyItem = "ftwin.prepared-body";

    private async Task SignResponse(HttpContext context, string requestNonce, Func<HttpContext, Task> write)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        context.Items[SignsResponseItem] = true;
        try
        {
            await write(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        // A prepared body (an announcement, made once per attempt) is signed as it is: the same bytes and digest for every request.
        var prepared = buffer.Length == 0 ? context.Items[PreparedBodyItem] as PreparedBody : null;
        var body = prepared?.Bytes ?? buffer.ToArray();
        var response = context.Response;
        response.Headers[FederationProtocol.VersionHeader] = FederationProtocol.Version.ToString(System.Globalization.CultureInfo.InvariantCulture);
        response.Headers[ContentDigest.HeaderName] = prepared?.ContentDigest ?? ContentDigest.Compute(body);
        var parameters = new SignatureParameters(HttpMessageSignatures.ResponseComponents, _clock.GetUtcNow().ToUnixTimeSeconds(), CoordinatorKeys.KeyId, requestNonce, HttpMessageSignatures.Algorithm);
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

    private static string Explain(SignatureFailure failure) => failure switch
    {
        SignatureFailure.Missing => "The request carries no RFC 9421 Signature and Signature-Input headers.",
        SignatureFailure.Malformed => "The request's signature headers are malformed (the nonce must be 1 to 128 base64url characters) or use an algorithm other than ed25519.",
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
}
