using System.CommandLine;
using Microsoft.Extensions.Hosting;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Crypto;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin coordinator ...`: run the ACO's coordinator and administer it on its own host.</summary>
internal static class CoordinatorCommands
{
    public static Command Create()
    {
        var command = new Command("coordinator", "Run and administer the ACO's coordinator.");
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The coordinator's data directory (coordinator.db, keys, admin.token).", Required = true };
        var urls = new Option<string>("--urls") { Description = "Where to listen, e.g. http://127.0.0.1:7400. Use TLS (a reverse proxy or Kestrel certificates) beyond loopback.", DefaultValueFactory = _ => "http://127.0.0.1:7400" };

        var run = new Command("run", "Run the coordinator service.") { dataDir, urls };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var app = CoordinatorHost.Build(["--urls", parse.GetValue(urls)!], o => o.DataDir = parse.GetValue(dataDir)!.FullName);
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        command.Subcommands.Add(run);

        var token = new Command("token", "Enrollment tokens for new nodes.");
        var create = new Command("create", "Issue a one-time enrollment token and print it.") { dataDir };
        create.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            var store = new CoordinatorStore(dir);
            using var keys = CoordinatorKeys.LoadOrCreate(dir);
            var audit = new CoordinatorAuditTrail(store, keys);
            if (keys.IdentityCreated)
            {
                audit.Append(CoordinatorAuditRecords.IdentityKeyCreated(keys.Identity.PublicKey), DateTimeOffset.UtcNow);
            }

            using var metrics = new CoordinatorMetrics();
            var gateway = new NodeGateway(store, RlweThresholdScheme.Default, metrics, audit);
            Console.WriteLine(gateway.CreateEnrollmentToken(DateTimeOffset.UtcNow, TimeSpan.FromDays(7)));
            return 0;
        });
        token.Subcommands.Add(create);
        command.Subcommands.Add(token);

        var key = new Command("key", "Print the coordinator's Ed25519 public key, to pin in nodes' site policies.") { dataDir };
        key.SetAction(parse =>
        {
            using var keys = CoordinatorKeys.LoadOrCreate(parse.GetValue(dataDir)!.FullName);
            Console.WriteLine(keys.Identity.PublicKey);
            return 0;
        });
        command.Subcommands.Add(key);
        return command;
    }
}
