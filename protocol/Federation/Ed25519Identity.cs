using NSec.Cryptography;

namespace FederatedTwin.Protocol.Federation;

/// <summary>An Ed25519 signing key (RFC 8032) of a node or coordinator. The private bytes leave it only to be sealed at rest.</summary>
public sealed class Ed25519Identity : IDisposable
{
    private static readonly SignatureAlgorithm Algorithm = SignatureAlgorithm.Ed25519;
    private readonly Key _key;

    private Ed25519Identity(Key key)
    {
        _key = key;
        PublicKey = Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    /// <summary>The raw 32-byte public key, base64.</summary>
    public string PublicKey { get; }

    public static Ed25519Identity Generate() =>
        new(Key.Create(Algorithm, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));

    public static Ed25519Identity Import(ReadOnlySpan<byte> rawPrivateKey) =>
        new(Key.Import(Algorithm, rawPrivateKey, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport }));

    /// <summary>The raw private key, to be sealed (DataProtection) before it touches a disk.</summary>
    public byte[] ExportPrivateKey() => _key.Export(KeyBlobFormat.RawPrivateKey);

    public byte[] Sign(ReadOnlySpan<byte> data) => Algorithm.Sign(_key, data);

    /// <summary>Verifies an Ed25519 signature under a base64 raw public key; a malformed key is simply not valid.</summary>
    public static bool Verify(string publicKeyBase64, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        Span<byte> raw = stackalloc byte[32];
        if (!Convert.TryFromBase64String(publicKeyBase64, raw, out var written) || written != 32)
        {
            return false;
        }

        if (!NSec.Cryptography.PublicKey.TryImport(Algorithm, raw, KeyBlobFormat.RawPublicKey, out var key) || key is null)
        {
            return false;
        }

        return Algorithm.Verify(key, data, signature);
    }

    public void Dispose() => _key.Dispose();
}
