using System.Security.Cryptography;

namespace FederatedTwin.Protocol.Federation;

/// <summary>The Content-Digest header of RFC 9530 (§2), with sha-256 only (its §5 lists sha-256 and sha-512 as active).</summary>
public static class ContentDigest
{
    public const string HeaderName = "Content-Digest";

    public static string Compute(ReadOnlySpan<byte> body) => "sha-256=:" + Convert.ToBase64String(SHA256.HashData(body)) + ":";

    /// <summary>True when the header holds a sha-256 member equal to the body's digest.</summary>
    public static bool Matches(string? header, ReadOnlySpan<byte> body) => MatchesSha256(header, SHA256.HashData(body));

    /// <summary>True when the header holds a sha-256 member equal to <paramref name="sha256"/> (a digest computed while the body streamed in).</summary>
    public static bool MatchesSha256(string? header, ReadOnlySpan<byte> sha256)
    {
        if (string.IsNullOrEmpty(header))
        {
            return false;
        }

        var expected = "sha-256=:" + Convert.ToBase64String(sha256) + ":";
        foreach (var member in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (member.StartsWith("sha-256=", StringComparison.Ordinal))
            {
                return CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(member), System.Text.Encoding.ASCII.GetBytes(expected));
            }
        }

        return false;
    }
}
