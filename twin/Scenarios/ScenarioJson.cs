using System.Text.Json;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>The one JSON form of a scenario result: <c>ftwin scenario run --json</c> and POST /v1/admin/scenarios/run print exactly this.</summary>
public static class ScenarioJson
{
    /// <summary>snake_case, indented, non-ASCII text kept as is.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Serializes a result.</summary>
    public static string Serialize(ScenarioResult result) => JsonSerializer.Serialize(result, Options);
}
