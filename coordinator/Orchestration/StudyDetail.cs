using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>A node's answer to a study's offer, with the node's name and the rule that decided it.</summary>
public sealed record StudyNodeDecision(
    [property: JsonPropertyName("node_id")] string NodeId,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("accept")] bool Accept,
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("reason")] string Reason);

/// <summary>One attempt of a round: its phase, the nodes in it (ids) and how it ended (null while it runs).</summary>
public sealed record StudyAttemptDetail(
    [property: JsonPropertyName("round")] long Round,
    [property: JsonPropertyName("attempt")] long Attempt,
    [property: JsonPropertyName("phase")] string Phase,
    [property: JsonPropertyName("participants")] IReadOnlyList<string> Participants,
    [property: JsonPropertyName("started_at")] string StartedAt,
    [property: JsonPropertyName("finished_at")] string? FinishedAt,
    [property: JsonPropertyName("outcome")] string? Outcome);

/// <summary>A completed round: the attempt that completed it and how long it took.</summary>
public sealed record StudyRoundDetail(
    [property: JsonPropertyName("round")] long Round,
    [property: JsonPropertyName("attempt")] long Attempt,
    [property: JsonPropertyName("started_at")] string StartedAt,
    [property: JsonPropertyName("finished_at")] string FinishedAt,
    [property: JsonPropertyName("latency_ms")] double LatencyMs);

/// <summary>
/// A document the coordinator stored, read as its type (<see cref="Value"/>) and served as the text it was stored as
/// (<see cref="Json"/>), byte for byte: a reader gets the contract, the API never re-spells what it wrote.
/// </summary>
[JsonConverter(typeof(StoredDocumentConverterFactory))]
public sealed record StoredDocument<T>(T Value, string Json)
    where T : class;

/// <summary>Writes a <see cref="StoredDocument{T}"/> as its stored text; the coordinator never reads one back from JSON.</summary>
internal sealed class StoredDocumentConverterFactory : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsGenericType && typeToConvert.GetGenericTypeDefinition() == typeof(StoredDocument<>);

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert.GetGenericArguments()[0]))!;

    private sealed class Converter<T> : JsonConverter<StoredDocument<T>>
        where T : class
    {
        public override StoredDocument<T> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("A stored document is read from the store, not from JSON.");

        public override void Write(Utf8JsonWriter writer, StoredDocument<T> value, JsonSerializerOptions options) => writer.WriteRawValue(value.Json);
    }
}

/// <summary>
/// Everything an analyst sees of one study (the admin API's GET /studies/{id}, the dashboard's study page and
/// <c>ftwin study show</c>): state, the spec as submitted, the nodes' decisions, every attempt, round timings and the result.
/// The spec and result are typed for readers and served as the JSON the coordinator stored (<see cref="StoredDocument{T}"/>).
/// </summary>
public sealed record StudyDetail(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("spec")] StoredDocument<StudySpec> Spec,
    [property: JsonPropertyName("round")] long Round,
    [property: JsonPropertyName("attempt")] long Attempt,
    [property: JsonPropertyName("failure_reason")] string? FailureReason,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("updated_at")] string UpdatedAt,
    [property: JsonPropertyName("decisions")] IReadOnlyList<StudyNodeDecision> Decisions,
    [property: JsonPropertyName("attempts")] IReadOnlyList<StudyAttemptDetail> Attempts,
    [property: JsonPropertyName("rounds")] IReadOnlyList<StudyRoundDetail> Rounds,
    [property: JsonPropertyName("result")] StoredDocument<StudyResult>? Result)
{
    /// <summary>How the API writes it: the names above, nulls written (an absent result is <c>"result": null</c>).</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>The study's detail, or null when there is no such study.</summary>
    public static StudyDetail? Read(CoordinatorStore store, string id)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Read(c =>
        {
            if (StudyQueries.Detail(c, id) is not { } s)
            {
                return null;
            }

            var decisions = StudyQueries.Decisions(c, id);
            var attempts = RoundQueries.History(c, id);
            var rounds = RoundQueries.Timings(c, id);
            var spec = WireJson.Deserialize<StudySpec>(System.Text.Encoding.UTF8.GetBytes(s.spec_json));
            // A census stored before results were suppressed is shown as it would be published now, never as the exact sums it kept.
            var result = s.result_json is null ? null : FederatedSumAlgorithm.Legacy(spec, s.result_json);
            return new StudyDetail(
                s.study_id,
                s.state,
                new StoredDocument<StudySpec>(spec, s.spec_json),
                s.current_round,
                s.current_attempt,
                s.failure_reason,
                s.created_at,
                s.updated_at,
                [.. decisions.Select(d => new StudyNodeDecision(d.node_id, d.name, d.accept == 1, d.rule, d.reason))],
                [.. attempts.Select(a => new StudyAttemptDetail(a.round, a.attempt, a.phase, JsonSerializer.Deserialize<List<string>>(a.participants_json) ?? [], a.started_at, a.finished_at, a.outcome))],
                [.. rounds.Select(r => new StudyRoundDetail(r.round, r.attempt, r.started_at, r.finished_at, (StoredTime.Parse(r.finished_at) - StoredTime.Parse(r.started_at)).TotalMilliseconds))],
                result is null ? null : new StoredDocument<StudyResult>(StudyResult.Parse(result), result));
        });
    }
}
