namespace FederatedTwin.Protocol.Federation;

/// <summary>The federation protocol's version. Every request and response carries it in a signed header.</summary>
public static class FederationProtocol
{
    /// <summary>Bumped on any incompatible change to a message or to the round flow.</summary>
    public const int Version = 1;

    public const string VersionHeader = "Ftwin-Protocol";

    public const string NonceHeader = "Ftwin-Nonce";

    /// <summary>Media type of the JSON bodies on the wire.</summary>
    public const string JsonMediaType = "application/json";

    /// <summary>Largest request body either service accepts (an encrypted update of ~100k values is ~6 MB in base64).</summary>
    public const long MaxRequestBodyBytes = 64L * 1024 * 1024;
}
