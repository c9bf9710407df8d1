using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FederatedTwin.Protocol.Federation;

/// <summary>The JSON settings of every message on the wire: snake_case, enums as strings, byte arrays as base64.</summary>
public static class WireJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    public static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T Deserialize<T>(ReadOnlySpan<byte> json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"Expected a {typeof(T).Name}, got null.");
}

/// <summary>The coordinator's public identity, served unauthenticated so a node operator can compare it with the pinned key.</summary>
public sealed record CoordinatorIdentity(string KeyId, string PublicKey, int ProtocolVersion, string SoftwareVersion);

/// <summary>
/// A node registers its Ed25519 public key with a one-time enrollment token, which it proves it knows without sending it
/// (<see cref="EnrollmentProof"/>): the token's public id and a MAC over the key, the pinned coordinator key and the fingerprint of
/// the node's TLS client certificate (SHA-256 of its DER, lower-case hex; null when the node enrolls without one). The request is
/// signed by the key it registers.
/// </summary>
public sealed record EnrollRequest(string TokenId, string Mac, string NodeName, string PublicKey, string? TlsClientCertificateSha256 = null);

public sealed record EnrollResponse(NodeId NodeId, string CoordinatorKeyId, string CoordinatorPublicKey);

/// <summary>An enrolled node as the coordinator lists it: nodes check each other's signed contributions against these keys.</summary>
public sealed record NodeRecord(NodeId NodeId, string Name, string PublicKey);

/// <summary>
/// A study as the analyst defines it (study.yaml) and as nodes see it when they decide. <see cref="CommitteeThreshold"/> is the t of
/// t-of-n decryption (study file <c>committee_threshold</c>; null: every participant decrypts, n-of-n, as before it existed).
/// </summary>
public sealed record StudySpec(
    StudyId Id,
    string Algorithm,
    PurposeOfUse PurposeOfUse,
    int MinNodes,
    int MaxNodes,
    int Rounds,
    int PhaseDeadlineSeconds,
    string? Description = null,
    IReadOnlyDictionary<string, string>? Parameters = null,
    int? CommitteeThreshold = null);

public enum WorkKind
{
    /// <summary>Decide whether to join the study.</summary>
    StudyOffer,

    /// <summary>Generate a fresh key share for the attempt and commit to its public part (a signed hash, not the share).</summary>
    CommitKeyShare,

    /// <summary>Check the complete set of key-share commitments, then reveal the public key share.</summary>
    OpenKeyShare,

    /// <summary>Check the collective key against the opened shares, compute the round's statistics, encrypt them and commit to the ciphertext.</summary>
    CommitUpdate,

    /// <summary>Check the complete set of update commitments, then reveal the ciphertext.</summary>
    OpenUpdate,

    /// <summary>Check the aggregate against the opened updates and return a decryption share for it.</summary>
    Decrypt,

    /// <summary>A t-of-n study: deal Shamir shares of the attempt secret to every other key holder, sealed to each (share_deal).</summary>
    DealShares,

    /// <summary>A t-of-n study: check the aggregate as for <see cref="Decrypt"/> and say, signed, that this node is ready to decrypt it (decrypt_ready).</summary>
    DecryptReady,
}

/// <summary>What the algorithm asks every participant to compute in a round.</summary>
public sealed record RoundRequest(string Algorithm, int ValueCount, IReadOnlyDictionary<string, string> Parameters);

/// <summary>
/// One thing the coordinator asks of a node. Nodes poll for these; the coordinator never calls a node. The deadline is the
/// coordinator's, for information: a node holds every attempt to deadlines it computes on its own clock from the study it accepted.
/// </summary>
public sealed record WorkItem(
    WorkKind Kind,
    StudySpec Study,
    int Round = 0,
    int Attempt = 0,
    DateTimeOffset? Deadline = null,
    byte[]? CrpSeed = null,
    RoundRequest? Request = null);

/// <summary>
/// The work for a node, and the newest federation roster the coordinator relays: its version and the SHA-256 of the document as relayed
/// (a node fetches and checks it when the version is newer than its own and it has not refused that very document: the same version
/// may be relayed again with more officers' approvals), and the digest of the model registry (<see cref="ModelCatalog.Digest"/>; a node
/// fetches the catalog when it differs from the one it last fetched).
/// </summary>
public sealed record WorkResponse(IReadOnlyList<WorkItem> Items, int? RosterVersion = null, string? RosterSha256 = null, string? ModelsSha256 = null);

/// <summary>A node's answer to a study offer, with the policy rule that decided it.</summary>
public sealed record StudyDecision(StudyId Study, bool Accept, string Rule, string Reason);

/// <summary>
/// A contribution to an attempt, signed by its node: a commitment (the payload is the SHA-256 of what it commits to), an opening
/// (a key share or an encrypted update, signed over the digest of the commitment set the node saw), or a decryption share (signed
/// over the aggregate's digest and the update commitment set's digest). <see cref="SignedStatement"/> says what each signature covers.
/// </summary>
/// A key-share commitment of a t-of-n study also carries the node's ephemeral X25519 channel key for the attempt (<see cref="ChannelKey"/>),
/// covered by the same signature.
public sealed record Contribution(StudyId Study, int Round, int Attempt, byte[] Payload, byte[] Signature, string? AggregateDigest = null, string? CommitmentSetDigest = null, byte[]? ChannelKey = null);

/// <summary>A contribution as the coordinator relays it to the other participants, with the key that signed it.</summary>
public sealed record SignedContribution(NodeId Node, string NodePublicKey, byte[] Payload, byte[] Signature);

/// <summary>The collective public key of an attempt, the key-share commitments and the opened shares it claims to be the sum of.</summary>
public sealed record CollectiveKeyAnnouncement(StudyId Study, int Round, int Attempt, byte[] CrpSeed, byte[] CollectiveKey, CommitmentSet Commitments, IReadOnlyList<SignedContribution> Shares);

/// <summary>
/// The aggregate of an attempt, the update commitments and the opened updates it claims to be the sum of; in a t-of-n study, once the
/// coordinator chose it, the decrypting set (the members' public keys) whose shares it will combine.
/// </summary>
public sealed record AggregateAnnouncement(StudyId Study, int Round, int Attempt, byte[] Aggregate, CommitmentSet Commitments, IReadOnlyList<SignedContribution> Submissions, DateTimeOffset? Deadline = null, IReadOnlyList<string>? DecryptSet = null);

/// <summary>One entry of a dealer's share bundle: the share sealed to a recipient (named by its roster key) over the committee channel.</summary>
public sealed record SealedShare(string RecipientKey, byte[] Sealed);

/// <summary>
/// A dealer's share_deal payload: one sealed share for every other member of the key-share commitment set. Binary, so the sealed
/// shares are base64-encoded once (as the contribution's payload), not twice: <c>u16 count</c>, then per share <c>u8 key length, key
/// (UTF-8), u32 sealed length, sealed</c>, little-endian.
/// </summary>
public sealed record ShareBundle(IReadOnlyList<SealedShare> Shares)
{
    /// <summary>The most bytes an entry adds to its sealed share (a roster key is 44 base64 characters; 255 at most).</summary>
    public const int EntryOverhead = 1 + 255 + 4;

    public byte[] ToBytes()
    {
        var output = new MemoryStream();
        Span<byte> word = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(word, checked((ushort)Shares.Count));
        output.Write(word[..2]);
        foreach (var s in Shares)
        {
            var key = Encoding.UTF8.GetBytes(s.RecipientKey);
            output.WriteByte(checked((byte)key.Length));
            output.Write(key);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(word, (uint)s.Sealed.Length);
            output.Write(word);
            output.Write(s.Sealed);
        }

        return output.ToArray();
    }

    /// <summary>Reads a bundle; anything but exactly the layout (truncated, trailing bytes, a key that is not UTF-8) is a <see cref="FormatException"/>.</summary>
    public static ShareBundle Parse(ReadOnlySpan<byte> payload)
    {
        var at = 0;
        ReadOnlySpan<byte> Take(ReadOnlySpan<byte> bytes, int length)
        {
            if (length < 0 || at + length > bytes.Length)
            {
                throw new FormatException("The share bundle is truncated.");
            }

            var taken = bytes.Slice(at, length);
            at += length;
            return taken;
        }

        var count = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(Take(payload, 2));
        var shares = new List<SealedShare>(count);
        var utf8 = new UTF8Encoding(false, true);
        for (var i = 0; i < count; i++)
        {
            var keyLength = Take(payload, 1)[0];
            string key;
            try
            {
                key = utf8.GetString(Take(payload, keyLength));
            }
            catch (DecoderFallbackException)
            {
                throw new FormatException("A recipient key in the share bundle is not UTF-8.");
            }

            var length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(Take(payload, 4));
            shares.Add(new SealedShare(key, Take(payload, length > int.MaxValue ? -1 : (int)length).ToArray()));
        }

        return at == payload.Length ? new ShareBundle(shares) : throw new FormatException("The share bundle has bytes after its last share.");
    }

    /// <summary>What the dealer signs: every recipient with the SHA-256 of its sealed share, in key order.</summary>
    public IReadOnlyList<ShareManifestEntry> Manifest() =>
        [.. Shares.Select(s => new ShareManifestEntry(s.RecipientKey, SignedStatement.Digest(s.Sealed))).OrderBy(e => e.RecipientKey, StringComparer.Ordinal)];
}

/// <summary>A recipient and the hex SHA-256 of the sealed share dealt to it.</summary>
public sealed record ShareManifestEntry(string RecipientKey, string Sha256);

/// <summary>
/// One dealer's share for the node that fetches it, as the coordinator relays it: the dealer's manifest (every recipient's digest, which
/// the dealer signed) and the one sealed share addressed to this node, so the node checks the signature without the others' shares.
/// </summary>
public sealed record RelayedShare(NodeId Dealer, string DealerPublicKey, IReadOnlyList<ShareManifestEntry> Manifest, byte[] Sealed, byte[] Signature);

/// <summary>Every dealer's share for the fetching node in an attempt of a t-of-n study.</summary>
public sealed record DealtShares(StudyId Study, int Round, int Attempt, IReadOnlyList<RelayedShare> Shares);

/// <summary>The kinds of contributions to an attempt, in protocol order; each is also its path segment.</summary>
public static class ContributionKind
{
    public const string KeyShareCommitment = "key-share-commitment";
    public const string KeyShare = "key-share";
    public const string UpdateCommitment = "update-commitment";
    public const string Update = "update";
    public const string DecryptionShare = "decryption-share";

    /// <summary>A t-of-n study's share bundle (<see cref="ShareBundle"/>), posted after key_open.</summary>
    public const string ShareDeal = "share-deal";

    /// <summary>A t-of-n study's signed statement that the node checked the aggregate and is ready to decrypt it.</summary>
    public const string DecryptReady = "decrypt-ready";

    /// <summary>The coordinator's record of a node's signed channel key (it arrives with the key-share commitment; never posted on its own path).</summary>
    public const string ChannelKey = "channel-key";

    public static IReadOnlyList<string> All { get; } = [KeyShareCommitment, KeyShare, UpdateCommitment, Update, DecryptionShare, ShareDeal, DecryptReady];

    /// <summary>The commitment that must precede an opening of this kind (key-share, update).</summary>
    public static string CommitmentTo(string opened) => opened switch
    {
        KeyShare => KeyShareCommitment,
        Update => UpdateCommitment,
        _ => throw new ArgumentException($"'{opened}' is not an opened kind.", nameof(opened)),
    };
}

/// <summary>
/// What each contribution's signature covers, so a signature for one attempt, kind, CRP, commitment set or aggregate is never
/// valid for another. Every statement starts with the protocol version, so a statement of another version never verifies.
/// </summary>
public static class SignedStatement
{
    /// <summary>A commitment: the hash of a key share or ciphertext, bound to the attempt and its CRP seed (and, for an update, to the key-share commitment set it will be encrypted under).</summary>
    /// <remarks>A t-of-n study's key-share commitment also names the node's ephemeral X25519 channel key for the attempt (a last line), so the key is bound to the node's roster key.</remarks>
    public static byte[] Commitment(string kind, StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> committedDigest, string? keySetDigest = null, byte[]? channelKey = null) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/commitment/{kind}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Convert.ToHexStringLower(committedDigest)}\n{keySetDigest ?? "-"}"
            + (channelKey is null ? string.Empty : $"\nchannel {Convert.ToHexStringLower(channelKey)}"));

    /// <summary>An opening: the revealed payload, bound to the attempt, its CRP seed and the digest of the commitment set the node saw before it revealed.</summary>
    public static byte[] Opening(string kind, StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> payload, string commitmentSetDigest) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{kind}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Digest(payload)}\n{commitmentSetDigest}");

    /// <summary>A decryption share, bound to the aggregate it decrypts and to the update commitment set (hence the submitters) that aggregate sums.</summary>
    /// <remarks>In a t-of-n study the share is also bound to the decrypting set it was weighted for (a last line: <see cref="ParticipantSet.Digest"/> of its keys).</remarks>
    public static byte[] DecryptionShare(StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> share, string aggregateDigest, string updateSetDigest, string? decryptSetDigest = null) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{ContributionKind.DecryptionShare}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Digest(share)}\n{aggregateDigest}\n{updateSetDigest}"
            + (decryptSetDigest is null ? string.Empty : $"\ndecrypt-set {decryptSetDigest}"));

    /// <summary>A share bundle: every recipient's sealed share by digest, bound to the attempt, the key-share commitment set (hence the points) and the threshold.</summary>
    public static byte[] ShareDeal(StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, string keySetDigest, int threshold, IReadOnlyList<ShareManifestEntry> manifest)
    {
        var text = new StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"ftwin/v{FederationProtocol.Version}/{ContributionKind.ShareDeal}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{keySetDigest}\n{threshold}\n");
        foreach (var e in manifest.OrderBy(e => e.RecipientKey, StringComparer.Ordinal))
        {
            text.Append(e.RecipientKey).Append(' ').Append(e.Sha256).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>A node's word that it checked the aggregate (bound to it and the update commitment set) and will decrypt it if chosen.</summary>
    public static byte[] DecryptReady(StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, string aggregateDigest, string updateSetDigest) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{ContributionKind.DecryptReady}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{aggregateDigest}\n{updateSetDigest}");

    /// <summary>Hex SHA-256 of a payload: how submissions and aggregates are named in shares and audits.</summary>
    public static string Digest(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
