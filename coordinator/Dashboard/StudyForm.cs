using FederatedTwin.Analytics.Studies;
using System.Globalization;
using FederatedTwin.Protocol.Federation;
using YamlDotNet.Serialization;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>
/// The new-study form. It is turned into study.yaml and read by <see cref="StudyFile"/>, the one validator every
/// study passes (CLI, admin API, dashboard), so the form reports exactly the errors the file would, by field.
/// </summary>
public sealed class StudyForm
{
    public string? Id { get; set; }

    public string? Algorithm { get; set; }

    public string? PurposeOfUse { get; set; } = "HOPERAT";

    public int MinNodes { get; set; } = 3;

    public int MaxNodes { get; set; } = 100;

    public int Rounds { get; set; } = 1;

    public int PhaseDeadlineSeconds { get; set; } = 60;

    public string? Description { get; set; }

    /// <summary>One "name: value" per line (see docs/protocol.md for each algorithm's parameters).</summary>
    public string? Parameters { get; set; }

    /// <summary>The study file this form stands for; a malformed parameter line is an error on "parameters".</summary>
    public string ToYaml()
    {
        var parameters = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var lines = (Parameters ?? string.Empty).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new StudyFileException("parameters", $"line {i + 1} is not 'name: value'");
            }

            parameters[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var document = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = Id ?? string.Empty,
            ["algorithm"] = Algorithm ?? string.Empty,
            ["purpose_of_use"] = PurposeOfUse ?? string.Empty,
            ["min_nodes"] = MinNodes,
            ["max_nodes"] = MaxNodes,
            ["rounds"] = Rounds,
            ["phase_deadline_seconds"] = PhaseDeadlineSeconds,
        };
        if (!string.IsNullOrWhiteSpace(Description))
        {
            document["description"] = Description;
        }

        if (parameters.Count > 0)
        {
            document["parameters"] = parameters;
        }

        return new SerializerBuilder().Build().Serialize(document);
    }

    /// <summary>The form field an error belongs next to ("parameters.vector" belongs to the parameters box).</summary>
    public static string FieldOf(StudyFileException e) =>
        e.Field.StartsWith("parameters", StringComparison.Ordinal) ? "parameters"
        : e.Field is "id" or "algorithm" or "purpose_of_use" or "min_nodes" or "max_nodes" or "rounds" or "phase_deadline_seconds" or "description" ? e.Field
        : string.Empty;

    /// <summary>"line N, field: message": the line from the parser, or else the line where the field's key stands in the file.</summary>
    public static string Describe(StudyFileException e, string yaml) =>
        (e.Line ?? LineOf(yaml, e.Field)) is { } line ? string.Create(CultureInfo.InvariantCulture, $"line {line}, {e.Field}: {Message(e)}") : $"{e.Field}: {Message(e)}";

    /// <summary>The 1-based line of a top-level key (or, for "parameters.x", of x under parameters), if the file has it.</summary>
    private static long? LineOf(string yaml, string field)
    {
        var key = field.Split('.')[^1] + ":";
        var nested = field.Contains('.', StringComparison.Ordinal);
        var lines = yaml.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var trimmed = lines[i].TrimStart();
            if (trimmed.StartsWith(key, StringComparison.Ordinal) && (nested ? trimmed.Length < lines[i].Length : trimmed.Length == lines[i].Length))
            {
                return i + 1;
            }
        }

        return null;
    }

    /// <summary>The exception's message without the "line N: field: " prefix it carries for the command line.</summary>
    public static string Message(StudyFileException e)
    {
        var prefix = e.Line is null ? $"{e.Field}: " : $"line {e.Line}: {e.Field}: ";
        return e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
    }
}
