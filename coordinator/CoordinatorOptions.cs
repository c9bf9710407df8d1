using System.ComponentModel.DataAnnotations;

namespace FederatedTwin.Coordinator;

/// <summary>The coordinator's settings, bound from configuration (section "Coordinator") and validated at start-up.</summary>
public sealed class CoordinatorOptions() : Hosting.CommonServiceOptions("http://127.0.0.1:7401")
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

    /// <summary>/v1/node requests one source address may make in a minute (several nodes may share an address behind NAT).</summary>
    [Range(1, 1_000_000)]
    public int NodeRequestsPerMinutePerAddress { get; set; } = 6000;

    /// <summary>Authenticated requests one node may make in a minute (a busy node makes a few a second during a round).</summary>
    [Range(1, 1_000_000)]
    public int NodeRequestsPerMinutePerKey { get; set; } = 1200;

    /// <summary>Failed authentications (node signatures and admin tokens) one source address may cause in a minute before it is refused unread.</summary>
    [Range(1, 1_000_000)]
    public int FailedAuthenticationsPerMinutePerAddress { get; set; } = 60;

    /// <summary>The interval over which repeated refusals of one rule and source are audited as one counted entry.</summary>
    [Range(1, 86_400)]
    public int RefusalAuditIntervalSeconds { get; set; } = 60;

    /// <summary>
    /// The store size cap in MB (coordinator.db may not grow past it; docs/operations.md, "Store size cap"): a step that would grow it
    /// fails with "store full" and is rolled back. Null: bounded only by the disk.
    /// </summary>
    [Range(1, 16 * 1024 * 1024)]
    public int? MaxStoreMegabytes { get; set; }

    protected override (string Section, string Name, string Path) ServiceDirectory => (Section, nameof(DataDir), DataDir);

    protected override IEnumerable<ValidationResult> ValidateService(ValidationContext validationContext)
    {
        if (Security.AdminListener.Problem(AdminUrl) is { } adminUrl)
        {
            yield return new ValidationResult(adminUrl, [nameof(AdminUrl)]);
        }
    }
}
