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

/// <summary>A study as the analyst defines it (study.yaml) and as nodes see it when they decide.</summary>
public sealed record StudySpec(
    StudyId Id,
    string Algorithm,
    PurposeOfUse PurposeOfUse,
    int MinNodes,
    int MaxNodes,
    int Rounds,
    int PhaseDeadlineSeconds,
    string? Description = null,
    IReadOnlyDictionary<string, string>? Parameters = null);

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
public sealed record Contribution(StudyId Study, int Round, int Attempt, byte[] Payload, byte[] Signature, string? AggregateDigest = null, string? CommitmentSetDigest = null);

/// <summary>A contribution as the coordinator relays it to the other participants, with the key that signed it.</summary>
public sealed record SignedContribution(NodeId Node, string NodePublicKey, byte[] Payload, byte[] Signature);

/// <summary>The collective public key of an attempt, the key-share commitments and the opened shares it claims to be the sum of.</summary>
public sealed record CollectiveKeyAnnouncement(StudyId Study, int Round, int Attempt, byte[] CrpSeed, byte[] CollectiveKey, CommitmentSet Commitments, IReadOnlyList<SignedContribution> Shares);

/// <summary>The aggregate of an attempt, the update commitments and the opened updates it claims to be the sum of.</summary>
public sealed record AggregateAnnouncement(StudyId Study, int Round, int Attempt, byte[] Aggregate, CommitmentSet Commitments, IReadOnlyList<SignedContribution> Submissions, DateTimeOffset? Deadline = null);

/// <summary>The kinds of contributions to an attempt, in protocol order; each is also its path segment.</summary>
public static class ContributionKind
{
    public const string KeyShareCommitment = "key-share-commitment";
    public const string KeyShare = "key-share";
    public const string UpdateCommitment = "update-commitment";
    public const string Update = "update";
    public const string DecryptionShare = "decryption-share";

    public static IReadOnlyList<string> All { get; } = [KeyShareCommitment, KeyShare, UpdateCommitment, Update, DecryptionShare];

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
    public static byte[] Commitment(string kind, StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> committedDigest, string? keySetDigest = null) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/commitment/{kind}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Convert.ToHexStringLower(committedDigest)}\n{keySetDigest ?? "-"}");

    /// <summary>An opening: the revealed payload, bound to the attempt, its CRP seed and the digest of the commitment set the node saw before it revealed.</summary>
    public static byte[] Opening(string kind, StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> payload, string commitmentSetDigest) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{kind}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Digest(payload)}\n{commitmentSetDigest}");

    /// <summary>A decryption share, bound to the aggregate it decrypts and to the update commitment set (hence the submitters) that aggregate sums.</summary>
    public static byte[] DecryptionShare(StudyId study, int round, int attempt, ReadOnlySpan<byte> crpSeed, ReadOnlySpan<byte> share, string aggregateDigest, string updateSetDigest) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{ContributionKind.DecryptionShare}\n{study}\n{round}\n{attempt}\n{Convert.ToHexStringLower(crpSeed)}\n{Digest(share)}\n{aggregateDigest}\n{updateSetDigest}");

    /// <summary>Hex SHA-256 of a payload: how submissions and aggregates are named in shares and audits.</summary>
    public static string Digest(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
