using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace FederatedTwin.Protocol.Federation;

/// <summary>A study's identifier: lowercase letters, digits and dashes, chosen by the analyst.</summary>
[JsonConverter(typeof(StudyIdJsonConverter))]
public readonly partial record struct StudyId
{
    public StudyId(string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 64 || !Pattern().IsMatch(value))
        {
            throw new ArgumentException("A study id is 1–64 characters of lowercase letters, digits and dashes, starting with a letter or digit.", nameof(value));
        }

        Value = value;
    }

    public string Value { get; }

    public override string ToString() => Value;

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex Pattern();
}

/// <summary>A node's identifier, assigned by the coordinator at enrollment.</summary>
[JsonConverter(typeof(NodeIdJsonConverter))]
public readonly record struct NodeId(string Value)
{
    public static NodeId New() => new("node-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)));

    public override string ToString() => Value;
}

/// <summary>HL7 v3 PurposeOfUse (ActReason) codes a study may declare.</summary>
[JsonConverter(typeof(PurposeOfUseJsonConverter))]
public readonly record struct PurposeOfUse
{
    /// <summary>The codes of the HL7 v3 PurposeOfUse value set that apply to aggregate analytics.</summary>
    public static readonly IReadOnlySet<string> Known = new HashSet<string>(StringComparer.Ordinal)
    {
        "TREAT", "HOPERAT", "HPAYMT", "HRESCH", "PUBHLTH", "HMARKT", "HQUALIMP", "HSYSADMIN", "CLINTRCH",
    };

    public PurposeOfUse(string code)
    {
        if (!Known.Contains(code))
        {
            throw new ArgumentException($"'{code}' is not an HL7 v3 PurposeOfUse code this product knows ({string.Join(", ", Known.Order(StringComparer.Ordinal))}).", nameof(code));
        }

        Code = code;
    }

    public string Code { get; }

    public override string ToString() => Code;
}

internal sealed class StudyIdJsonConverter : JsonConverter<StudyId>
{
    public override StudyId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, StudyId value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

internal sealed class NodeIdJsonConverter : JsonConverter<NodeId>
{
    public override NodeId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, NodeId value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

internal sealed class PurposeOfUseJsonConverter : JsonConverter<PurposeOfUse>
{
    public override PurposeOfUse Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(reader.GetString() ?? string.Empty);

    public override void Write(Utf8JsonWriter writer, PurposeOfUse value, JsonSerializerOptions options) => writer.WriteStringValue(value.Code);
}
