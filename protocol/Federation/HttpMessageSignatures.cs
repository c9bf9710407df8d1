using System.Globalization;
using System.Text;

namespace FederatedTwin.Protocol.Federation;

/// <summary>Why a message signature was refused.</summary>
public enum SignatureFailure
{
    None,
    Missing,
    Malformed,
    UnknownKey,
    BadSignature,
    Expired,
    Replayed,
    DigestMismatch,
    MissingComponents,
}

/// <summary>The parsed Signature-Input of one signature (RFC 9421 §4.1).</summary>
public sealed record SignatureParameters(IReadOnlyList<string> Components, long Created, string KeyId, string Nonce, string Algorithm)
{
    /// <summary>The serialized inner list with its parameters, exactly as it is covered by "@signature-params" (§2.3).</summary>
    public string Serialize() =>
        "(" + string.Join(' ', Components.Select(HttpMessageSignatures.Identifier)) + ")"
        + $";created={Created.ToString(CultureInfo.InvariantCulture)};keyid=\"{KeyId}\";nonce=\"{Nonce}\";alg=\"{Algorithm}\"";

    /// <summary>Parses `sig1=(...);created=..;keyid="..";nonce="..";alg=".."`; null when malformed.</summary>
    public static SignatureParameters? Parse(string? header, out string label)
    {
        label = string.Empty;
        if (string.IsNullOrEmpty(header))
        {
            return null;
        }

        var eq = header.IndexOf('=', StringComparison.Ordinal);
        var open = header.IndexOf('(', StringComparison.Ordinal);
        var close = header.IndexOf(')', StringComparison.Ordinal);
        if (eq <= 0 || open != eq + 1 || close < open)
        {
            return null;
        }

        label = header[..eq];
        var components = new List<string>();
        foreach (var item in header[(open + 1)..close].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            // "name" then its parameters (§2.1: ;req, ;key="member"), kept as written after the unquoted name.
            var endQuote = item.Length > 1 && item[0] == '"' ? item.IndexOf('"', 1) : -1;
            if (endQuote < 2 || !HttpMessageSignatures.ValidComponentParameters(item[(endQuote + 1)..]))
            {
                return null;
            }

            components.Add(item[1..endQuote] + item[(endQuote + 1)..]);
        }

        long? created = null;
        string? keyId = null, nonce = null, alg = null;
        foreach (var param in header[(close + 1)..].Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var kv = param.Split('=', 2);
            if (kv.Length != 2)
            {
                return null;
            }

            var value = kv[1].Trim('"');
            switch (kv[0])
            {
                case "created" when long.TryParse(kv[1], NumberStyles.None, CultureInfo.InvariantCulture, out var c):
                    created = c;
                    break;
                case "keyid":
                    keyId = value;
                    break;
                case "nonce":
                    nonce = value;
                    break;
                case "alg":
                    alg = value;
                    break;
                default:
                    return null;
            }
        }

        return created is null || keyId is null || nonce is null || alg is null ? null : new SignatureParameters(components, created.Value, keyId, nonce, alg);
    }
}

/// <summary>
/// HTTP Message Signatures (RFC 9421) with Ed25519 (§3.3.6), as both services use them. A request
/// covers "@method", "@path", "@query", "content-digest" (RFC 9530) and "ftwin-protocol"; a response
/// covers "@status", "content-digest", "ftwin-protocol", the request's "@method";req and "@path";req,
/// and the request's own signature, "signature";req;key="sig1" (§2.4, §7.3.7), and repeats the request's
/// nonce. The nonce alone would not bind a response to its request: an enrolled node on the path could
/// send its own request with a victim's nonce and hand the victim the signed answer meant for itself.
/// Covering the request's signature, which only the victim's key could have made, closes that. Replay
/// of requests is stopped by the verifier remembering nonces for the window in which "created" is accepted.
/// </summary>
public static class HttpMessageSignatures
{
    public const string SignatureHeader = "Signature";
    public const string SignatureInputHeader = "Signature-Input";
    public const string Label = "sig1";
    public const string Algorithm = "ed25519";

    public static readonly IReadOnlyList<string> RequestComponents = ["@method", "@path", "@query", "content-digest", "ftwin-protocol"];
    /// <summary>The request's signature as a response covers it (§2.4): the Signature dictionary's member for our label.</summary>
    public const string RequestSignatureComponent = "signature;req;key=\"" + Label + "\"";

    public static readonly IReadOnlyList<string> ResponseComponents = ["@status", "content-digest", "ftwin-protocol", "@method;req", "@path;req", RequestSignatureComponent];

    /// <summary>A component identifier as it is serialized (§2.1): the name quoted, then its parameters.</summary>
    public static string Identifier(string component)
    {
        ArgumentNullException.ThrowIfNull(component);
        var semicolon = component.IndexOf(';', StringComparison.Ordinal);
        return semicolon < 0 ? $"\"{component}\"" : $"\"{component[..semicolon]}\"{component[semicolon..]}";
    }

    /// <summary>The parameters this implementation understands on a component: none, ";req", ";key=\"label\"" or both, in that order.</summary>
    internal static bool ValidComponentParameters(string parameters) =>
        parameters.Length == 0 || parameters == ";req" || System.Text.RegularExpressions.Regex.IsMatch(parameters, "^(;req)?;key=\"[a-z0-9]{1,32}\"$");

    /// <summary>
    /// The values of a response's covered components (<see cref="ResponseComponents"/>), the same for the coordinator that signs and
    /// the node that verifies: the status, the request's method, path and own signature, and the response's headers by name.
    /// </summary>
    public static ComponentResolver ResponseResolver(int status, string requestMethod, string requestPath, string? requestSignatureHeader, Func<string, string?> responseHeader)
    {
        ArgumentNullException.ThrowIfNull(responseHeader);
        return c => c switch
        {
            "@status" => status.ToString(CultureInfo.InvariantCulture),
            "@method;req" => requestMethod,
            "@path;req" => requestPath,
            RequestSignatureComponent => SignatureMember(requestSignatureHeader, Label),
            _ => responseHeader(c),
        };
    }

    /// <summary>The member of a Signature header (a structured-field dictionary) for one label, serialized as §2.1.3 covers it: ":base64:".</summary>
    public static string? SignatureMember(string? signatureHeader, string label)
    {
        if (string.IsNullOrEmpty(signatureHeader))
        {
            return null;
        }

        foreach (var member in signatureHeader.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (member.StartsWith(label + "=:", StringComparison.Ordinal) && member.EndsWith(':'))
            {
                return member[(label.Length + 1)..];
            }
        }

        return null;
    }

    /// <summary>The values of the covered components of a message, looked up by component name.</summary>
    public delegate string? ComponentResolver(string component);

    /// <summary>The signature base of §2.5: one line per covered component, then "@signature-params".</summary>
    public static string SignatureBase(SignatureParameters parameters, ComponentResolver resolve)
    {
        var builder = new StringBuilder();
        foreach (var component in parameters.Components)
        {
            var value = resolve(component) ?? throw new InvalidOperationException($"Component {component} is not present.");
            builder.Append(Identifier(component)).Append(": ").Append(value).Append('\n');
        }

        builder.Append("\"@signature-params\": ").Append(parameters.Serialize());
        return builder.ToString();
    }

    /// <summary>Signs: returns the Signature-Input and Signature header values.</summary>
    public static (string SignatureInput, string Signature) Sign(Ed25519Identity key, SignatureParameters parameters, ComponentResolver resolve)
    {
        var signatureBase = Encoding.UTF8.GetBytes(SignatureBase(parameters, resolve));
        var signature = key.Sign(signatureBase);
        return ($"{Label}={parameters.Serialize()}", $"{Label}=:{Convert.ToBase64String(signature)}:");
    }

    /// <summary>
    /// Verifies a message's signature: required components covered, created within the window,
    /// key known, Ed25519 signature valid over the reconstructed base, body digest equal. The
    /// caller checks the nonce against its replay store.
    /// </summary>
    public static (SignatureFailure Failure, SignatureParameters? Parameters) Verify(
        string? signatureInput,
        string? signature,
        IReadOnlyList<string> requiredComponents,
        ComponentResolver resolve,
        ReadOnlySpan<byte> body,
        Func<string, string?> publicKeyOf,
        DateTimeOffset now,
        TimeSpan window)
    {
        var (failure, parameters) = VerifyHeaders(signatureInput, signature, requiredComponents, resolve, publicKeyOf, now, window);
        return failure != SignatureFailure.None ? (failure, parameters)
            : ContentDigest.Matches(resolve("content-digest"), body) ? (SignatureFailure.None, parameters) : (SignatureFailure.DigestMismatch, parameters);
    }

    /// <summary>
    /// Everything <see cref="Verify"/> checks that does not need the body: the signature's parameters (nonce syntax included),
    /// components, age, key and the Ed25519 signature over the covered components, among them the Content-Digest header, which a
    /// valid signature therefore fixes. A verifier that checks this before it reads a body (RFC 9421 section 7.2.8 warns that
    /// signatures invite work before authentication) reads only what the signer committed to; it then compares the body's
    /// digest with <see cref="ContentDigest.MatchesSha256"/>.
    /// </summary>
    public static (SignatureFailure Failure, SignatureParameters? Parameters) VerifyHeaders(
        string? signatureInput,
        string? signature,
        IReadOnlyList<string> requiredComponents,
        ComponentResolver resolve,
        Func<string, string?> publicKeyOf,
        DateTimeOffset now,
        TimeSpan window)
    {
        ArgumentNullException.ThrowIfNull(requiredComponents);
        ArgumentNullException.ThrowIfNull(resolve);
        ArgumentNullException.ThrowIfNull(publicKeyOf);
        if (string.IsNullOrEmpty(signatureInput) || string.IsNullOrEmpty(signature))
        {
            return (SignatureFailure.Missing, null);
        }

        var parameters = SignatureParameters.Parse(signatureInput, out var label);
        var prefix = label + "=:";
        // "label=:" alone starts with the prefix and ends with its colon: there must be a signature between two colons (found by
        // the signature fuzz target: the slice below had a negative length, a 500 for an unauthenticated caller).
        if (parameters is null || parameters.Algorithm != Algorithm || !ValidNonce(parameters.Nonce) || !signature.StartsWith(prefix, StringComparison.Ordinal)
            || signature.Length <= prefix.Length + 1 || !signature.EndsWith(':'))
        {
            return (SignatureFailure.Malformed, parameters);
        }

        if (requiredComponents.Any(c => !parameters.Components.Contains(c)))
        {
            return (SignatureFailure.MissingComponents, parameters);
        }

        var age = now.ToUnixTimeSeconds() - parameters.Created;
        if (age > window.TotalSeconds || age < -window.TotalSeconds)
        {
            return (SignatureFailure.Expired, parameters);
        }

        var publicKey = publicKeyOf(parameters.KeyId);
        if (publicKey is null)
        {
            return (SignatureFailure.UnknownKey, parameters);
        }

        byte[] signatureBytes;
        string signatureBase;
        try
        {
            signatureBytes = Convert.FromBase64String(signature[prefix.Length..^1]);
            signatureBase = SignatureBase(parameters, resolve);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            return (SignatureFailure.Malformed, parameters);
        }

        return Ed25519Identity.Verify(publicKey, Encoding.UTF8.GetBytes(signatureBase), signatureBytes) ? (SignatureFailure.None, parameters) : (SignatureFailure.BadSignature, parameters);
    }

    /// <summary>
    /// A nonce as <see cref="NewNonce"/> makes them (22 characters) or any other of 1 to 128 base64url characters (RFC 4648
    /// section 5): short enough for the replay store, and nothing a log, a header or SQL could misread. Its uniqueness is the
    /// signer's concern (a reused nonce is refused as a replay).
    /// </summary>
    public static bool ValidNonce(string nonce) =>
        nonce is { Length: >= 1 and <= 128 } && nonce.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string NewNonce() => Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
