using System.ComponentModel.DataAnnotations;

namespace FederatedTwin.Coordinator;

/// <summary>The coordinator's settings, bound from configuration (section "Coordinator") and validated at start-up.</summary>
public sealed class CoordinatorOptions : IValidatableObject
{
    public const string Section = "Coordinator";

    /// <summary>The directory that holds coordinator.db, the key ring and the admin token.</summary>
    [Required]
    public string DataDir { get; set; } = string.Empty;

    /// <summary>How far a signed request's "created" may be from the coordinator's clock.</summary>
    [Range(5, 3600)]
    public int SignatureWindowSeconds { get; set; } = 60;

    /// <summary>Longest a node's long-poll for work is held open.</summary>
    [Range(0, 120)]
    public int LongPollSeconds { get; set; } = 20;

    /// <summary>How often the orchestrator advances studies (deadlines, phase completion).</summary>
    [Range(20, 10_000)]
    public int TickMilliseconds { get; set; } = 200;

    /// <summary>Lifetime of an enrollment token.</summary>
    [Range(60, 30 * 86_400)]
    public int EnrollmentTokenLifetimeSeconds { get; set; } = 7 * 86_400;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrEmpty(DataDir) && !Path.IsPathFullyQualified(DataDir))
        {
            yield return new ValidationResult($"Coordinator:DataDir must be an absolute path, got '{DataDir}'.", [nameof(DataDir)]);
        }
    }
}
