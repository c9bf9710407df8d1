namespace FederatedTwin.Twin.Mssp;

/// <summary>An argument to the settlement is missing or impossible; <see cref="Field"/> names it.</summary>
public sealed class MsspInputException : ArgumentException
{
    /// <summary>Creates the exception for one named input.</summary>
    public MsspInputException(string field, string message)
        : base($"{field}: {message}") => Field = field;

    /// <summary>Creates an exception without a field (required by CA1032).</summary>
    public MsspInputException() => Field = string.Empty;

    /// <summary>Creates an exception without a field (required by CA1032).</summary>
    public MsspInputException(string message)
        : base(message) => Field = string.Empty;

    /// <summary>Creates an exception without a field (required by CA1032).</summary>
    public MsspInputException(string message, Exception innerException)
        : base(message, innerException) => Field = string.Empty;

    /// <summary>The input that is wrong (track, assigned, benchmark-pbpy, ...).</summary>
    public string Field { get; }
}
