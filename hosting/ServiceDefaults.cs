using System.Reflection;
using FederatedTwin.Hosting.Health;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FederatedTwin.Hosting;

/// <summary>What a service tells the shared defaults about itself: its name, meters, readiness and audited start and stop.</summary>
public sealed class ServiceDefaults
{
    /// <summary>The service's name in messages ("node", "coordinator").</summary>
    public required string Service { get; init; }

    /// <summary>The service's assembly: its version is the software version the audit trail and the identity endpoint report.</summary>
    public required Assembly Assembly { get; init; }

    /// <summary>The service's own OpenTelemetry meters, exported beside ASP.NET Core's.</summary>
    public IReadOnlyList<string> Meters { get; init; } = [];

    /// <summary>Throws when the service cannot work now (its store cannot be queried, its identity cannot be loaded).</summary>
    public required Action<IServiceProvider> Readiness { get; init; }

    /// <summary>Records service_started in the audit trail (with the software version), once the service listens.</summary>
    public required Action<IServiceProvider, string> Started { get; init; }

    /// <summary>Records service_stopped and signs the trail's head as the service stops.</summary>
    public required Action<IServiceProvider> Stopping { get; init; }

    public string SoftwareVersion => VersionOf(Assembly);

    public static string VersionOf(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        return assembly.GetName().Version?.ToString() ?? "0";
    }
}

/// <summary>
/// What every FederatedTwin service sets up the same way: configuration (FTWIN_ environment variables), options validated
/// at start, the clock (<see cref="TimeProvider"/>), problem details (RFC 9457), liveness and readiness, JSON logs,
/// OpenTelemetry metrics (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set), and the audited start and stop.
/// </summary>
public static class ServiceDefaultsExtensions
{
    /// <summary>The builder every service starts from: slim (no IIS, no EventLog) with configuration from FTWIN_* variables.</summary>
    public static WebApplicationBuilder CreateServiceBuilder(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        builder.Configuration.AddEnvironmentVariables("FTWIN_");
        return builder;
    }

    /// <summary>Binds <typeparamref name="TOptions"/> to its configuration section, validated at start: a misconfigured service refuses to start and says why.</summary>
    public static OptionsBuilder<TOptions> AddServiceOptions<TOptions>(this WebApplicationBuilder builder, string section, Action<TOptions>? configure)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Services.AddOptions<TOptions>()
            .Bind(builder.Configuration.GetSection(section))
            .Configure(o => configure?.Invoke(o))
            .ValidateDataAnnotations()
            .ValidateOnStart();
    }

    /// <summary>A service's builder: <see cref="CreateServiceBuilder(string[])"/>, its options (<see cref="AddServiceOptions"/>) and <see cref="AddServiceDefaults"/>.</summary>
    public static WebApplicationBuilder CreateServiceBuilder<TOptions>(string[] args, string section, Action<TOptions>? configure, ServiceDefaults defaults)
        where TOptions : class
    {
        var builder = CreateServiceBuilder(args);
        builder.AddServiceOptions(section, configure);
        return builder.AddServiceDefaults(defaults);
    }

    /// <summary>The service's validated options (<see cref="AddServiceOptions"/>).</summary>
    public static TOptions ServiceOptions<TOptions>(this IServiceProvider services)
        where TOptions : class => services.GetRequiredService<IOptions<TOptions>>().Value;

    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, ServiceDefaults defaults)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(defaults);
        builder.Services.AddSingleton(defaults);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<Storage.StoreFullExceptionHandler>(); // a full store: 507 and one line, not a 500 with a stack trace
        builder.Services.AddHealthChecks().Add(new HealthCheckRegistration(
            "store", sp => new ReadinessCheck(sp, defaults), failureStatus: HealthStatus.Unhealthy, tags: [ReadyTag]));
        builder.Logging.AddJsonConsole(o => o.TimestampFormat = "O");
        var otel = builder.Services.AddOpenTelemetry().WithMetrics(m =>
        {
            foreach (var meter in defaults.Meters)
            {
                m.AddMeter(meter);
            }

            m.AddAspNetCoreInstrumentation();
        });
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithMetrics(m => m.AddOtlpExporter());
        }

        return builder;
    }

    /// <summary>Problem details for errors and bare status codes, /health/live and /health/ready, and the audited start and stop.</summary>
    public static WebApplication MapServiceDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var defaults = app.Services.GetRequiredService<ServiceDefaults>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // Liveness runs no check (the process answers); readiness runs the store's.
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains(ReadyTag) });

        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() => defaults.Started(app.Services, defaults.SoftwareVersion));
        lifetime.ApplicationStopping.Register(() => defaults.Stopping(app.Services));
        return app;
    }

    private const string ReadyTag = "ready";
}
