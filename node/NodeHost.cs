using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Endpoints;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Status;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace FederatedTwin.Node;

/// <summary>The node service: the table of contents. `ftwin node run` builds and runs it.</summary>
public static class NodeHost
{
    public static WebApplication Build(string[] args, Action<NodeOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(args);

        // Configuration, validated at start: a misconfigured node refuses to start and says why.
        builder.Configuration.AddEnvironmentVariables("FTWIN_");
        builder.Services.AddOptions<NodeOptions>()
            .Bind(builder.Configuration.GetSection(NodeOptions.Section))
            .Configure(o => configure?.Invoke(o))
            .ValidateDataAnnotations()
            .ValidateOnStart();

        // Services: the node directory, crypto, the round participant and the polling worker.
        builder.Services.AddSingleton(sp => NodeDirectory.OpenOrInitialize(sp.GetRequiredService<IOptions<NodeOptions>>().Value.NodeDir));
        builder.Services.AddSingleton<IAdditiveThresholdScheme>(RlweThresholdScheme.Default);
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedSum>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedGlm>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedComposition>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFedAvg>();
        builder.Services.AddSingleton<RoundParticipant>();
        builder.Services.AddSingleton<NodeStatus>();
        builder.Services.AddHttpClient("coordinator");
        builder.Services.AddHostedService<NodeWorker>();

        // Operations: problem details, health, structured logs, OpenTelemetry metrics.
        builder.Services.AddProblemDetails();
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "ftwin.node-antiforgery";
            o.Cookie.SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict;
        });
        builder.Services.AddHealthChecks().AddCheck("store", () => HealthCheckResult.Healthy(), tags: ["ready"]);
        builder.Logging.AddJsonConsole(o => o.TimestampFormat = "O");
        var otel = builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddAspNetCoreInstrumentation());
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            otel.WithMetrics(m => m.AddOtlpExporter());
        }

        var app = builder.Build();
        // Listen on the loopback admin address only (validated above): the node accepts no outside connections.
        app.Urls.Clear();
        app.Urls.Add(app.Services.GetRequiredService<IOptions<NodeOptions>>().Value.AdminUrl);
        app.UseExceptionHandler();
        app.UseStatusCodePages();

        // Endpoints.
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new() { Predicate = c => c.Tags.Contains("ready") });
        app.MapNodeAdminEndpoints();
        app.MapNodeStatusPage(); // GET /status: the page for hospital IT and the compliance officer (Status/)

        // The audit trail records the service's start (with the policy in force) and its stop, and signs its head at shutdown.
        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStarted.Register(() => RecordStart(app.Services.GetRequiredService<NodeDirectory>()));
        lifetime.ApplicationStopping.Register(() =>
        {
            var node = app.Services.GetRequiredService<NodeDirectory>();
            node.Audit.Append(NodeAuditRecords.ServiceStopped());
            node.Audit.Checkpoint(CheckpointReasons.Shutdown);
        });
        return app;
    }

    private static void RecordStart(NodeDirectory node)
    {
        string? policySha256 = null;
        try
        {
            policySha256 = node.LoadPolicyWithHash().Sha256;
        }
        catch (Policy.SitePolicyException)
        {
            // audited as policy_rejected by the load itself
        }

        node.Audit.Append(NodeAuditRecords.ServiceStarted(typeof(NodeHost).Assembly.GetName().Version?.ToString() ?? "0", policySha256));
    }

    /// <summary>Loads the policy of a node directory that exists, explaining what is wrong if it cannot be used.</summary>
    public static bool PolicyIsValid(NodeOptions options, out string? error)
    {
        error = null;
        var path = Path.Combine(options.NodeDir, "policy.yaml");
        if (string.IsNullOrEmpty(options.NodeDir) || !File.Exists(path))
        {
            return true; // a new node directory gets the default deny-by-default policy
        }

        try
        {
            Policy.SitePolicy.Load(path);
            return true;
        }
        catch (Policy.SitePolicyException e)
        {
            error = e.Message;
            return false;
        }
    }
}
