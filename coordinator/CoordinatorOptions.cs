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

    /// <summary>
    /// Where the coordinator keeps its state: "sqlite" (coordinator.db in <see cref="DataDir"/>, the default) or "postgres" (the
    /// database of <see cref="PostgresConnectionString"/>; docs/operations.md, "Running the coordinator on PostgreSQL"). The keys and
    /// the admin token stay in <see cref="DataDir"/> either way.
    /// </summary>
    public string Store { get; set; } = StoreNames.Sqlite;

    /// <summary>
    /// The PostgreSQL database when <see cref="Store"/> is postgres, as an Npgsql connection string without the password
    /// (e.g. "Host=db.internal;Port=5432;Database=ftwin_coordinator;Username=ftwin_coordinator;SSL Mode=VerifyFull").
    /// </summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>
    /// A file holding the PostgreSQL password (one line, owner-only), when neither PGPASSWORD nor the libpq password file
    /// (PGPASSFILE, ~/.pgpass) gives it.
    /// </summary>
    public string? PostgresPasswordFile { get; set; }

    /// <summary>The engine <see cref="Store"/> names (after validation, one of the two).</summary>
    public Storage.CoordinatorStoreKind StoreKind =>
        string.Equals(Store, StoreNames.Postgres, StringComparison.OrdinalIgnoreCase) ? Storage.CoordinatorStoreKind.Postgres : Storage.CoordinatorStoreKind.Sqlite;

    /// <summary>The password in <see cref="PostgresPasswordFile"/> (its first line), or null when none is named.</summary>
    public string? ReadPostgresPassword() =>
        PostgresPasswordFile is { Length: > 0 } file ? File.ReadLines(file).FirstOrDefault()?.TrimEnd('\r') ?? string.Empty : null;

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

        if (StoreProblem() is { } store)
        {
            yield return new ValidationResult(store, [nameof(Store)]);
        }
    }

    /// <summary>
    /// Why the configured store cannot be used, in one line naming the setting (and, for PostgreSQL, the server's host and port,
    /// never the password), or null. A PostgreSQL store is tried: a coordinator that cannot reach its database refuses to start
    /// rather than answer every request with an error.
    /// </summary>
    public string? StoreProblem()
    {
        if (!StoreNames.All.Contains(Store, StringComparer.OrdinalIgnoreCase))
        {
            return $"{Section}:{nameof(Store)} must be {StoreNames.Sqlite} or {StoreNames.Postgres}, got '{Store}'.";
        }

        if (StoreKind != Storage.CoordinatorStoreKind.Postgres)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(PostgresConnectionString))
        {
            return $"{Section}:{nameof(Store)} is {StoreNames.Postgres} but {Section}:{nameof(PostgresConnectionString)} is not set: name the server and database "
                + "(--postgres \"Host=...;Database=...;Username=...\"), with the password apart (--postgres-password-file, PGPASSFILE or PGPASSWORD).";
        }

        string server;
        try
        {
            if (Hosting.Storage.PostgresDialect.HasPassword(PostgresConnectionString))
            {
                return $"{Section}:{nameof(PostgresConnectionString)} holds a password, which would show in the process list and the configuration: remove it "
                    + "and give it with --postgres-password-file (Coordinator:PostgresPasswordFile), PGPASSFILE or PGPASSWORD.";
            }

            server = Hosting.Storage.PostgresDialect.Describe(PostgresConnectionString);
        }
        catch (ArgumentException e)
        {
            return $"{Section}:{nameof(PostgresConnectionString)} is not a valid connection string: {e.Message}";
        }

        if (MaxStoreMegabytes is not null)
        {
            return $"{Section}:{nameof(MaxStoreMegabytes)} (--max-store-mb) caps coordinator.db, a SQLite file; a PostgreSQL store ({server}) is bounded by the server (a tablespace on its own volume, the managed service's quota): remove it.";
        }

        string? password;
        try
        {
            password = ReadPostgresPassword();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{Section}:{nameof(PostgresPasswordFile)} cannot be read ({e.GetType().Name}): {PostgresPasswordFile}.";
        }

        return Hosting.Storage.PostgresDialect.Unreachable(PostgresConnectionString, password) is { } unreachable
            ? $"{Section}:{nameof(PostgresConnectionString)}: {unreachable}."
            : null;
    }

    /// <summary>The values of <see cref="Store"/>.</summary>
    public static class StoreNames
    {
        public const string Sqlite = "sqlite";
        public const string Postgres = "postgres";

        public static readonly IReadOnlyList<string> All = [Sqlite, Postgres];
    }
}
