using System.Text.Json;
using System.Text.Json.Serialization;

namespace FederatedTwin.Analytics.Registry;

/// <summary>
/// A document the coordinator's model registry stores (the <c>models</c> table, one row per document): a GLM, a FedAvg
/// model or a population composition. The registry keys it by <see cref="Id"/>, <see cref="Kind"/> and <see cref="Outcome"/>
/// and keeps <see cref="ToJson"/> as written; every reader parses it back with the document's own <c>FromJson</c>.
/// </summary>
public interface IRegistryDocument
{
    /// <summary>Registry id, e.g. glm/admission_next_year/s1.</summary>
    string Id { get; }

    /// <summary>glm, fedavg or composition.</summary>
    string Kind { get; }

    /// <summary>The response column (composition for a composition release).</summary>
    string Outcome { get; }

    /// <summary>The document as the registry stores it: compact JSON, snake_case, fields in declaration order.</summary>
    string ToJson();
}

/// <summary>
/// The serializer settings of every registry document and study result: snake_case names in declaration order, nulls
/// written unless a member says otherwise, and the default (HTML-safe) encoder, so the text is the one the coordinator
/// has always stored and served.
/// </summary>
public static class RegistryJson
{
    /// <summary>Compact, as stored in the registry and in study results.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    /// <summary>Indented, as exported to a registry directory.</summary>
    public static JsonSerializerOptions Indented { get; } = new(Options) { WriteIndented = true };

    /// <summary>Serializes a document or result compactly.</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>Parses a document; a malformed one is a <see cref="FormatException"/> naming what it was meant to be.</summary>
    public static T Deserialize<T>(string json, string what)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options) ?? throw new FormatException($"{what}: the document is null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{what}: {e.Message}", e);
        }
    }
}
