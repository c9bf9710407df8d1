using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Endpoints;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Status;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Node;

/// <summary>The node service: the table of contents. `ftwin node run` builds and runs it.</summary>
public static class NodeHost
{
    /// <summary>What the shared service defaults need of a node: its readiness and its audited start and stop.</summary>
    private static ServiceDefaults Defaults => new()
    {
        Service = "node",
        Assembly = typeof(NodeHost).Assembly,
        Readiness = sp => CheckReady(sp.GetRequiredService<NodeDirectory>()),
        Started = (sp, version) =>
        {
            RecordStart(sp.GetRequiredService<NodeDirectory>(), version);
            sp.GetRequiredService<RoundParticipant>().RetireExpiredSecrets(); // attempts that ran out while the node was down
        },
        Stopping = sp => RecordStop(sp.GetRequiredService<NodeDirectory>()),
    };

    /// <param name="args">Configuration arguments.</param>
    /// <param name="configure">Sets the node's options over its configuration.</param>
    /// <param name="services">Adds to the node's services last (`ftwin node run-many`, the federation bench's host of many nodes in one
    /// process, counts each node's bytes to and from the coordinator with a handler on its "coordinator" HttpClient).</param>
    public static WebApplication Build(string[] args, Action<NodeOptions>? configure = null, Action<IServiceCollection>? services = null)
    {
        // Everything the node creates (SQLite's -wal and -shm, the key ring's XML) is its owner's only (hosting/Files/OwnerOnly.cs).
        Hosting.Files.OwnerOnly.RestrictProcessUmask();

        // Configuration, validated at start (a misconfigured node refuses to start and says why), and operations: problem
        // details, health, structured logs, OpenTelemetry metrics, the audited start and stop (hosting/).
        var builder = ServiceDefaultsExtensions.CreateServiceBuilder(args, NodeOptions.Section, configure, Defaults);

        // Services: the node directory, crypto, the round participant and the polling worker.
        builder.Services.AddSingleton(sp => NodeDirectory.OpenOrInitialize(
            sp.ServiceOptions<NodeOptions>().NodeDir, time: sp.GetRequiredService<TimeProvider>(), maxStoreBytes: FederatedTwin.Hosting.Storage.StoreSizeCap.Bytes(sp.ServiceOptions<NodeOptions>().MaxStoreMegabytes)));
        builder.Services.AddSingleton<IAdditiveThresholdScheme>(RlweThresholdScheme.Default);
        builder.Services.AddSingleton<RoundParticipant>();
        builder.Services.AddSingleton<NodeStatus>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedSum>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedGlm>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedComposition>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFederatedOutcomes>();
        builder.Services.AddSingleton<ILocalAlgorithm, LocalFedAvg>();
        builder.Services.AddHttpClient("coordinator") // TLS as the node enrolled: a pinned CA, its client certificate (Federation/CoordinatorTransport.cs)
            .ConfigurePrimaryHttpMessageHandler(sp => CoordinatorTransport.Handler(sp.GetRequiredService<NodeDirectory>()));
        builder.Services.AddHostedService<NodeWorker>();

        // Data sources (issue 22): scheduled pulls of node-config.json's sources, through one puller per kind, registered here one
        // line each: builder.Services.AddSingleton<ISourcePuller, TPuller>(). A kind without one is logged and audited, not pulled.
        builder.Services.AddSingleton<Sources.ISourcePuller>(sp => new Sources.Bulk.BulkPuller(
            Sources.Smart.SmartSourceTokens.For(sp.GetRequiredService<NodeDirectory>(), sp.GetRequiredService<TimeProvider>()), time: sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<Sources.ISourcePuller>(sp => new Sources.Omop.OmopPuller(sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton<Sources.SourceScheduler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Sources.SourceScheduler>());
        builder.Services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "ftwin.node-antiforgery";
            o.Cookie.SameSite = Microsoft.AspNetCore.Http.SameSiteMode.Strict;
        });

        services?.Invoke(builder.Services);
        var app = builder.Build();
        // Listen on the loopback admin address only (validated above): the node accepts no outside connections.
        app.Urls.Clear();
        app.Urls.Add(app.Services.ServiceOptions<NodeOptions>().AdminUrl);
        app.MapServiceDefaults();

        // Endpoints.
        app.MapNodeAdminEndpoints();
        app.MapNodeStatusPage(); // GET /status: the page for hospital IT and the compliance officer (Status/)
        return app;
    }

    /// <summary>Readiness: node.db answers a query and the identity the audit trail names can be loaded (it signs everything the node sends).</summary>
    internal static void CheckReady(NodeDirectory node)
    {
        node.Store.Probe();
        _ = node.Identity.PublicKey;
    }

    /// <summary>The audit trail records the service's start with the policy in force.</summary>
    private static void RecordStart(NodeDirectory node, string softwareVersion)
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

        node.Audit.Append(NodeAuditRecords.ServiceStarted(softwareVersion, policySha256));
    }

    /// <summary>The audit trail records the service's stop and signs its head.</summary>
    private static void RecordStop(NodeDirectory node)
    {
        node.Audit.Append(NodeAuditRecords.ServiceStopped());
        node.Audit.Checkpoint(CheckpointReasons.Shutdown);
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
