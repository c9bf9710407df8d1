using System.CommandLine;
using Microsoft.Extensions.Hosting;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin node ...`: run a hospital's node and administer it on its own host.</summary>
internal static class NodeCommands
{
    public static Command Create()
    {
        var command = new Command("node", "Run and administer a hospital's node.");
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory (created with a deny-by-default policy if it does not exist).", Required = true };

        var adminUrl = new Option<string>("--admin-url") { Description = "Loopback address of the node's local admin API.", DefaultValueFactory = _ => "http://127.0.0.1:7480" };
        var pollWait = new Option<int>("--poll-wait") { Description = "Seconds a long-poll for work may wait.", DefaultValueFactory = _ => 10 };
        var maxStore = StoreSizeCapOption.Create("node.db");
        var run = new Command("run", "Run the node: poll the coordinator for work and answer it.") { nodeDir, adminUrl, pollWait, maxStore };
        run.SetAction(async (parse, cancellationToken) =>
        {
            var dir = parse.GetValue(nodeDir)!.FullName;
            FederatedTwin.Hosting.Files.OwnerOnly.Require(dir); // one line with the chmod that fixes it, before anything is opened
            var app = NodeHost.Build([], o =>
            {
                o.NodeDir = dir;
                o.AdminUrl = parse.GetValue(adminUrl)!;
                o.PollWaitSeconds = parse.GetValue(pollWait);
                o.MaxStoreMegabytes = parse.GetValue(maxStore) ?? o.MaxStoreMegabytes;
            });
            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        command.Subcommands.Add(run);
        command.Subcommands.Add(NodeRunManyCommand.Create()); // hidden: many nodes in one process, for `ftwin bench federation`

        var siteSeed = new Option<int?>("--site-seed") { Description = "Write a seeded synthetic census as this node's local input (demo and tests)." };
        var staffedBeds = new Option<int?>("--staffed-beds") { Description = "The hospital's staffed beds (node-config.json; the facility twin's occupancy = average daily census / staffed beds)." };
        var init = new Command("init", "Create a node directory: store, keys, admin token and a deny-by-default policy. Prints the node's public key.") { nodeDir, siteSeed, staffedBeds };
        init.SetAction(parse =>
        {
            if (parse.GetValue(staffedBeds) is { } beds && !ValidBeds(beds))
            {
                return 2;
            }

            using var node = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            if (parse.GetValue(staffedBeds) is { } staffed)
            {
                (NodeConfiguration.Load(node.Path) with { StaffedBeds = staffed }).Save(node.Path);
            }

            if (parse.GetValue(siteSeed) is { } seed)
            {
                node.WriteSiteInput(SiteInput.Synthetic(seed));
            }

            Console.WriteLine(node.Identity.PublicKey);
            if (node.CreatedAdminToken is { } adminToken)
            {
                // standard output stays the public key (scripts capture it); the token goes to standard error, once
                Console.Error.WriteLine($"admin token (shown once; {Path.Combine(node.Path, FederatedTwin.Hosting.Security.AdminTokens.FileName)} keeps only its hash): {adminToken}");
            }

            return 0;
        });
        command.Subcommands.Add(init);

        var coordinator = HttpUrlOption.Coordinator();
        var token = new Option<string>("--token") { Description = "The one-time enrollment token from the ACO.", Required = true };
        var name = new Option<string>("--name") { Description = "This node's display name at the coordinator.", DefaultValueFactory = _ => Environment.MachineName };
        var coordinatorCa = new Option<FileInfo?>("--coordinator-ca") { Description = "A PEM file of the CA that issues the coordinator's TLS certificate: trusted instead of the system's store, copied into the node directory and used from then on." };
        var enroll = new Command("enroll", "Enroll with a coordinator whose key is pinned in the site policy.") { nodeDir, coordinator, token, name, coordinatorCa };
        enroll.SetAction(async (parse, cancellationToken) =>
        {
            using var node = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            try
            {
                var id = await Enrollment.Enroll(node, parse.GetValue(coordinator)!, parse.GetValue(token)!, parse.GetValue(name)!, parse.GetValue(coordinatorCa)?.FullName, TimeProvider.System, cancellationToken);
                Console.WriteLine($"enrolled as {id}");
                return 0;
            }
            catch (Exception e) when (e is CoordinatorRefusedException or HttpRequestException or SitePolicyException or FederatedTwin.Hosting.Security.InsecureUrlException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        command.Subcommands.Add(enroll);

        var adminToken = new Command("admin-token", "Make a new admin token for the node's local admin API and status page, print it once, and retire the old one (also on a running node).") { nodeDir };
        adminToken.SetAction(parse =>
        {
            using var node = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            Console.WriteLine(node.CreatedAdminToken ?? node.IssueAdminToken());
            return 0;
        });
        command.Subcommands.Add(adminToken);

        var configureBeds = new Option<int>("--staffed-beds") { Description = "The hospital's staffed beds (a positive whole number).", Required = true };
        var configure = new Command("configure", "Set facts about the hospital its data cannot tell (node-config.json, owner-only): the staffed beds the facility twin's occupancy needs.") { nodeDir, configureBeds };
        configure.SetAction(parse =>
        {
            var beds = parse.GetValue(configureBeds);
            if (!ValidBeds(beds))
            {
                return 2;
            }

            using var node = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            try
            {
                (NodeConfiguration.Load(node.Path) with { StaffedBeds = beds }).Save(node.Path);
            }
            catch (NodeConfigurationException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            Console.WriteLine($"staffed_beds = {beds} ({Path.Combine(node.Path, NodeConfiguration.FileName)})");
            return 0;
        });
        command.Subcommands.Add(configure);

        BackupCommands.AddToNode(command, nodeDir);
        NodeDataCommands.AddTo(command, nodeDir);
        RosterCommands.AddTo(command, nodeDir);
        NodeKeyCommands.AddTo(command, nodeDir);
        NodeSmartKeyCommands.AddTo(command, nodeDir);
        NodeModelCommands.AddTo(command, nodeDir);
        command.Subcommands.Add(NodeTwinCommands.Create());
        command.Subcommands.Add(NodeSourceCommands.Create());
        command.Subcommands.Add(NodePullCommand.Create());
        return command;
    }

    private static bool ValidBeds(int beds)
    {
        try
        {
            NodeConfiguration.ValidateStaffedBeds(beds, "--staffed-beds");
            return true;
        }
        catch (NodeConfigurationException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return false;
        }
    }
}
