using FederatedTwin.Protocol.Federation;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace FederatedTwin.Analytics.Studies;

/// <summary>A study definition that failed validation: names the field and, for YAML, the line.</summary>
public sealed class StudyFileException : FormatException
{
    public StudyFileException(string field, string message, long? line = null)
        : base(line is null ? $"{field}: {message}" : $"line {line}: {field}: {message}")
    {
        Field = field;
        Line = line;
    }

    public StudyFileException()
    {
        Field = string.Empty;
    }

    public StudyFileException(string message)
        : base(message)
    {
        Field = string.Empty;
    }

    public StudyFileException(string message, Exception innerException)
        : base(message, innerException)
    {
        Field = string.Empty;
    }

    public string Field { get; }

    public long? Line { get; }
}

/// <summary>Reads and validates study.yaml (see docs/protocol.md for the fields).</summary>
public static class StudyFile
{
    public static StudySpec Parse(string yaml)
    {
        Document? doc;
        try
        {
            doc = YamlInput.Deserialize<Document>(new DeserializerBuilder()
                .WithNamingConvention(UnderscoredNamingConvention.Instance)
                .Build(), yaml);
        }
        catch (YamlException e)
        {
            var field = e.InnerException?.Message.Contains("Property '", StringComparison.Ordinal) == true
                ? e.InnerException.Message.Split('\'')[1]
                : "study";
            throw new StudyFileException(field, "not a valid study definition (unknown field or wrong type)", e.Start.Line);
        }

        if (doc is null)
        {
            throw new StudyFileException("study", "the file is empty");
        }

        return Validate(doc);
    }

    private static StudySpec Validate(Document d)
    {
        StudyId id;
        try
        {
            id = new StudyId(d.Id ?? string.Empty);
        }
        catch (ArgumentException e)
        {
            throw new StudyFileException("id", e.Message);
        }

        if (string.IsNullOrWhiteSpace(d.Algorithm))
        {
            throw new StudyFileException("algorithm", "required");
        }

        PurposeOfUse purpose;
        try
        {
            purpose = new PurposeOfUse(d.PurposeOfUse ?? string.Empty);
        }
        catch (ArgumentException e)
        {
            throw new StudyFileException("purpose_of_use", e.Message);
        }

        var min = d.MinNodes ?? 3;
        var max = d.MaxNodes ?? 100;
        if (min < 2)
        {
            throw new StudyFileException("min_nodes", "must be at least 2: a sum over one node is that node's data");
        }

        if (max < min)
        {
            throw new StudyFileException("max_nodes", "must be at least min_nodes");
        }

        var rounds = d.Rounds ?? 1;
        if (rounds is < 1 or > 1000)
        {
            throw new StudyFileException("rounds", "must be between 1 and 1000");
        }

        var deadline = d.PhaseDeadlineSeconds ?? 60;
        if (deadline is < 1 or > 86_400)
        {
            throw new StudyFileException("phase_deadline_seconds", "must be between 1 and 86400");
        }

        // dp_min_honest_nodes (h), when given, must be 1..min_nodes: the honest nodes whose noise shares alone reach the target.
        _ = Privacy.StudyPrivacy.MinHonestNodes(d.Parameters, min);
        return new StudySpec(id, d.Algorithm, purpose, min, max, rounds, deadline, d.Description, d.Parameters ?? new Dictionary<string, string>());
    }

    private sealed class Document
    {
        public string? Id { get; set; }

        public string? Algorithm { get; set; }

        public string? PurposeOfUse { get; set; }

        public int? MinNodes { get; set; }

        public int? MaxNodes { get; set; }

        public int? Rounds { get; set; }

        public int? PhaseDeadlineSeconds { get; set; }

        public string? Description { get; set; }

        public Dictionary<string, string>? Parameters { get; set; }
    }
}
