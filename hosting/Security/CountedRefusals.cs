using System.Net;
using Microsoft.AspNetCore.Http;

namespace FederatedTwin.Hosting.Security;

/// <summary>The repeats of one refusal (audit action, rule, source) after the first in one interval, written as one audit entry.</summary>
public sealed record RefusalSummary(string Action, string Rule, string Source, long Repeats, DateTimeOffset From, DateTimeOffset To);

/// <summary>
/// Refusals audited as counted summaries: the first refusal of each (audit action, rule, source) in an interval is recorded
/// in full, with its rule, as before; the ones after it in the same interval are only counted, and when the interval ends
/// the count is recorded once (<see cref="RefusalSummary"/>). A flood of forged or oversized requests then grows the audit
/// trail by a few entries per interval and source instead of one per request, and no refusal goes uncounted (45 CFR
/// 164.312(b) asks for a record of activity, not for one row per packet). Sources beyond <paramref name="maxKeys"/> open
/// windows are counted together under <see cref="OtherSources"/>, so memory stays bounded whatever addresses a flood uses.
/// Thread-safe.
/// </summary>
public sealed class CountedRefusals(TimeProvider time, TimeSpan interval, int maxKeys = 1024)
{
    /// <summary>The source under which refusals are counted once <c>maxKeys</c> windows are open.</summary>
    public const string OtherSources = "other";

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Action, string Rule, string Source), Window> _windows = [];
    private DateTimeOffset _nextEnd = DateTimeOffset.MaxValue;

    public TimeSpan Interval => interval;

    /// <summary>
    /// Counts one refusal. True when it is the first of its (action, rule, source) in the current interval, so the caller
    /// records it in full; false when it is only counted. <paramref name="closed"/> holds the summaries of intervals that
    /// ended (the caller records them too).
    /// </summary>
    public bool Count(string action, string rule, string source, out IReadOnlyList<RefusalSummary> closed)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            closed = CloseEnded(now, all: false);
            var key = (action, rule, source);
            if (!_windows.ContainsKey(key) && _windows.Count >= maxKeys)
            {
                key = (action, rule, OtherSources);
            }

            if (_windows.TryGetValue(key, out var window))
            {
                window.Repeats++;
                return false;
            }

            _windows[key] = new Window(now);
            if (now + interval < _nextEnd)
            {
                _nextEnd = now + interval;
            }

            return true;
        }
    }

    /// <summary>The summaries of the intervals that ended by now (or of every open one when <paramref name="all"/>: the service stops).</summary>
    public IReadOnlyList<RefusalSummary> Close(bool all)
    {
        lock (_gate)
        {
            return CloseEnded(time.GetUtcNow(), all);
        }
    }

    private List<RefusalSummary> CloseEnded(DateTimeOffset now, bool all)
    {
        if (!all && now < _nextEnd)
        {
            return [];
        }

        var closed = new List<RefusalSummary>();
        var next = DateTimeOffset.MaxValue;
        foreach (var (key, window) in _windows.ToList())
        {
            var end = window.Start + interval;
            if (all || end <= now)
            {
                _windows.Remove(key);
                if (window.Repeats > 0)
                {
                    closed.Add(new RefusalSummary(key.Action, key.Rule, key.Source, window.Repeats, window.Start, all && end > now ? now : end));
                }
            }
            else if (end < next)
            {
                next = end;
            }
        }

        _nextEnd = next;
        return closed;
    }

    /// <summary>
    /// Who a refusal is counted against: the peer's IP address, or for IPv6 its /64 (one host can hold a whole /64, RFC 4291
    /// section 2.5.4, so single addresses would let it open a window per request).
    /// </summary>
    public static string SourceOf(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var address = context.Connection.RemoteIpAddress;
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || IPAddress.IsLoopback(address))
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;

        public long Repeats { get; set; }
    }
}
