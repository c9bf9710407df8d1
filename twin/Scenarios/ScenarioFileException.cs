using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// A scenario file is invalid; the message names the field path and the line (1-based). <see cref="TwinInputException.Field"/>
/// is the dotted path of the offending field, e.g. interventions[0].coverage[1].
/// </summary>
public sealed class ScenarioFileException : TwinInputException
{
    /// <summary>Creates the error for one field at one line.</summary>
    public ScenarioFileException(string field, long line, string problem)
        : base(field, $"line {line}: {field}: {problem}") => Line = line;

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException()
    {
    }

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException(string message)
        : base(message)
    {
    }

    /// <summary>Required by CA1032.</summary>
    public ScenarioFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>1-based line in the file.</summary>
    public long Line { get; }
}
