using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Http;
using System.Data.Common;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// Every refusal the coordinator makes before it serves a request, recorded the same way: counted in metrics always; audited,
/// logged and (for signatures) written to the events table for the first of its rule and source in an interval, and as one
/// counted summary for the rest (<see cref="CountedRefusals"/>). Rules: a <see cref="SignatureFailure"/> name for node
/// signatures (action authentication_failure), <see cref="CoordinatorAuditRecords.AdminTokenRule"/> for admin tokens
/// (admin_authentication_failure), and the <see cref="RefusalRules"/> for the rest (request_refused).
/// </summary>
public sealed partial class RequestRefusals(
    CoordinatorStore store,
    CoordinatorAuditTrail audit,
    CoordinatorMetrics metrics,
    IOptions<CoordinatorOptions> options,
    ILogger<RequestRefusals> logger,
    TimeProvider time)
{
    private readonly CountedRefusals _counts = new(time, TimeSpan.FromSeconds(options.Value.RefusalAuditIntervalSeconds));

    /// <summary>How often ended intervals are summarised when no new refusal closes them.</summary>
    public TimeSpan Interval => _counts.Interval;

    /// <summary>A node request whose signature failed <paramref name="failure"/>.</summary>
    public void SignatureRefused(HttpContext context, SignatureFailure failure, string? keyId)
    {
        ArgumentNullException.ThrowIfNull(context);
        metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", failure.ToString()));
        var source = CountedRefusals.SourceOf(context);
        var (method, path) = (context.Request.Method, context.Request.Path.Value ?? "/");
        var first = _counts.Count(AuditActions.AuthenticationFailure, failure.ToString(), source, out var closed);
        if (first)
        {
            LogSignatureRefused(logger, method, path, failure, keyId ?? "-", source);
        }

        Record(closed, first ? (c, t, now) =>
        {
            EventQueries.Append(c, t, now, "auth_failure", null, keyId, $"{failure} {method} {path}");
            audit.Append(c, t, CoordinatorAuditRecords.AuthenticationFailure(failure.ToString(), method, path, keyId, source), now);
        } : null);
    }

    /// <summary>An admin API request with a wrong or missing bearer token.</summary>
    public void AdminTokenRefused(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        metrics.AuthenticationFailures.Add(1, new KeyValuePair<string, object?>("reason", CoordinatorAuditRecords.AdminTokenRule));
        var source = CountedRefusals.SourceOf(context);
        var (method, path) = (context.Request.Method, context.Request.Path.Value ?? "/");
        var first = _counts.Count(AuditActions.AdminAuthenticationFailure, CoordinatorAuditRecords.AdminTokenRule, source, out var closed);
        if (first)
        {
            LogAdminRefused(logger, method, path, source);
        }

        Record(closed, first ? (c, t, now) => audit.Append(c, t, CoordinatorAuditRecords.AdminAuthenticationFailure(method, path, source), now) : null);
    }

    /// <summary>A request refused with <paramref name="status"/> under <paramref name="rule"/> (one of <see cref="RefusalRules"/>).</summary>
    public void Refused(HttpContext context, string rule, int status)
    {
        ArgumentNullException.ThrowIfNull(context);
        metrics.RequestsRefused.Add(1, new KeyValuePair<string, object?>("rule", rule));
        var source = CountedRefusals.SourceOf(context);
        var (method, path) = (context.Request.Method, context.Request.Path.Value ?? "/");
        var first = _counts.Count(AuditActions.RequestRefused, rule, source, out var closed);
        if (first)
        {
            LogRequestRefused(logger, method, path, status, rule, source);
        }

        Record(closed, first ? (c, t, now) => audit.Append(c, t, CoordinatorAuditRecords.RequestRefused(rule, status, method, path, source), now) : null);
    }

    /// <summary>Records the summaries of the intervals that ended (all of them when the service stops).</summary>
    public void Flush(bool all) => Record(_counts.Close(all), null);

    private void Record(IReadOnlyList<RefusalSummary> closed, Action<DbConnection, DbTransaction, DateTimeOffset>? first)
    {
        if (closed.Count == 0 && first is null)
        {
            return;
        }

        var now = time.GetUtcNow();
        store.Write((c, t) =>
        {
            foreach (var summary in closed)
            {
                audit.Append(c, t, CoordinatorAuditRecords.RefusalsRepeated(summary), now);
            }

            first?.Invoke(c, t, now);
        });
        foreach (var summary in closed)
        {
            LogRepeated(logger, summary.Repeats, summary.Action, summary.Rule, summary.Source);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} {Path}: signature {Failure} (key id {KeyId}, from {Source}); repeats in this interval are counted")]
    private static partial void LogSignatureRefused(ILogger logger, string method, string path, SignatureFailure failure, string keyId, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} {Path}: wrong or missing admin token (from {Source}); repeats in this interval are counted")]
    private static partial void LogAdminRefused(ILogger logger, string method, string path, string source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refused {Method} {Path} with {Status} [{Rule}] (from {Source}); repeats in this interval are counted")]
    private static partial void LogRequestRefused(ILogger logger, string method, string path, int status, string rule, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Repeats} more {Action} [{Rule}] from {Source} in the last interval")]
    private static partial void LogRepeated(ILogger logger, long repeats, string action, string rule, string source);
}

/// <summary>The rules of request_refused entries (and the type suffix of their problem details).</summary>
public static class RefusalRules
{
    /// <summary>The body (declared or read) exceeds its endpoint kind's limit: 413.</summary>
    public const string BodyTooLarge = "body-too-large";

    /// <summary>The body arrived slower than Kestrel's minimum data rate: 408.</summary>
    public const string BodyTooSlow = "body-too-slow";

    /// <summary>The body could not be read (the connection broke, chunking was malformed): 400.</summary>
    public const string BodyUnreadable = "body-unreadable";

    /// <summary>The source sent more /v1/node requests in the window than its address may: 429.</summary>
    public const string AddressRateLimit = "rate-limit-address";

    /// <summary>The node (verified key id) sent more requests in the window than one node may: 429.</summary>
    public const string KeyRateLimit = "rate-limit-key";

    /// <summary>The source failed authentication more often in the window than it may: refused unread until the window ends: 429.</summary>
    public const string FailedAuthenticationLimit = "rate-limit-failed-authentication";

    /// <summary>The admin API asked on the node listener, or anything but the admin API on the admin listener: 404.</summary>
    public const string WrongListener = "wrong-listener";

    /// <summary>
    /// Client certificates are required and the connection did not present the one the node registered in its enrollment (or, for an
    /// enrollment, the one its body carries): 401.
    /// </summary>
    public const string ClientCertificateMismatch = "client-certificate-mismatch";

    /// <summary>An enrollment whose MAC does not verify under the token's key over its node key, coordinator key and TLS fingerprint (a request copied and replayed with another key): 401.</summary>
    public const string EnrollmentMacMismatch = "enrollment-mac-mismatch";

    /// <summary>An enrollment with a token issued before enrollment was bound to keys (its store row keeps no key to check a MAC with): 401.</summary>
    public const string EnrollmentTokenLegacy = "enrollment-token-legacy";
}

/// <summary>Writes the summaries of ended intervals while no new refusal arrives to close them.</summary>
internal sealed class RequestRefusalsFlusher(RequestRefusals refusals, TimeProvider time) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = refusals.Interval / 2;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            refusals.Flush(all: false);
        }
    }
}
