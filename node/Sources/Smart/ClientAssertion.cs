using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FederatedTwin.Node.Sources.Smart;

/// <summary>
/// The signed JWT a backend client authenticates with at the token endpoint (RFC 7523 §2.2 and §3, as SMART App Launch v2 "Backend
/// Services" profiles it): a compact JWS (RFC 7515 §7.1) with header alg, kid and typ "JWT", and claims iss = sub = the client id,
/// aud = the token endpoint URL, exp no more than five minutes ahead, iat, and a fresh jti the server keeps to refuse a replay.
/// It is a credential for its lifetime: never logged, printed or stored.
/// </summary>
public static class ClientAssertion
{
    /// <summary>RFC 7523 §2.2's client_assertion_type for a JWT.</summary>
    public const string Type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    /// <summary>How long an assertion is valid: SMART allows at most five minutes; four leaves room for a server's clock ahead of ours.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(4);

    /// <summary>A new assertion for one token request, signed with the node's key (its own random 128-bit jti).</summary>
    public static string Create(SmartClientKey key, string clientId, Uri tokenEndpoint, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(clientId);
        ArgumentNullException.ThrowIfNull(tokenEndpoint);
        var now = (time ?? TimeProvider.System).GetUtcNow().ToUnixTimeSeconds();
        var header = Json(w =>
        {
            w.WriteString("alg", key.Algorithm);
            w.WriteString("kid", key.KeyId);
            w.WriteString("typ", "JWT");
        });
        var claims = Json(w =>
        {
            w.WriteString("iss", clientId);
            w.WriteString("sub", clientId);
            w.WriteString("aud", tokenEndpoint.IsAbsoluteUri ? tokenEndpoint.OriginalString : throw new ArgumentException("The token endpoint must be an absolute URL.", nameof(tokenEndpoint))); // as the server published it: it compares strings
            w.WriteNumber("exp", now + (long)Lifetime.TotalSeconds);
            w.WriteNumber("iat", now);
            w.WriteString("jti", Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16)));
        });
        var signingInput = Base64Url.EncodeToString(header) + "." + Base64Url.EncodeToString(claims);
        return signingInput + "." + Base64Url.EncodeToString(key.Sign(Encoding.ASCII.GetBytes(signingInput)));
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            write(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
