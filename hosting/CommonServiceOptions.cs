using System.ComponentModel.DataAnnotations;

namespace FederatedTwin.Hosting;

/// <summary>
/// What the node's and the coordinator's settings have in common, validated at start-up like the rest: the window a
/// signed message's "created" must fall in (RFC 9421 section 2.3), and the service's directory, which must be an
/// absolute path so the service never depends on the directory it was started from.
/// </summary>
public abstract class CommonServiceOptions(string defaultAdminUrl) : IValidatableObject
{
    /// <summary>
    /// Where the service's admin API listens, on a listener of its own: loopback on a node (nothing on a node accepts outside
    /// connections); loopback on the coordinator unless the ACO serves it over https. Each service checks its own rule.
    /// </summary>
    [Required]
    public string AdminUrl { get; set; } = defaultAdminUrl;

    /// <summary>How far a signed message's "created" may be from this service's clock: requests at the coordinator, responses at the node.</summary>
    [Range(5, 3600)]
    public int SignatureWindowSeconds { get; set; } = 60;

    /// <summary>The service's configuration section, the name of its directory setting and the directory, for <see cref="Validate"/>.</summary>
    protected abstract (string Section, string Name, string Path) ServiceDirectory { get; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var (section, name, path) = ServiceDirectory;
        if (!string.IsNullOrEmpty(path) && !Path.IsPathFullyQualified(path))
        {
            yield return new ValidationResult($"{section}:{name} must be an absolute path, got '{path}'.", [name]);
        }
        else if (!string.IsNullOrEmpty(path) && Files.OwnerOnly.Problem(path) is { } exposed)
        {
            yield return new ValidationResult(exposed, [name]); // a directory others can reach: refused before anything in it is opened
        }

        foreach (var result in ValidateService(validationContext))
        {
            yield return result;
        }
    }

    /// <summary>The service's own checks, after the directory's.</summary>
    protected virtual IEnumerable<ValidationResult> ValidateService(ValidationContext validationContext) => [];
}
