using System.Text.Json;
using System.Text.Json.Serialization;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// What a completed study publishes (the coordinator's <c>studies.result_json</c>, served by its API): the algorithm's
/// name and either a registry document (<see cref="ModelStudyResult"/>), a published count table (<see cref="CountTableStudyResult"/>) or
/// published outcome totals (<see cref="OutcomeTotalsStudyResult"/>).
/// </summary>
public abstract record StudyResult([property: JsonPropertyOrder(-1)] string Algorithm)
{
    /// <summary>The registry document the study produced, if any: the round engine registers it.</summary>
    [JsonIgnore]
    public virtual IRegistryDocument? Model => null;

    /// <summary>The result as stored and served: compact JSON, snake_case.</summary>
    public abstract string ToJson();

    /// <summary>
    /// A stored result read back as its type: a model's (by its document's kind) or a published count table. Anything else,
    /// or a malformed document, is a <see cref="FormatException"/> naming what it was.
    /// </summary>
    public static StudyResult Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            var algorithm = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("algorithm", out var a) && a.ValueKind == JsonValueKind.String
                ? a.GetString()! : throw new FormatException("a study result: no algorithm");
            if (root.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.Object)
            {
                var raw = model.GetRawText();
                IRegistryDocument parsed = ModelRegistry.KindOf(raw) switch
                {
                    RegisteredModel.GlmKind => GlmModelDocument.FromJson(raw),
                    FedAvgModelDocument.FedAvgKind => FedAvgModelDocument.FromJson(raw),
                    CompositionDocument.CompositionKind => CompositionDocument.FromJson(raw),
                    var kind => throw new FormatException($"a study result: its model is of unknown kind '{kind}'"),
                };
                return new ModelStudyResult(algorithm, parsed);
            }

            if (root.TryGetProperty("outcomes", out _))
            {
                return OutcomeTotalsStudyResult.FromJson(json);
            }

            return root.TryGetProperty("table", out _) ? CountTableStudyResult.FromJson(json) : throw new FormatException("a study result: neither a model nor a table");
        }
        catch (JsonException e)
        {
            throw new FormatException($"a study result: {e.Message}", e);
        }
    }
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
