using System.Reflection;
using System.Text.Json.Serialization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// A study's state (docs/protocol.md): offered → running → completed, or failed or cancelled. Stored in studies.state and
/// sent on the admin API (GET /v1/admin/studies) as the lowercase word, which neither may ever change: the converter and
/// <see cref="StudyStates.ToWire"/> write exactly those words, both from the attributes below (<see cref="WireWords{TEnum}"/>).
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<StudyState>))]
public enum StudyState
{
    [JsonStringEnumMemberName("offered")]
    Offered,

    [JsonStringEnumMemberName("running")]
    Running,

    [JsonStringEnumMemberName("completed")]
    Completed,

    [JsonStringEnumMemberName("failed")]
    Failed,

    [JsonStringEnumMemberName("cancelled")]
    Cancelled,
}

/// <summary>
/// The phase of an attempt (federation protocol version 2): key_commit → key_open → update_commit → update_open → decrypt →
/// done, or superseded. Stored in attempts.phase and shown on the admin API as the snake_case word, byte for byte.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<AttemptPhase>))]
public enum AttemptPhase
{
    [JsonStringEnumMemberName("key_commit")]
    KeyCommit,

    [JsonStringEnumMemberName("key_open")]
    KeyOpen,

    [JsonStringEnumMemberName("update_commit")]
    UpdateCommit,

    [JsonStringEnumMemberName("update_open")]
    UpdateOpen,

    [JsonStringEnumMemberName("decrypt")]
    Decrypt,

    [JsonStringEnumMemberName("done")]
    Done,

    /// <summary>A t-of-n study, after key_open: every key holder deals Shamir shares of its attempt secret to the others.</summary>
    [JsonStringEnumMemberName("share_deal")]
    ShareDeal,

    /// <summary>A t-of-n study, after update_open: the first t participants to say (signed) they checked the aggregate form the decrypting set.</summary>
    [JsonStringEnumMemberName("decrypt_ready")]
    DecryptReady,

    [JsonStringEnumMemberName("superseded")]
    Superseded,
}

/// <summary>The stored and wire words of <see cref="StudyState"/>.</summary>
public static class StudyStates
{
    public static string ToWire(this StudyState state) => WireWords<StudyState>.Of(state, nameof(state));

    public static bool TryParse(string? wire, out StudyState state) => WireWords<StudyState>.TryParse(wire, out state);

    public static StudyState Parse(string wire) =>
        TryParse(wire, out var state) ? state : throw new FormatException($"'{wire}' is not a study state.");

    /// <summary>Whether the study has ended (completed, failed or cancelled): nothing about it changes any more.</summary>
    public static bool HasEnded(this StudyState state) => state is StudyState.Completed or StudyState.Failed or StudyState.Cancelled;
}

/// <summary>The stored and wire words of <see cref="AttemptPhase"/>, and what each phase asks of the participants.</summary>
public static class AttemptPhases
{
    /// <summary>The live phases in the order an attempt goes through them.</summary>
    private static readonly AttemptPhase[] Order = [AttemptPhase.KeyCommit, AttemptPhase.KeyOpen, AttemptPhase.ShareDeal, AttemptPhase.UpdateCommit, AttemptPhase.UpdateOpen, AttemptPhase.DecryptReady, AttemptPhase.Decrypt, AttemptPhase.Done];

    public static string ToWire(this AttemptPhase phase) => WireWords<AttemptPhase>.Of(phase, nameof(phase));

    public static bool TryParse(string? wire, out AttemptPhase phase) => WireWords<AttemptPhase>.TryParse(wire, out phase);

    public static AttemptPhase Parse(string wire) =>
        TryParse(wire, out var phase) ? phase : throw new FormatException($"'{wire}' is not an attempt phase.");

    /// <summary>The contribution every participant owes in a phase (null once the attempt is done or superseded).</summary>
    public static string? Kind(this AttemptPhase phase) => phase switch
    {
        AttemptPhase.KeyCommit => ContributionKind.KeyShareCommitment,
        AttemptPhase.KeyOpen => ContributionKind.KeyShare,
        AttemptPhase.UpdateCommit => ContributionKind.UpdateCommitment,
        AttemptPhase.UpdateOpen => ContributionKind.Update,
        AttemptPhase.Decrypt => ContributionKind.DecryptionShare,
        AttemptPhase.ShareDeal => ContributionKind.ShareDeal,
        AttemptPhase.DecryptReady => ContributionKind.DecryptReady,
        _ => null,
    };

    /// <summary>The phase in which a contribution of this kind is taken.</summary>
    public static AttemptPhase Of(string kind) => kind switch
    {
        ContributionKind.KeyShareCommitment => AttemptPhase.KeyCommit,
        ContributionKind.KeyShare => AttemptPhase.KeyOpen,
        ContributionKind.UpdateCommitment => AttemptPhase.UpdateCommit,
        ContributionKind.Update => AttemptPhase.UpdateOpen,
        ContributionKind.ShareDeal => AttemptPhase.ShareDeal,
        ContributionKind.DecryptReady => AttemptPhase.DecryptReady,
        _ => AttemptPhase.Decrypt,
    };

    /// <summary>What a node is asked to do in a phase.</summary>
    public static WorkKind? Work(this AttemptPhase phase) => phase switch
    {
        AttemptPhase.KeyCommit => WorkKind.CommitKeyShare,
        AttemptPhase.KeyOpen => WorkKind.OpenKeyShare,
        AttemptPhase.UpdateCommit => WorkKind.CommitUpdate,
        AttemptPhase.UpdateOpen => WorkKind.OpenUpdate,
        AttemptPhase.Decrypt => WorkKind.Decrypt,
        AttemptPhase.ShareDeal => WorkKind.DealShares,
        AttemptPhase.DecryptReady => WorkKind.DecryptReady,
        _ => null,
    };

    /// <summary>Whether the attempt is past a phase (its commitment set is complete and may be relayed); a superseded attempt is past none.</summary>
    public static bool IsPast(this AttemptPhase phase, AttemptPhase reference)
    {
        var at = Array.IndexOf(Order, phase);
        return at >= 0 && at > Array.IndexOf(Order, reference);
    }

    /// <summary>Whether the attempt still takes contributions (neither done nor superseded).</summary>
    public static bool IsLive(this AttemptPhase phase) => phase is not (AttemptPhase.Done or AttemptPhase.Superseded);
}

/// <summary>
/// An enum's stored and wire words, read once from its [JsonStringEnumMemberName] attributes: the JSON converter writes
/// the same words, so each word is written in one place and the store, the admin API and the JSON cannot disagree.
/// </summary>
internal static class WireWords<TEnum>
    where TEnum : struct, Enum
{
    private static readonly Dictionary<TEnum, string> Words = Enum.GetValues<TEnum>().ToDictionary(
        value => value,
        value => typeof(TEnum).GetField(value.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()!.Name);

    private static readonly Dictionary<string, TEnum> Values = Words.ToDictionary(w => w.Value, w => w.Key, StringComparer.Ordinal);

    public static string Of(TEnum value, string paramName) =>
        Words.TryGetValue(value, out var word) ? word : throw new ArgumentOutOfRangeException(paramName, value, null);

    public static bool TryParse(string? wire, out TEnum value)
    {
        if (wire is not null && Values.TryGetValue(wire, out value))
        {
            return true;
        }

        value = default;
        return false;
    }
}
