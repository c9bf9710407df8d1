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

/// <summary>
/// When a study template runs again (docs/models.md, "Refresh"): after <see cref="Every"/> since its last run began, and/or when at
/// least <see cref="MinNodesWithNewData"/> of its last run's participants (and at least <see cref="MinNewDataFraction"/> of them)
/// report a data version other than the one they had when they accepted that run. Every rule given must hold.
/// </summary>
public sealed record RefreshRule(TimeSpan? Every, int? MinNodesWithNewData, double? MinNewDataFraction)
{
    /// <summary>The rules as text, as audit records and pages name them (e.g. "every P30D, min_nodes_with_new_data 2").</summary>
    public string Describe() => string.Join(", ", new[]
    {
        Every is { } e ? "every " + System.Xml.XmlConvert.ToString(e) : null,
        MinNodesWithNewData is { } k ? $"min_nodes_with_new_data {k}" : null,
        MinNewDataFraction is { } f ? FormattableString.Invariant($"min_new_data_fraction {f:G4}") : null,
    }.Where(x => x is not null));
}

/// <summary>A study definition and, when it has a <c>refresh:</c> block, the rule that runs it again (a template).</summary>
public sealed record StudyTemplate(StudySpec Spec, RefreshRule? Refresh)
{
    /// <summary>The most runs a template may make: its runs' ids (<see cref="RunId"/>) must stay valid study ids.</summary>
    public const int MaxRuns = 99_999;

    /// <summary>The id of the template's run <paramref name="sequence"/> (from 1): the template id and "-r" and the number, e.g. hf-glm-r3.</summary>
    public static StudyId RunId(StudyId template, int sequence) => new(FormattableString.Invariant($"{template.Value}-r{sequence}"));
}

/// <summary>Reads and validates study.yaml (see docs/protocol.md for the fields).</summary>
public static class StudyFile
{
    /// <summary>The longest template id: room for "-r" and <see cref="StudyTemplate.MaxRuns"/> within a study id's 64 characters.</summary>
    public const int MaxTemplateIdLength = 57;

    /// <summary>Reads a study definition; a <c>refresh:</c> block, if any, is validated and left to <see cref="ParseTemplate"/>.</summary>
    public static StudySpec Parse(string yaml) => ParseTemplate(yaml).Spec;

    /// <summary>Reads a study definition with its optional <c>refresh:</c> block (a study template).</summary>
    public static StudyTemplate ParseTemplate(string yaml)
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

        var spec = Validate(doc);
        return new StudyTemplate(spec, doc.Refresh is null ? null : ValidateRefresh(spec, doc.Refresh));
    }

    private static RefreshRule ValidateRefresh(StudySpec spec, RefreshDocument r)
    {
        if (spec.Id.Value.Length > MaxTemplateIdLength)
        {
            throw new StudyFileException("id", $"a template's id has at most {MaxTemplateIdLength} characters (its runs are named <id>-r<n>)");
        }

        TimeSpan? every = null;
        if (r.Every is { } text)
        {
            // ISO 8601 durations (4.4.3) as XML Schema's xs:duration reads them (P30D, PT12H, P1DT6H); months and years are refused:
            // their length depends on the calendar, and a schedule must say how long it waits.
            if (text.Contains('Y', StringComparison.Ordinal) || (text.Split('T')[0].Contains('M', StringComparison.Ordinal)))
            {
                throw new StudyFileException("refresh.every", $"'{text}': give days, hours, minutes or seconds (e.g. P30D), not months or years");
            }

            try
            {
                every = System.Xml.XmlConvert.ToTimeSpan(text);
            }
            catch (FormatException)
            {
                throw new StudyFileException("refresh.every", $"'{text}' is not an ISO 8601 duration (e.g. P30D, PT12H)");
            }

            if (every <= TimeSpan.Zero || every < TimeSpan.FromSeconds(1))
            {
                throw new StudyFileException("refresh.every", "must be at least one second");
            }
        }

        if (r.MinNodesWithNewData is < 1)
        {
            throw new StudyFileException("refresh.min_nodes_with_new_data", "must be at least 1");
        }

        if (r.MinNewDataFraction is { } f && (double.IsNaN(f) || f is <= 0 or > 1))
        {
            throw new StudyFileException("refresh.min_new_data_fraction", "must be above 0 and at most 1");
        }

        if (every is null && r.MinNodesWithNewData is null && r.MinNewDataFraction is null)
        {
            throw new StudyFileException("refresh", "give every, min_nodes_with_new_data or min_new_data_fraction (or leave the block out)");
        }

        return new RefreshRule(every, r.MinNodesWithNewData, r.MinNewDataFraction);
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

        // committee_threshold t (t-of-n decryption, docs/protocol.md): at least 2 (one key holder alone would decrypt anything) and at
        // most min_nodes (an attempt with min_nodes participants must still be able to decrypt).
        if (d.CommitteeThreshold is { } t && (t < 2 || t > min))
        {
            throw new StudyFileException("committee_threshold", $"must be between 2 and min_nodes ({min}), got {t}");
        }

        return new StudySpec(id, d.Algorithm, purpose, min, max, rounds, deadline, d.Description, d.Parameters ?? new Dictionary<string, string>(), d.CommitteeThreshold);
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

        public int? CommitteeThreshold { get; set; }

        public string? Description { get; set; }

        public Dictionary<string, string>? Parameters { get; set; }

        public RefreshDocument? Refresh { get; set; }
    }

    private sealed class RefreshDocument
    {
        public string? Every { get; set; }

        public int? MinNodesWithNewData { get; set; }

        public double? MinNewDataFraction { get; set; }
    }
}
