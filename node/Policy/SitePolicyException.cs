namespace FederatedTwin.Node.Policy;

/// <summary>A site policy that cannot be used: names the field (and the line, for YAML and schema errors).</summary>
public sealed class SitePolicyException : Exception
{
    public SitePolicyException()
        : this("Invalid site policy.")
    {
    }

    public SitePolicyException(string message)
        : this(message, [])
    {
    }

    public SitePolicyException(string message, IReadOnlyList<PolicySchemaError> errors)
        : base(message)
    {
        Errors = errors;
    }

    public SitePolicyException(string message, Exception innerException)
        : base(message + " " + innerException.Message, innerException)
    {
        Errors = [];
    }

    /// <summary>Every violation of the schema (empty for errors the schema cannot express, such as an unknown sensitive category).</summary>
    public IReadOnlyList<PolicySchemaError> Errors { get; }
}
