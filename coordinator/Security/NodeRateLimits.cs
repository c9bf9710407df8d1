using System.Globalization;
using System.Threading.RateLimiting;
using FederatedTwin.Hosting.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Security;

/// <summary>
/// The coordinator's rate limits (System.Threading.RateLimiting partitioned limiters, as ASP.NET Core's rate limiting uses them; fixed
/// one-minute windows, no queue), applied by <see cref="SignedNodeRequests"/> and the admin API's token filter rather than by the
/// rate limiting middleware, whose options the dashboard's sign-in policy already owns (one middleware, one OnRejected):
/// <list type="bullet">
/// <item>/v1/node requests per source address (<see cref="CoordinatorOptions.NodeRequestsPerMinutePerAddress"/>), before anything
/// is verified, partitioned by <see cref="CountedRefusals.SourceOf"/>;</item>
/// <item>requests per node (<see cref="CoordinatorOptions.NodeRequestsPerMinutePerKey"/>), partitioned by the key id, counted only
/// once the signature verified and the nonce was fresh, so nobody can spend a node's allowance by naming or replaying it;</item>
/// <item>failed authentications per source address (<see cref="CoordinatorOptions.FailedAuthenticationsPerMinutePerAddress"/>: node
/// signatures and admin tokens alike): once spent, the source's node and admin requests are refused unread (429) until the window
/// ends, so a flood of forged requests costs the coordinator a lookup each, not a signature check, a body or an audit entry.</item>
/// </list>
/// Every refusal is 429 problem details with Retry-After (RFC 6585 section 4, RFC 9110 section 10.2.3), counted under its rule
/// (<see cref="RefusalRules"/>).
/// </summary>
public sealed class NodeRateLimits : IDisposable
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly PartitionedRateLimiter<string> _perAddress;
    private readonly PartitionedRateLimiter<string> _perKey;
    private readonly PartitionedRateLimiter<string> _failures;

    public NodeRateLimits(IOptions<CoordinatorOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var o = options.Value;
        _perAddress = PartitionedRateLimiter.Create<string, string>(source => RateLimitPartition.GetFixedWindowLimiter(source, _ => Fixed(o.NodeRequestsPerMinutePerAddress)), StringComparer.Ordinal);
        _perKey = PartitionedRateLimiter.Create<string, string>(key => RateLimitPartition.GetFixedWindowLimiter(key, _ => Fixed(o.NodeRequestsPerMinutePerKey)), StringComparer.Ordinal);
        _failures = PartitionedRateLimiter.Create<string, string>(source => RateLimitPartition.GetFixedWindowLimiter(source, _ => Fixed(o.FailedAuthenticationsPerMinutePerAddress)), StringComparer.Ordinal);
    }

    /// <summary>Seconds until a refused client may try again (the window's length: a fixed window ends within it).</summary>
    public static int RetryAfterSeconds => (int)Window.TotalSeconds;

    /// <summary>Whether <paramref name="source"/> may make one more /v1/node request in this window (and counts it).</summary>
    public bool AllowAddress(string source)
    {
        using var lease = _perAddress.AttemptAcquire(source);
        return lease.IsAcquired;
    }

    /// <summary>Whether the verified node <paramref name="keyId"/> may make one more request in this window (and counts it).</summary>
    public bool AllowKey(string keyId)
    {
        using var lease = _perKey.AttemptAcquire(keyId);
        return lease.IsAcquired;
    }

    /// <summary>Whether <paramref name="source"/> has spent its failed authentications for this window.</summary>
    public bool LockedOut(string source) => _failures.GetStatistics(source) is { CurrentAvailablePermits: <= 0 };

    /// <summary>Counts one failed authentication against <paramref name="source"/>.</summary>
    public void Failed(string source)
    {
        using var lease = _failures.AttemptAcquire(source);
    }

    /// <summary>The 429 problem (RFC 9457) of a rate limit, with Retry-After; the connection is closed when the body was not read.</summary>
    public static Task TooMany(HttpContext context, string rule, string detail)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        context.Response.Headers.Connection = "close";
        return SignedNodeRequests.WriteProblem(context, StatusCodes.Status429TooManyRequests, "Too many requests", detail, rule);
    }

    private static FixedWindowRateLimiterOptions Fixed(int permits) => new()
    {
        PermitLimit = permits,
        Window = Window,
        QueueLimit = 0,
        AutoReplenishment = true,
    };

    public void Dispose()
    {
        _perAddress.Dispose();
        _perKey.Dispose();
        _failures.Dispose();
    }
}
