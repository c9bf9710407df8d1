using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Endpoints;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Hosting;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Coordinator;

/// <summary>The coordinator service: the table of contents. `ftwin coordinator run` builds and runs it.</summary>
public static class CoordinatorHost
{
    /// <param name="args">The command line (configuration: --urls for the node listener, --Coordinator:AdminUrl, --Coordinator:DataDir, ...).</param>
    /// <param name="configure">Options set in code, over the configuration.</param>
    /// <param name="time">The clock of every service that reads time (the system's unless given: a test moves its own).</param>
    public static WebApplication Build(string[] args, Action<CoordinatorOptions>? configure = null, TimeProvider? time = null)
    {
        Hosting.Files.OwnerOnly.RestrictProcessUmask(); // files it creates are its owner's only; its directory is checked with its options
        // Configuration (appsettings, environment as FTWIN_Coordinator__DataDir, command line) and operations: problem
        // details, health, structured logs, OpenTelemetry metrics, the audited start and stop (hosting/).
        var builder = ServiceDefaultsExtensions.CreateServiceBuilder(args, CoordinatorOptions.Section, configure, Defaults);
        if (time is not null)
        {
            builder.Services.AddSingleton(time); // registered after the defaults' system clock: the last registration is the one resolved
        }

        // The bound over every body; each /v1/node endpoint kind has a smaller one (Security/NodeRequestBodies.cs). A body slower than
        // Kestrel's minimum data rate (240 bytes/s after a 5 s grace) is ended there and answered 408.
        // TLS: the configured certificate on the https listeners, client certificates asked for when nodes must present theirs
        // (Security/CoordinatorTls.cs; the listeners' rule, https beyond loopback, is checked with them in AdminListener.Listen).
        builder.WebHost.UseKestrelHttpsConfiguration(); // the slim builder leaves https:// addresses out unless asked
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = FederationProtocol.MaxRequestBodyBytes;
            CoordinatorTls.ConfigureHttps(k);
        });

        // Services: store, keys, crypto, orchestration.
        builder.Services.AddSingleton(sp => CoordinatorStore.Open(LeaderLease.BoundIdleTransactions(sp.ServiceOptions<CoordinatorOptions>()))); // coordinator.db, or PostgreSQL (Coordinator:Store)
        builder.Services.AddSingleton(sp => CoordinatorKeys.LoadOrCreate(sp.ServiceOptions<CoordinatorOptions>().DataDir));
        builder.Services.AddSingleton<CoordinatorAuditTrail>();
        builder.Services.AddSingleton<IAdditiveThresholdScheme>(RlweThresholdScheme.Default);
        builder.Services.AddSingleton<CoordinatorMetrics>();
        builder.Services.AddSingleton(new AnnouncementCache()); // announcements serialized once per attempt
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedSumAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedGlmAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedCompositionAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedOutcomesAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedFedAvgAlgorithm>();
        builder.Services.AddSingleton<AlgorithmCatalog>();
        builder.Services.AddSingleton<CoordinatorSignals>();
        // Replicas (docs/operations.md, "Running replicas"): the round engine's lease, held trivially with SQLite.
        builder.Services.AddSingleton(sp => new LeaderLease(sp.GetRequiredService<CoordinatorStore>(), sp.GetRequiredService<CoordinatorAuditTrail>(), sp.GetRequiredService<CoordinatorMetrics>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<LeaderLease>>(), contended: sp.GetRequiredService<CoordinatorStore>().Kind == CoordinatorStoreKind.Postgres,
            sp.ServiceOptions<CoordinatorOptions>().ReplicaName ?? Environment.MachineName, sp.ServiceOptions<CoordinatorOptions>().LeaseSeconds));
        builder.Services.AddHostedService<LeaderLeaseService>();
        builder.Services.AddHostedService<ReplicaSignals>(); // LISTEN/NOTIFY between replicas (PostgreSQL)
        builder.Services.AddSingleton<RoundEngine>();
        builder.Services.AddSingleton<StudyRefresh>();
        builder.Services.AddSingleton<NodeGateway>();
        builder.Services.AddSingleton<NodeKeys>();
        builder.Services.AddHostedService<StudyOrchestrator>();

        // Transport: body limits by endpoint kind, rate limits, refusals audited as counted summaries (Security/).
        builder.Services.AddSingleton<NodeRequestBodies>();
        builder.Services.AddSingleton<RequestRefusals>();
        builder.Services.AddHostedService<RequestRefusalsFlusher>();
        builder.Services.AddSingleton<NodeRateLimits>();

        // The analysts' dashboard (Razor Pages, cookie sign-in, roles): Dashboard/DashboardSetup.cs.
        builder.AddDashboard();

        var app = builder.Build();
        AdminListener.Listen(app); // the node URLs and, apart, the admin API's
        app.MapServiceDefaults();
        app.UseMiddleware<AdminListener>();
        app.UseMiddleware<SignedNodeRequests>();
        app.MapDashboard();

        // Endpoints.
        app.MapGet("/v1/identity", (CoordinatorKeys keys, ServiceDefaults service) => WireBodies.Wire(new CoordinatorIdentity(CoordinatorKeys.KeyId, keys.Identity.PublicKey, FederationProtocol.Version, service.SoftwareVersion)));
        app.MapNodeEndpoints();
        app.MapAdminEndpoints();
        return app;
    }

    private static ServiceDefaults Defaults => new()
    {
        Service = "coordinator",
        Assembly = typeof(CoordinatorHost).Assembly,
        Meters = [CoordinatorMetrics.MeterName],
        Readiness = sp => sp.GetRequiredService<CoordinatorStore>().Probe(),
        Started = RecordStart,
        Stopping = RecordStop,
    };

    /// <summary>The audit trail records the service's start (and a key it created).</summary>
    private static void RecordStart(IServiceProvider services, string softwareVersion)
    {
        var keys = services.GetRequiredService<CoordinatorKeys>();
        var audit = services.GetRequiredService<CoordinatorAuditTrail>();
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        if (keys.IdentityCreated)
        {
            audit.Append(CoordinatorAuditRecords.IdentityKeyCreated(keys.Identity.PublicKey), now);
        }

        if (keys.AdminTokenFile != Hosting.Security.AdminTokenFile.Existing)
        {
            audit.Append(CoordinatorAuditRecords.AdminTokenCreated(keys.AdminTokenFile == Hosting.Security.AdminTokenFile.Created ? "created" : "migrated", "coordinator start"), now);
        }

        audit.Append(CoordinatorAuditRecords.ServiceStarted(softwareVersion, keys.Identity.PublicKey), now);
    }

    /// <summary>The audit trail records the service's stop and signs its head.</summary>
    private static void RecordStop(IServiceProvider services)
    {
        var audit = services.GetRequiredService<CoordinatorAuditTrail>();
        var time = services.GetRequiredService<TimeProvider>();
        services.GetRequiredService<RequestRefusals>().Flush(all: true); // the counts of the interval the stop cuts short
        audit.Append(CoordinatorAuditRecords.ServiceStopped(), time.GetUtcNow());
        audit.Checkpoint(CheckpointReasons.Shutdown, time.GetUtcNow());
    }
}
