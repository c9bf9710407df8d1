using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>Typed access to a YAML mapping that reports every problem with the field path and line.</summary>
internal sealed class YamlFields
{
    private readonly YamlMappingNode _map;
    private readonly HashSet<string> _used = [];

    public YamlFields(YamlNode node, string path)
    {
        Path = path;
        _map = node as YamlMappingNode ?? throw new ScenarioFileException(path, node.Start.Line, "expected a mapping (key: value lines)");
    }

    public string Path { get; }

    public long Line => _map.Start.Line;

    public YamlNode? Node(string key)
    {
        _used.Add(key);
        return _map.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;
    }

    public string Field(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public YamlNode Required(string key) => Node(key) ?? throw new ScenarioFileException(Field(key), Line, "is required");

    public string? String(string key) => Node(key) is { } n ? Scalar(n, Field(key)) : null;

    public double? Double(string key) => Node(key) is { } n ? ParseDouble(n, Field(key)) : null;

    public int? Int(string key) => Node(key) is { } n
        ? int.TryParse(Scalar(n, Field(key)), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : throw new ScenarioFileException(Field(key), n.Start.Line, "must be a whole number")
        : null;

    public bool? Bool(string key) => Node(key) is { } n
        ? bool.TryParse(Scalar(n, Field(key)), out var v) ? v : throw new ScenarioFileException(Field(key), n.Start.Line, "must be true or false")
        : null;

    public IReadOnlyList<YamlNode> Sequence(string key) => Node(key) switch
    {
        null => [],
        YamlSequenceNode s => [.. s.Children],
        var n => throw new ScenarioFileException(Field(key), n.Start.Line, "expected a list"),
    };

    /// <summary>Unknown keys are errors, so a misspelt field never silently means "default".</summary>
    public void RejectUnknown()
    {
        foreach (var key in _map.Children.Keys)
        {
            var name = (key as YamlScalarNode)?.Value ?? "?";
            if (!_used.Contains(name))
            {
                throw new ScenarioFileException(Field(name), key.Start.Line, "unknown field");
            }
        }
    }

    public static string Scalar(YamlNode node, string field) =>
        (node as YamlScalarNode)?.Value ?? throw new ScenarioFileException(field, node.Start.Line, "expected a single value");

    public static double ParseDouble(YamlNode node, string field) =>
        double.TryParse(Scalar(node, field), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw new ScenarioFileException(field, node.Start.Line, "must be a number");
}
