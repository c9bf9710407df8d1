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

    /// <summary>
    /// The round engine's lease on a shared PostgreSQL store (docs/operations.md, "Running replicas"): the leader renews it every third
    /// of this; after a leader dies another replica takes over within about this long (plus a third). Unused with SQLite.
    /// </summary>
    [Range(1, 300)]
    public int LeaseSeconds { get; set; } = 5;

    /// <summary>This replica's name in the lease and the audit trail (the process id and a random suffix are added); the host name when unset.</summary>
    [StringLength(100)]
    public string? ReplicaName { get; set; }

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

    /// <summary>
    /// The node listener's TLS certificate when it listens on https (Kestrel): a PEM file (the certificate, then any intermediates)
    /// with its key in <see cref="TlsKeyPath"/> or in the same file, or a PKCS#12 file (.pfx, .p12). The admin listener uses it too
    /// when it is https. Refused at start when it cannot be read, has no private key or a key that does not match, or is outside
    /// its validity period.
    /// </summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="TlsCertificatePath"/> (PKCS#8, SEC1 or PKCS#1), when it is not in the certificate's file.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>The password of a PKCS#12 certificate or of an encrypted PEM key (from a secret store: FTWIN_Coordinator__TlsCertificatePassword).</summary>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>
    /// Mutual TLS for nodes: every /v1/node request must come over a connection that presents the TLS client certificate whose
    /// SHA-256 fingerprint the node registered in its signed enrollment (an enrollment, the one its own body carries). Needs an
    /// https node listener; a TLS-terminating proxy would hide the certificate, so it cannot be combined with <see cref="BehindTlsProxy"/>.
    /// </summary>
    public bool RequireClientCertificates { get; set; }

    /// <summary>
    /// The node listener is plain http beyond loopback because a TLS-terminating reverse proxy in front of it serves https to the
    /// nodes (and nothing else can reach the listener). Without it, a plain http node URL beyond loopback is refused at start.
    /// </summary>
    public bool BehindTlsProxy { get; set; }

    protected override (string Section, string Name, string Path) ServiceDirectory => (Section, nameof(DataDir), DataDir);

    protected override IEnumerable<ValidationResult> ValidateService(ValidationContext validationContext)
    {
        if (Security.AdminListener.Problem(AdminUrl) is { } adminUrl)
        {
            yield return new ValidationResult(adminUrl, [nameof(AdminUrl)]);
        }

        if (Security.CoordinatorTls.Problem(this, TimeProvider.System.GetUtcNow()) is { } tls)
        {
            yield return new ValidationResult(tls, [nameof(TlsCertificatePath)]);
        }
    }
}
