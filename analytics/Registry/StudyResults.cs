using System.Text.Json;
using System.Text.Json.Serialization;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// What a completed study publishes (the coordinator's <c>studies.result_json</c>, served by its API): the algorithm's
/// name and either a registry document (<see cref="ModelStudyResult"/>) or a published count table (<see cref="CountTableStudyResult"/>).
/// </summary>
public abstract record StudyResult([property: JsonPropertyOrder(-1)] string Algorithm)
{
    /// <summary>The registry document the study produced, if any: the round engine registers it.</summary>
    [JsonIgnore]
    public virtual IRegistryDocument? Model => null;

    /// <summary>The result as stored and served: compact JSON, snake_case.</summary>
    public abstract string ToJson();
}

/// <summary>A study whose result is a model (or composition) for the registry: <c>{"algorithm": …, "model": {…}}</c>.</summary>
public sealed record ModelStudyResult(string Algorithm, IRegistryDocument Document) : StudyResult(Algorithm)
{
    /// <inheritdoc/>
    public override IRegistryDocument Model => Document;

    /// <inheritdoc/>
    public override string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("algorithm", Algorithm);
            writer.WritePropertyName("model");
            JsonSerializer.Serialize(writer, Document, Document.GetType(), RegistryJson.Options);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }
}

/// <summary>
/// A federated sum published as analysts may see it: the vector, the minimum cell size, the interior cells' labels and
/// values in the vector's order (null where suppressed) and the table with its margins.
/// </summary>
public sealed record CountTableStudyResult(
    string Algorithm,
    string Vector,
    int MinimumCellSize,
    IReadOnlyList<string> Labels,
    IReadOnlyList<long?> Sums,
    PublishedTableDocument Table) : StudyResult(Algorithm)
{
    /// <inheritdoc/>
    public override string ToJson() => RegistryJson.Serialize(this);

    /// <summary>Parses a stored result (<see cref="FormatException"/> if it is not one).</summary>
    public static CountTableStudyResult FromJson(string json) => RegistryJson.Deserialize<CountTableStudyResult>(json, "a federated-sum result");
}
