using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Json.Schema;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Node.Policy;

/// <summary>One schema violation: the field (JSON Pointer turned into a dotted path), the YAML line it sits on, and why.</summary>
public sealed record PolicySchemaError(string Field, int Line, string Message)
{
    public override string ToString() => $"line {Line}: {Field}: {Message}";
}

/// <summary>
/// Validates a site policy's YAML against policies/schema/site-policy.schema.json (JSON Schema 2020-12),
/// embedded in the node assembly from that one file, so the schema a compliance officer reads is the one the
/// node enforces. The YAML is read with YamlDotNet's representation model, which keeps each node's position;
/// scalars are typed by the YAML 1.2 core schema (quoted: string; plain: null, bool, integer, float or string),
/// the document becomes JSON, and every error the validator reports at an instance location is mapped back to
/// the line of that location's key (or value) in the file.
/// </summary>
public static partial class SitePolicySchema
{
    /// <summary>The embedded schema's text.</summary>
    public static string Text { get; } = ReadSchema();

    private static readonly JsonSchema Schema = JsonSchema.FromText(Text);
    private static readonly JsonDocument SchemaDocument = JsonDocument.Parse(Text);

    /// <summary>The YAML as JSON, with the line of each JSON Pointer; throws <see cref="SitePolicyException"/> for YAML that cannot be read (naming the line).</summary>
    internal static (JsonNode? Json, IReadOnlyDictionary<string, int> Lines) ToJson(string yaml, string source)
    {
        YamlStream stream;
        try
        {
            stream = FederatedTwin.Analytics.Studies.YamlInput.Load(yaml);
        }
        catch (YamlException e)
        {
            throw new SitePolicyException($"{source}, line {e.Start.Line}: not valid YAML: {(e.InnerException ?? e).Message}");
        }

        if (stream.Documents.Count > 1)
        {
            throw new SitePolicyException($"{source}, line {stream.Documents[1].RootNode.Start.Line}: one YAML document per policy file.");
        }

        var lines = new Dictionary<string, int>(StringComparer.Ordinal);
        if (stream.Documents.Count == 0)
        {
            return (null, lines);
        }

        var root = stream.Documents[0].RootNode;
        lines[string.Empty] = (int)root.Start.Line;
        return (Convert(root, string.Empty, lines, source), lines);
    }

    /// <summary>Every schema violation of the document, in file order; empty when it conforms.</summary>
    public static IReadOnlyList<PolicySchemaError> Validate(string yaml, string source = "policy.yaml")
    {
        var (json, lines) = ToJson(yaml, source);
        if (json is null)
        {
            return [new PolicySchemaError("(policy)", 1, "the policy is empty")];
        }

        // Hierarchical output: a failing branch under a passing anyOf is not an error, so only failing subtrees are walked.
        var results = Schema.Evaluate(JsonSerializer.SerializeToElement(json), new EvaluationOptions { OutputFormat = OutputFormat.Hierarchical });
        if (results.IsValid)
        {
            return [];
        }

        var errors = new List<RawError>();
        void Walk(EvaluationResults node, Alternative? alternative)
        {
            if (node.IsValid)
            {
                return;
            }

            var path = node.EvaluationPath.ToString();

            var own = node.Errors is { Count: > 0 } e ? e
                : node.Details is null || node.Details.All(d => d.IsValid)
                // A keyword that failed through a subschema reports no message of its own (propertyNames with a "not"): name the keyword.
                ? new Dictionary<string, string> { [node.EvaluationPath.ToString().Split('/')[^1]] = "failed" }
                : new Dictionary<string, string>();
            foreach (var (keyword, message) in own)
            {
                var pointer = node.InstanceLocation.ToString();
                var segments = Segments(pointer);
                var propertyName = path.Contains("/propertyNames", StringComparison.Ordinal);
                var schema = propertyName ? SubschemaOf(segments, propertyName) : SchemaAt(path) ?? SubschemaOf(segments, propertyName);
                var value = Value(json, segments);
                errors.Add(new RawError(new PolicySchemaError(Field(segments), LineOf(pointer, lines), Explain(keyword, message, segments, value, propertyName, schema)),
                    keyword, alternative, keyword == "type" && schema is { } s && s.TryGetProperty("type", out var type) ? type.ToString() : null, Shown(value, segments, propertyName)));
            }

            foreach (var child in node.Details ?? [])
            {
                // The alternatives of a oneOf (a budget is a number or an {epsilon, delta} object): remember which one an error is in.
                var childPath = child.EvaluationPath.ToString();
                var branch = childPath.LastIndexOf('/');
                Walk(child, childPath[..Math.Max(0, branch)].EndsWith("/oneOf", StringComparison.Ordinal)
                    ? new Alternative(childPath[..branch] + " @" + child.InstanceLocation, childPath[(branch + 1)..])
                    : alternative);
            }
        }

        Walk(results, null);
        return [.. OneAlternative(errors).Distinct().OrderBy(e => e.Line).ThenBy(e => e.Field, StringComparer.Ordinal)];
    }

    /// <summary>A oneOf at an instance location (<paramref name="Key"/>) and the index of one of its alternatives.</summary>
    private sealed record Alternative(string Key, string Branch);

    /// <summary>A violation as found, with what <see cref="OneAlternative"/> needs: the keyword, its oneOf alternative, the type it wanted.</summary>
    private sealed record RawError(PolicySchemaError Error, string Keyword, Alternative? Alternative, string? WantedType, string Shown);

    /// <summary>
    /// A value that fails a oneOf fails every alternative, but only the alternatives of its own type say anything useful: -4 for a
    /// budget is "must be at least 0", not also "must be object". The errors of an alternative that failed only on its type are
    /// dropped when another alternative has the value's type; when none has, they become one: "must be number or object".
    /// </summary>
    private static IEnumerable<PolicySchemaError> OneAlternative(List<RawError> errors)
    {
        foreach (var group in errors.GroupBy(e => e.Alternative?.Key))
        {
            if (group.Key is null)
            {
                foreach (var e in group)
                {
                    yield return e.Error;
                }

                continue;
            }

            var ofItsType = group.Where(e => e.Keyword != "type").Select(e => e.Alternative!.Branch).ToHashSet(StringComparer.Ordinal);
            if (ofItsType.Count > 0)
            {
                foreach (var e in group.Where(e => ofItsType.Contains(e.Alternative!.Branch)))
                {
                    yield return e.Error;
                }
            }
            else
            {
                var first = group.First();
                yield return first.Error with { Message = $"must be {string.Join(" or ", group.Select(e => e.WantedType).Distinct(StringComparer.Ordinal))} (got {first.Shown})" };
            }
        }
    }

    /// <summary>Throws <see cref="SitePolicyException"/> naming every violation (file, line, field) when the YAML does not conform; returns the document as JSON.</summary>
    internal static JsonNode Enforce(string yaml, string source)
    {
        var errors = Validate(yaml, source);
        if (errors.Count > 0)
        {
            throw new SitePolicyException($"{source}, {errors[0]}" + (errors.Count > 1 ? $" (and {errors.Count - 1} more: {string.Join("; ", errors.Skip(1).Select(e => e.ToString()))})" : string.Empty), errors);
        }

        return ToJson(yaml, source).Json!;
    }

    private static JsonNode? Convert(YamlNode node, string pointer, Dictionary<string, int> lines, string source)
    {
        switch (node)
        {
            case YamlMappingNode map:
                var obj = new JsonObject();
                foreach (var (key, value) in map.Children)
                {
                    if (key is not YamlScalarNode { Value: { } name })
                    {
                        throw new SitePolicyException($"{source}, line {key.Start.Line}: keys must be plain names.");
                    }

                    var child = pointer + "/" + name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
                    lines[child] = (int)key.Start.Line;
                    obj[name] = Convert(value, child, lines, source);
                }

                return obj;
            case YamlSequenceNode sequence:
                var array = new JsonArray();
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    var child = pointer + "/" + i.ToString(CultureInfo.InvariantCulture);
                    lines[child] = (int)sequence.Children[i].Start.Line;
                    array.Add(Convert(sequence.Children[i], child, lines, source));
                }

                return array;
            case YamlScalarNode scalar:
                return Scalar(scalar, source);
            default:
                throw new SitePolicyException($"{source}, line {node.Start.Line}: unsupported YAML node.");
        }
    }

    /// <summary>YAML 1.2 core schema resolution for plain scalars; quoted and block scalars, and !!str, are strings.</summary>
    private static JsonNode? Scalar(YamlScalarNode scalar, string source)
    {
        var text = scalar.Value ?? string.Empty;
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any) || (!scalar.Tag.IsNonSpecific && !scalar.Tag.IsEmpty && scalar.Tag.Value == "tag:yaml.org,2002:str"))
        {
            return JsonValue.Create(text);
        }

        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(text[0] is 't' or 'T');
        }

        if (IntegerPattern().IsMatch(text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }

        if (FloatPattern().IsMatch(text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
        {
            // The schema validator compares numbers as decimals and throws beyond decimal's range (found by the policy-yaml fuzz
            // target: a version of 39 digits). No setting of a policy comes near it.
            return Math.Abs(number) < 7.9e28 ? JsonValue.Create(number)
                : throw new SitePolicyException($"{source}, line {scalar.Start.Line}: a number beyond ±7.9E+28, larger than any policy setting.");
        }

        return JsonValue.Create(text);
    }

    private static string[] Segments(string pointer) => pointer.Length == 0
        ? []
        : [.. pointer[1..].Split('/').Select(s => s.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal))];

    /// <summary>/trusted_coordinators/0/public_key → trusted_coordinators[0].public_key.</summary>
    private static string Field(string[] segments)
    {
        if (segments.Length == 0)
        {
            return "(policy)";
        }

        var field = new StringBuilder();
        foreach (var s in segments)
        {
            if (s.All(char.IsAsciiDigit))
            {
                field.Append('[').Append(s).Append(']');
            }
            else
            {
                field.Append(field.Length == 0 ? string.Empty : ".").Append(s);
            }
        }

        return field.ToString();
    }

    /// <summary>The line of the location, or of its nearest ancestor that has one.</summary>
    private static int LineOf(string pointer, IReadOnlyDictionary<string, int> lines)
    {
        for (var p = pointer; ; p = p[..p.LastIndexOf('/')])
        {
            if (lines.TryGetValue(p, out var line))
            {
                return line;
            }

            if (p.Length == 0)
            {
                return 1;
            }
        }
    }

    private static JsonNode? Value(JsonNode? root, string[] segments)
    {
        var node = root;
        foreach (var s in segments)
        {
            node = node switch
            {
                JsonObject o => o[s],
                JsonArray a when int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < a.Count => a[i],
                _ => null,
            };
        }

        return node;
    }

    private static string Shown(JsonNode? value, string[] segments, bool propertyName) => propertyName ? $"'{segments[^1]}'" : value is null ? "nothing" : value.ToJsonString();

    /// <summary>A sentence a compliance officer can act on; falls back to the validator's own message.</summary>
    /// <param name="schema">The subschema whose keyword failed (its bounds and types are quoted).</param>
    private static string Explain(string keyword, string message, string[] segments, JsonNode? value, bool propertyName, JsonElement? schema)
    {
        var shown = Shown(value, segments, propertyName);
        string Allowed(string key) => schema is { } s && s.TryGetProperty(key, out var v) ? v.ToString() : "?";
        return keyword switch
        {
            "" when message.Contains("false schema", StringComparison.Ordinal) => "not a field of the site policy schema",
            "required" => RequiredPattern().Match(message) is { Success: true } m ? $"required field(s) missing: {m.Groups[1].Value.Replace("\"", string.Empty, StringComparison.Ordinal)}" : message,
            "enum" when schema is { } s && s.TryGetProperty("enum", out var options) => $"{shown} is not one of {string.Join(", ", options.EnumerateArray().Select(o => o.ToString()))}",
            "const" => $"must be {Allowed("const")} (got {shown})",
            "type" => $"must be {Allowed("type")} (got {shown})",
            "minimum" => $"must be at least {Allowed("minimum")} (got {shown})",
            "pattern" => $"{shown} does not match {Allowed("pattern")}",
            "minLength" => "must not be empty",
            "propertyNames" or "not" when propertyName => $"{shown} is a reserved name (built in) or not a lower-case name",
            "dependentRequired" => $"needs {message}",
            "uniqueItems" => "lists a value twice",
            _ => message,
        };
    }

    /// <summary>The subschema at an evaluation path (a JSON Pointer into the schema: /properties/x/oneOf/0), or null when it does not resolve.</summary>
    private static JsonElement? SchemaAt(string evaluationPath)
    {
        var schema = SchemaDocument.RootElement;
        foreach (var raw in evaluationPath.Split('/'))
        {
            if (raw.Length == 0 || raw == "#")
            {
                continue;
            }

            var segment = raw.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (schema.ValueKind == JsonValueKind.Object && schema.TryGetProperty(segment, out var child))
            {
                schema = child;
            }
            else if (schema.ValueKind == JsonValueKind.Array && int.TryParse(segment, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < schema.GetArrayLength())
            {
                schema = schema[i];
            }
            else
            {
                return null;
            }
        }

        return schema.ValueKind == JsonValueKind.Object ? schema : null;
    }

    /// <summary>The subschema that applies at an instance location (properties, additionalProperties, items; propertyNames for a key).</summary>
    private static JsonElement? SubschemaOf(string[] segments, bool propertyName)
    {
        JsonElement? schema = SchemaDocument.RootElement;
        for (var i = 0; i < segments.Length && schema is { } s; i++)
        {
            var last = i == segments.Length - 1;
            if (last && propertyName)
            {
                return s.TryGetProperty("propertyNames", out var names) ? names : null;
            }

            schema = s.TryGetProperty("properties", out var properties) && properties.TryGetProperty(segments[i], out var p) ? p
                : s.TryGetProperty("items", out var items) ? items
                : s.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind == JsonValueKind.Object ? additional
                : null;
        }

        return schema;
    }

    private static string ReadSchema()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("site-policy.schema.json") ?? throw new InvalidOperationException("The site policy schema is not embedded in the node assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex IntegerPattern();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex FloatPattern();

    [GeneratedRegex(@"\[(.*)\]")]
    private static partial Regex RequiredPattern();
}
