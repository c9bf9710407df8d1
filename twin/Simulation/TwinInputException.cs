namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// An input the twin cannot use (a scenario file, a model set), with <see cref="Field"/> naming the part at fault: the
/// scenario parser turns a model set's error into a scenario file's by the field, so both carry it the same way.
/// </summary>
public abstract class TwinInputException : Exception
{
    /// <summary>Creates the error for one field.</summary>
    protected TwinInputException(string field, string message)
        : base(message) => Field = field;

    /// <summary>Required by CA1032.</summary>
    protected TwinInputException()
    {
    }

    /// <summary>Required by CA1032.</summary>
    protected TwinInputException(string message)
        : base(message)
    {
    }

    /// <summary>Required by CA1032.</summary>
    protected TwinInputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>The part of the input at fault; empty when the error names none.</summary>
    public string Field { get; } = string.Empty;
}
