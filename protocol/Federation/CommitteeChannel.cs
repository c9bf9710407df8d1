using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace FederatedTwin.Protocol.Federation;

/// <summary>
/// What a committee share's private channel is bound to: the attempt (study, round, attempt, CRP seed), the sender and the recipient
/// by their roster (Ed25519) keys, and both ephemeral channel keys. It is the HKDF info and the AEAD's associated data at once, so a
/// share sealed for one attempt, pair of hospitals or pair of channel keys opens for no other.
/// </summary>
public sealed record ChannelBinding(StudyId Study, int Round, int Attempt, byte[] CrpSeed, string SenderRosterKey, string RecipientRosterKey, byte[] SenderChannelKey, byte[] RecipientChannelKey)
{
    public byte[] ToBytes() => Encoding.UTF8.GetBytes(
        $"ftwin/v{FederationProtocol.Version}/committee-share\n{Study}\n{Round}\n{Attempt}\n{Convert.ToHexStringLower(CrpSeed)}\n{SenderRosterKey}\n{RecipientRosterKey}\n{Convert.ToHexStringLower(SenderChannelKey)}\n{Convert.ToHexStringLower(RecipientChannelKey)}");
}

/// <summary>A committee share that did not open: a wrong key, binding or sender, or bytes changed on the way.</summary>
public sealed class ChannelOpenException(string message) : Exception(message);

/// <summary>
/// A node's ephemeral X25519 key (RFC 7748) for one attempt, and the private channel it opens to every other committee member through
/// the coordinator: X25519 key agreement, HKDF-SHA256 (RFC 5869; salt <c>ftwin-committee-channel</c>, info the
/// <see cref="ChannelBinding"/>) to a 256-bit AES key and a 96-bit nonce, then AES-256-GCM (NIST SP 800-38D) with the binding as
/// associated data. The coordinator relays the sealed share and learns nothing of it; the recipient knows the sender by the channel
/// key the sender signed with its roster key (in its key-share commitment), so a share from anyone else does not open.
/// <para>
/// The nonce is derived, not random: the key is unique to the (sender channel key, recipient channel key, binding), each channel key
/// serves one attempt, and what a dealer seals under it is derived from its attempt secret (ICommitteeThresholdScheme.DealShares),
/// so sealing again after a crash produces the same bytes (the coordinator keeps the first) and a (key, nonce) pair never covers two
/// plaintexts.
/// </para>
/// </summary>
public sealed class CommitteeChannelKey : IDisposable
{
    /// <summary>Bytes a sealed share adds to its plaintext: the GCM tag.</summary>
    public const int Overhead = TagLength;

    /// <summary>Length of a raw X25519 public key.</summary>
    public const int PublicKeyLength = 32;

    private const int TagLength = 16;
    private const int NonceLength = 12;
    private static readonly KeyAgreementAlgorithm Agreement = KeyAgreementAlgorithm.X25519;
    private static readonly byte[] Salt = Encoding.ASCII.GetBytes("ftwin-committee-channel");
    private readonly Key _key;

    private CommitteeChannelKey(Key key)
    {
        _key = key;
        PublicKey = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
    }

    /// <summary>The raw 32-byte X25519 public key.</summary>
    public byte[] PublicKey { get; }

    public static CommitteeChannelKey Generate() => new(Key.Create(Agreement, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None }));

    /// <summary>The key whose private scalar is <paramref name="seed"/> (32 bytes, e.g. derived from the node's sealed attempt secret, so it needs no storage of its own).</summary>
    public static CommitteeChannelKey FromSeed(ReadOnlySpan<byte> seed) =>
        seed.Length == 32
            ? new(Key.Import(Agreement, seed, KeyBlobFormat.RawPrivateKey, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.None }))
            : throw new ArgumentException("An X25519 private key is 32 bytes.", nameof(seed));

    /// <summary>Seals <paramref name="plaintext"/> for the holder of <paramref name="recipientChannelKey"/>; the binding's sender key must be this key.</summary>
    public byte[] Seal(ChannelBinding binding, ReadOnlySpan<byte> plaintext)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (!binding.SenderChannelKey.AsSpan().SequenceEqual(PublicKey))
        {
            throw new ArgumentException("The binding names another sender channel key than this one.", nameof(binding));
        }

        var ad = binding.ToBytes();
        Span<byte> derived = stackalloc byte[32 + NonceLength];
        Derive(binding.RecipientChannelKey, ad, derived);
        var output = new byte[plaintext.Length + TagLength];
        using (var aes = new AesGcm(derived[..32], TagLength))
        {
            aes.Encrypt(derived[32..], plaintext, output.AsSpan(0, plaintext.Length), output.AsSpan(plaintext.Length), ad);
        }

        CryptographicOperations.ZeroMemory(derived);
        return output;
    }

    /// <summary>Opens a share sealed for this key by the holder of the binding's sender channel key; throws <see cref="ChannelOpenException"/> otherwise.</summary>
    public byte[] Open(ChannelBinding binding, ReadOnlySpan<byte> sealedShare)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (!binding.RecipientChannelKey.AsSpan().SequenceEqual(PublicKey))
        {
            throw new ChannelOpenException("The share is addressed to another channel key than this node's for the attempt.");
        }

        if (sealedShare.Length < TagLength)
        {
            throw new ChannelOpenException("The sealed share is shorter than its tag.");
        }

        var ad = binding.ToBytes();
        Span<byte> derived = stackalloc byte[32 + NonceLength];
        Derive(binding.SenderChannelKey, ad, derived);
        var plaintext = new byte[sealedShare.Length - TagLength];
        try
        {
            using var aes = new AesGcm(derived[..32], TagLength);
            aes.Decrypt(derived[32..], sealedShare[..^TagLength], sealedShare[^TagLength..], plaintext, ad);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new ChannelOpenException("The sealed share does not open under this attempt's channel from its dealer: it was changed, misaddressed or sealed by another key.");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(derived);
        }

        return plaintext;
    }

    /// <summary>X25519 with the peer's key, then HKDF-SHA256 to the AES key and the nonce. A low-order peer key (an all-zero secret, RFC 7748 §6.1) is refused.</summary>
    private void Derive(byte[] peerChannelKey, byte[] info, Span<byte> output)
    {
        if (peerChannelKey.Length != PublicKeyLength || !NSec.Cryptography.PublicKey.TryImport(Agreement, peerChannelKey, KeyBlobFormat.RawPublicKey, out var peer) || peer is null)
        {
            throw new ChannelOpenException("The peer's channel key is not an X25519 public key.");
        }

        using var shared = Agreement.Agree(_key, peer, new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.None })
            ?? throw new ChannelOpenException("The peer's channel key is of low order: no shared secret.");
        KeyDerivationAlgorithm.HkdfSha256.DeriveBytes(shared, Salt, info, output);
    }

    public void Dispose() => _key.Dispose();
}
