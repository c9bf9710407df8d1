using System.Net;

namespace FederatedTwin.Hosting.Security;

/// <summary>A peer URL the transport policy refuses (<see cref="UrlPolicy"/>); its message starts with "https required".</summary>
public sealed class InsecureUrlException(string message) : Exception(message);

/// <summary>
/// Which peer URLs a node or the CLI may talk to: https everywhere, plain http only to this host's loopback interface
/// (127.0.0.0/8, ::1 and the name "localhost", which RFC 6761 section 6.3 reserves for loopback), where the demo and the
/// tests run. Everything that crosses the network carries an enrollment token, an admin token or a node's signed traffic,
/// and RFC 9110 section 4.2.2 leaves http with no confidentiality or integrity at all.
/// The decision is made on the URL's text alone: no name is looked up and nothing is connected, so a caller checks it
/// before it reads a node directory, a pinned key or a token, and before it opens any connection. One rule, used by
/// `ftwin node enroll`, `ftwin study|model ...`, the node's worker and key rotation, and the admin client.
/// </summary>
public static class UrlPolicy
{
    /// <summary>The words every refusal starts with (scripts and tests look for them).</summary>
    public const string HttpsRequired = "https required";

    /// <summary>Whether the URL's host is this machine's loopback interface, decided without a name lookup.</summary>
    public static bool IsLoopback(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (string.Equals(url.Host, "localhost", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (url.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6) || !IPAddress.TryParse(url.Host.Trim('[', ']'), out var address))
        {
            return false; // a name: only a lookup could tell, and a lookup is what this rule must not need
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return IPAddress.IsLoopback(address); // 127.0.0.0/8 and ::1
    }

    /// <summary>Null when <paramref name="url"/> may be used; otherwise the one-line reason, starting with "https required".</summary>
    /// <param name="url">An absolute URL.</param>
    /// <param name="what">What the URL addresses, for the message ("the coordinator URL", "--coordinator").</param>
    public static string? Refusal(Uri url, string what)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (url.Scheme == Uri.UriSchemeHttps || (url.Scheme == Uri.UriSchemeHttp && IsLoopback(url)))
        {
            return null;
        }

        return url.Scheme == Uri.UriSchemeHttp
            ? $"{HttpsRequired}: {what} {url.GetLeftPart(UriPartial.Authority)} is not on this host's loopback interface, and plain http would carry tokens and signed traffic in the clear; use https://{url.Authority}"
            : $"{HttpsRequired}: {what} uses the scheme '{url.Scheme}'; only https (or http on loopback) is spoken";
    }

    /// <summary>Throws <see cref="InsecureUrlException"/> unless <paramref name="url"/> may be used; returns it otherwise.</summary>
    public static Uri Require(Uri url, string what) =>
        Refusal(url, what) is { } refusal ? throw new InsecureUrlException(refusal) : url;
}
