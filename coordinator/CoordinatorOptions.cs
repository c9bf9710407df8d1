using System.ComponentModel.DataAnnotations;

namespace FederatedTwin.Coordinator;

/// <summary>The coordinator's settings, bound from configuration (section "Coordinator") and validated at start-up.</summary>
public sealed class CoordinatorOptions : Hosting.CommonServiceOptions
{
    public const string Section = "Coordinator";

    /// <summary>The directory that holds coordinator.db, the key ring and the admin token.</summary>
    [Required]
    public string DataDir { get; set; } = string.Empty;

    /// <summary>Longest a node's long-poll for work is held open.</summary>
    [Range(0, 120)]
    public int LongPollSeconds { get; set; } = 20;

    /// <summary>How often the orchestrator advances studies (deadlines, phase completion).</summary>
    [Range(20, 10_000)]
    public int TickMilliseconds { get; set; } = 200;

    /// <summary>Lifetime of an enrollment token.</summary>
    [Range(60, 30 * 86_400)]
    public int EnrollmentTokenLifetimeSeconds { get; set; } = 7 * 86_400;

    protected override (string Section, string Name, string Path) ServiceDirectory => (Section, nameof(DataDir), DataDir);
}
