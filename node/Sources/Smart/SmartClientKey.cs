using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node.Audit;

namespace FederatedTwin.Node.Sources.Smart;

/// <summary>A SMART client key's creation refused (one exists and --replace was not given), or a key that cannot be made or read.</summary>
public sealed class SmartClientKeyException(string message) : Exception(message);

/// <summary>
/// The node's SMART Backend Services client key (SMART App Launch v2, "Backend Services"; RFC 7523 as SMART profiles it): the key
/// whose public half the EHR registers as the node's JWKS, and whose private half signs the client assertions the node trades for
/// Bulk Data access tokens. ES384 (P-384) by default, RS384 (RSA, 3072 bits or more) for EHRs that take only RSA: the two algorithms
/// SMART requires servers to support. The private key is sealed at rest with the node directory's Data Protection key ring, as the
/// pseudonym key and the identity are (<see cref="FileName"/>, owner-only); the public JWKS is derived from it.
/// </summary>
public sealed class SmartClientKey : IDisposable
{
    /// <summary>The sealed key's file in the node directory.</summary>
    public const string FileName = "smart-client.key.sealed";

    public const string ES384 = "ES384";

    public const string RS384 = "RS384";

    /// <summary>The smallest RSA modulus accepted: 3072 bits, NIST SP 800-57 Part 1's 128-bit security level (P-384's is 192).</summary>
    public const int MinimumRsaBits = 3072;

    private const int SealedFormatVersion = 1;

    private readonly ECDsa? _ec;
    private readonly RSA? _rsa;
    private readonly Lock _signing = new();

    private SmartClientKey(string algorithm, string keyId, ECDsa? ec, RSA? rsa)
    {
        Algorithm = algorithm;
        KeyId = keyId;
        _ec = ec;
        _rsa = rsa;
    }

    /// <summary>The JWS algorithm the key signs with: "ES384" or "RS384" (RFC 7518 §3.1).</summary>
    public string Algorithm { get; }

    /// <summary>The key id (JWS "kid", RFC 7515 §4.1.4) the EHR finds the key by in the registered JWKS.</summary>
    public string KeyId { get; }

    /// <summary>The sealed key's path in a node directory.</summary>
    public static string PathIn(string nodeDirectory) => Path.Combine(nodeDirectory, FileName);

    /// <summary>Whether the node directory holds a SMART client key.</summary>
    public static bool Exists(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return File.Exists(PathIn(node.Path));
    }

    /// <summary>
    /// Creates the node's SMART client key, seals it in the node directory and audits it (<c>smart_key_created</c>: algorithm and kid,
    /// never key material). Refuses when the directory holds one already unless <paramref name="replace"/>: the EHR knows the old
    /// key's JWKS, and a new key works only once the EHR has the new one.
    /// </summary>
    /// <param name="algorithm">"ES384" (P-384) or "RS384".</param>
    /// <param name="keyId">The kid; null for the key's RFC 7638 JWK thumbprint (SHA-256, base64url).</param>
    /// <param name="replace">Replace an existing key (atomically: the old key is the node's until the new one is in place).</param>
    /// <param name="rsaBits">The RSA modulus size for RS384 (3072 or more).</param>
    public static SmartClientKey Create(NodeDirectory node, string algorithm = ES384, string? keyId = null, bool replace = false, int rsaBits = MinimumRsaBits)
    {
        ArgumentNullException.ThrowIfNull(node);
        algorithm = NormalizeAlgorithm(algorithm);
        if (keyId is not null)
        {
            ValidateKeyId(keyId);
        }

        if (algorithm == RS384 && rsaBits < MinimumRsaBits)
        {
            throw new SmartClientKeyException($"An RS384 key must have at least {MinimumRsaBits} bits (asked for {rsaBits}).");
        }

        var path = PathIn(node.Path);
        var existed = File.Exists(path);
        string? previousKeyId = null;
        if (existed)
        {
            if (!replace)
            {
                throw AlreadyExists(node.Path);
            }

            try
            {
                using var previous = Load(node);
                previousKeyId = previous.KeyId;
            }
            catch (Exception e) when (e is SmartClientKeyException or CryptographicException or JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                previousKeyId = null; // an unreadable key is replaced all the same: that is what --replace is for
            }
        }

        var key = Generate(algorithm, keyId, rsaBits);
        var payload = key.ExportSealedPayload();
        try
        {
            var sealedBytes = node.Protector.Protect(payload);
            if (existed)
            {
                DurableFile.Replace(path, sealedBytes); // atomic: the old key stays the node's until the new one is in place
            }
            else
            {
                DurableFile.CreateOwnerOnly(path, sealedBytes); // CreateNew: a concurrent create loses here instead of overwriting
            }
        }
        catch (IOException) when (!existed && File.Exists(path))
        {
            key.Dispose();
            throw AlreadyExists(node.Path);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payload);
        }

        node.Audit.Append(NodeAuditRecords.SmartKeyCreated(key.Algorithm, key.KeyId, existed, previousKeyId));
        return key;
    }

    /// <summary>A new key in memory only (<see cref="Create"/> seals it; tests sign with it directly).</summary>
    internal static SmartClientKey Generate(string algorithm, string? keyId = null, int rsaBits = MinimumRsaBits)
    {
        algorithm = NormalizeAlgorithm(algorithm);
        if (keyId is not null)
        {
            ValidateKeyId(keyId);
        }

        if (algorithm == RS384 && rsaBits < MinimumRsaBits)
        {
            throw new SmartClientKeyException($"An RS384 key must have at least {MinimumRsaBits} bits (asked for {rsaBits}).");
        }

        return algorithm == ES384
            ? FromKey(algorithm, keyId, ECDsa.Create(ECCurve.NamedCurves.nistP384), null)
            : FromKey(algorithm, keyId, null, RSA.Create(rsaBits));
    }

    /// <summary>The node's SMART client key, unsealed. Throws <see cref="SmartClientKeyException"/> when the directory holds none.</summary>
    public static SmartClientKey Load(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var path = PathIn(node.Path);
        if (!File.Exists(path))
        {
            throw new SmartClientKeyException($"This node has no SMART client key ({FileName}); create one with `ftwin node smart-key create --node-dir {node.Path}` and register its JWKS with the EHR.");
        }

        byte[] payload;
        try
        {
            payload = node.Protector.Unprotect(File.ReadAllBytes(path));
        }
        catch (CryptographicException)
        {
            throw new SmartClientKeyException($"{FileName} cannot be unsealed with this node directory's key ring (keys/): it was not sealed by this node, or the key ring was replaced. Restore both from the same backup, or create a new key with --replace and register it again.");
        }

        try
        {
            return FromSealedPayload(payload);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(payload);
        }
    }

    /// <summary>
    /// The public JWKS to register with the EHR (RFC 7517 §5): one key with kty, crv/x/y (EC, RFC 7518 §6.2) or n/e (RSA, §6.3), kid,
    /// alg, use "sig" and key_ops ["verify"]. Never any private member. (Other assemblies take it as text: <see cref="JwksJson"/>.)
    /// </summary>
    internal JsonObject Jwks() => new() { ["keys"] = new JsonArray(PublicJwk()) };

    /// <summary>The JWKS as compact JSON text (what `ftwin node smart-key create|show` print).</summary>
    public string JwksJson() => Jwks().ToJsonString();

    /// <summary>The RFC 7638 JWK thumbprint of the public key (SHA-256 of its required members in lexicographic order, no whitespace), base64url.</summary>
    public string Thumbprint() => Thumbprint(_ec, _rsa);

    /// <summary>Signs a JWS signing input (RFC 7515 §5.1): ES384 as r‖s, 96 bytes (RFC 7518 §3.4, not DER); RS384 as RSASSA-PKCS1-v1_5 with SHA-384 (§3.3).</summary>
    internal byte[] Sign(ReadOnlySpan<byte> signingInput)
    {
        lock (_signing) // one key may serve several token clients; the platform does not promise a key object is thread-safe
        {
            return _ec is not null
                ? _ec.SignData(signingInput, HashAlgorithmName.SHA384, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                : _rsa!.SignData(signingInput.ToArray(), HashAlgorithmName.SHA384, RSASignaturePadding.Pkcs1);
        }
    }

    public void Dispose()
    {
        _ec?.Dispose();
        _rsa?.Dispose();
    }

    /// <summary>"ES384" or "RS384" (any case); anything else refused with the two the node offers.</summary>
    public static string NormalizeAlgorithm(string algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        return algorithm.ToUpperInvariant() switch
        {
            ES384 => ES384,
            RS384 => RS384,
            _ => throw new SmartClientKeyException($"Unknown SMART client key algorithm '{algorithm}': use ES384 (P-384, the default) or RS384 (RSA), the two SMART Backend Services servers must support."),
        };
    }

    private static void ValidateKeyId(string keyId)
    {
        // RFC 7515 allows any string; the node keeps to the URL-safe characters, so a kid reads the same pasted into any EHR form.
        if (keyId.Length is 0 or > 128 || !keyId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~'))
        {
            throw new SmartClientKeyException("A kid must be 1 to 128 characters of A-Z, a-z, 0-9, '-', '_', '.' and '~'.");
        }
    }

    private static SmartClientKeyException AlreadyExists(string directory) => new(
        $"This node already has a SMART client key ({FileName}); the EHR knows its JWKS. `ftwin node smart-key show --node-dir {directory}` prints it. " +
        "To replace it (rotation), run create again with --replace and register the new JWKS with the EHR: until then the EHR refuses the node's token requests.");

    private static SmartClientKey FromKey(string algorithm, string? keyId, ECDsa? ec, RSA? rsa) =>
        new(algorithm, keyId ?? Thumbprint(ec, rsa), ec, rsa);

    internal static string Thumbprint(ECDsa? ec, RSA? rsa)
    {
        // RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
        string canonical;
        if (ec is not null)
        {
            var p = ec.ExportParameters(includePrivateParameters: false);
            canonical = $"{{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"{Base64Url.EncodeToString(p.Q.X)}\",\"y\":\"{Base64Url.EncodeToString(p.Q.Y)}\"}}";
        }
        else
        {
            var p = rsa!.ExportParameters(includePrivateParameters: false);
            canonical = $"{{\"e\":\"{Base64Url.EncodeToString(Unsigned(p.Exponent!))}\",\"kty\":\"RSA\",\"n\":\"{Base64Url.EncodeToString(Unsigned(p.Modulus!))}\"}}";
        }

        return Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    private JsonObject PublicJwk()
    {
        var jwk = new JsonObject();
        if (_ec is not null)
        {
            var p = _ec.ExportParameters(includePrivateParameters: false);
            jwk["kty"] = "EC";
            jwk["crv"] = "P-384";
            jwk["x"] = Base64Url.EncodeToString(p.Q.X);
            jwk["y"] = Base64Url.EncodeToString(p.Q.Y);
        }
        else
        {
            var p = _rsa!.ExportParameters(includePrivateParameters: false);
            jwk["kty"] = "RSA";
            jwk["n"] = Base64Url.EncodeToString(Unsigned(p.Modulus!));
            jwk["e"] = Base64Url.EncodeToString(Unsigned(p.Exponent!));
        }

        jwk["kid"] = KeyId;
        jwk["alg"] = Algorithm;
        jwk["use"] = "sig";
        jwk["key_ops"] = new JsonArray("verify");
        return jwk;
    }

    /// <summary>RFC 7518 §6.3.1: n and e are unsigned big-endian with no leading zero octets.</summary>
    private static ReadOnlySpan<byte> Unsigned(byte[] value)
    {
        var start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value.AsSpan(start);
    }

    private byte[] ExportSealedPayload()
    {
        var pkcs8 = _ec is not null ? _ec.ExportPkcs8PrivateKey() : _rsa!.ExportPkcs8PrivateKey();
        try
        {
            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteNumber("v", SealedFormatVersion);
                writer.WriteString("alg", Algorithm);
                writer.WriteString("kid", KeyId);
                writer.WriteBase64String("pkcs8", pkcs8);
                writer.WriteEndObject();
            }

            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }

    private static SmartClientKey FromSealedPayload(byte[] payload)
    {
        using var document = JsonDocument.Parse(payload);
        var root = document.RootElement;
        if (!root.TryGetProperty("v", out var version) || version.GetInt32() != SealedFormatVersion)
        {
            throw new SmartClientKeyException($"{FileName} has a format this build does not read.");
        }

        var algorithm = NormalizeAlgorithm(root.GetProperty("alg").GetString()!);
        var keyId = root.GetProperty("kid").GetString()!;
        var pkcs8 = root.GetProperty("pkcs8").GetBytesFromBase64();
        try
        {
            if (algorithm == ES384)
            {
                var ec = ECDsa.Create();
                ec.ImportPkcs8PrivateKey(pkcs8, out _);
                if (ec.KeySize != 384)
                {
                    ec.Dispose();
                    throw new SmartClientKeyException($"{FileName} holds an EC key that is not on P-384.");
                }

                return new SmartClientKey(algorithm, keyId, ec, null);
            }

            var rsa = RSA.Create();
            rsa.ImportPkcs8PrivateKey(pkcs8, out _);
            return new SmartClientKey(algorithm, keyId, null, rsa);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pkcs8);
        }
    }
}
