using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Endpoints;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FederatedTwin.Coordinator;

/// <summary>The coordinator service: the table of contents. `ftwin coordinator run` builds and runs it.</summary>
public static class CoordinatorHost
{
    public static WebApplication Build(string[] args, Action<CoordinatorOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);

        // Configuration: appsettings, environment (FTWIN_Coordinator__DataDir) and command line.
        builder.Configuration.AddEnvironmentVariables("FTWIN_");
        builder.Services.AddOptions<CoordinatorOptions>()
            .Bind(builder.Configuration.GetSection(CoordinatorOptions.Section))
            .Configure(o => configure?.Invoke(o))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = FederationProtocol.MaxRequestBodyBytes);

        // Services: store, keys, crypto, orchestration.
        builder.Services.AddSingleton(sp => new CoordinatorStore(sp.GetRequiredService<IOptions<CoordinatorOptions>>().Value.DataDir));
        builder.Services.AddSingleton(sp => CoordinatorKeys.LoadOrCreate(sp.GetRequiredService<IOptions<CoordinatorOptions>>().Value.DataDir));
        builder.Services.AddSingleton<CoordinatorAuditTrail>();
        builder.Services.AddSingleton<IAdditiveThresholdScheme>(RlweThresholdScheme.Default);
        builder.Services.AddSingleton<CoordinatorMetrics>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedSumAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedGlmAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedCompositionAlgorithm>();
        builder.Services.AddSingleton<IStudyAlgorithm, FederatedFedAvgAlgorithm>();
        builder.Services.AddSingleton<AlgorithmCatalog>();
        builder.Services.AddSingleton<CoordinatorSignals>();
        builder.Services.AddSingleton<RoundEngine>();
        builder.Services.AddSingleton<NodeGateway>();
        builder.Services.AddSingleton<NodeKeys>();
        builder.Services.AddHostedService<StudyOrchestrator>();

        // The analysts' dashboard (Razor Pages, cookie sign-in, roles): Dashboard/DashboardSetup.cs.
        builder.AddDashboard();

        // Operations: problem details, health, structured logs, OpenTelemetry metrics (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set).
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: ["ready"]);
        builder.Logging.AddJsonConsole(o => o.TimestampFormat = "O");
        var otel = builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(CoordinatorMetrics.MeterName).AddAspNetCoreInstrumentation());
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithMetrics(m => m.AddOtlpExporter());
        }

        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<SignedNodeRequests>();
        app.MapDashboard();

        // Endpoints.
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapGet("/v1/identity", (CoordinatorKeys keys) => WireBodies.Wire(new CoordinatorIdentity(CoordinatorKeys.KeyId, keys.Identity.PublicKey, FederationProtocol.Version, typeof(CoordinatorHost).Assembly.GetName().Version?.ToString() ?? "0")));
        app.MapNodeEndpoints();
        app.MapAdminEndpoints();

        // The audit trail records the service's start (and a key it created) and its stop, and signs its head at shutdown.
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() =>
        {
            var keys = app.Services.GetRequiredService<CoordinatorKeys>();
            var audit = app.Services.GetRequiredService<CoordinatorAuditTrail>();
            var now = DateTimeOffset.UtcNow;
            if (keys.IdentityCreated)
            {
                audit.Append(CoordinatorAuditRecords.IdentityKeyCreated(keys.Identity.PublicKey), now);
            }

            audit.Append(CoordinatorAuditRecords.ServiceStarted(typeof(CoordinatorHost).Assembly.GetName().Version?.ToString() ?? "0", keys.Identity.PublicKey), now);
        });
        lifetime.ApplicationStopping.Register(() =>
        {
            var audit = app.Services.GetRequiredService<CoordinatorAuditTrail>();
            audit.Append(CoordinatorAuditRecords.ServiceStopped(), DateTimeOffset.UtcNow);
            audit.Checkpoint(CheckpointReasons.Shutdown, DateTimeOffset.UtcNow);
        });
        return app;
    }

    private sealed class StoreHealthCheck(CoordinatorStore store) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM schema_version"));
                return Task.FromResult(HealthCheckResult.Healthy());
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy("coordinator.db is not readable", e));
            }
        }
    }
}
