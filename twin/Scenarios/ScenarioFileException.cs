namespace FederatedTwin.Twin.Scenarios;

/// <summary>A scenario file is invalid; the message names the field path and the line (1-based).</summary>
public sealed class ScenarioFileException : Exception
{
    /// <summary>Creates the error for one field at one line.</summary>
    public ScenarioFileException(string field, long line, string problem)
        : base($"line {line}: {field}: {problem}")
    {
        Field = field;
        Line = line;
    }

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException() => Field = string.Empty;

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException(string message)
        : base(message) => Field = string.Empty;

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException(string message, Exception innerException)
        : base(message, innerException) => Field = string.Empty;

    /// <summary>Dotted path of the offending field, e.g. interventions[0].coverage[1].</summary>
    public string Field { get; }

    /// <summary>1-based line in the file.</summary>
    public long Line { get; }
}
