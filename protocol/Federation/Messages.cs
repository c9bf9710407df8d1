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

/// <summary>A node registers its Ed25519 public key with a one-time enrollment token.</summary>
public sealed record EnrollRequest(string Token, string NodeName, string PublicKey);

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

    /// <summary>Generate a fresh key share for the attempt and submit its public part.</summary>
    KeyShare,

    /// <summary>Check the collective key, compute the round's statistics, encrypt and submit them.</summary>
    Encrypt,

    /// <summary>Check the aggregate and return a decryption share for it.</summary>
    Decrypt,
}

/// <summary>What the algorithm asks every participant to compute in a round.</summary>
public sealed record RoundRequest(string Algorithm, int ValueCount, IReadOnlyDictionary<string, string> Parameters);

/// <summary>One thing the coordinator asks of a node. Nodes poll for these; the coordinator never calls a node.</summary>
public sealed record WorkItem(
    WorkKind Kind,
    StudySpec Study,
    int Round = 0,
    int Attempt = 0,
    DateTimeOffset? Deadline = null,
    byte[]? CrpSeed = null,
    RoundRequest? Request = null);

public sealed record WorkResponse(IReadOnlyList<WorkItem> Items);

/// <summary>A node's answer to a study offer, with the policy rule that decided it.</summary>
public sealed record StudyDecision(StudyId Study, bool Accept, string Rule, string Reason);

/// <summary>A contribution to an attempt (key share, encrypted update or decryption share) signed by its node.</summary>
public sealed record Contribution(StudyId Study, int Round, int Attempt, byte[] Payload, byte[] Signature, string? AggregateDigest = null);

/// <summary>A contribution as the coordinator relays it to the other participants, with the key that signed it.</summary>
public sealed record SignedContribution(NodeId Node, string NodePublicKey, byte[] Payload, byte[] Signature);

/// <summary>The collective public key of an attempt and the signed shares it claims to be the sum of.</summary>
public sealed record CollectiveKeyAnnouncement(StudyId Study, int Round, int Attempt, byte[] CrpSeed, byte[] CollectiveKey, IReadOnlyList<SignedContribution> Shares);

/// <summary>The aggregate of an attempt and the signed submissions it claims to be the sum of.</summary>
public sealed record AggregateAnnouncement(StudyId Study, int Round, int Attempt, byte[] Aggregate, IReadOnlyList<SignedContribution> Submissions, DateTimeOffset Deadline);

/// <summary>What a contribution's signature covers, so a signature for one attempt, kind or aggregate is never valid for another.</summary>
public static class SignedStatement
{
    public const string KeyShare = "key-share";
    public const string Update = "update";
    public const string DecryptionShare = "decryption-share";

    public static byte[] For(string kind, StudyId study, int round, int attempt, ReadOnlySpan<byte> payload, string? aggregateDigest = null) =>
        Encoding.UTF8.GetBytes($"ftwin/v{FederationProtocol.Version}/{kind}\n{study}\n{round}\n{attempt}\n{Digest(payload)}\n{aggregateDigest ?? "-"}");

    /// <summary>Hex SHA-256 of a payload: how submissions and aggregates are named in shares and audits.</summary>
    public static string Digest(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));
}
