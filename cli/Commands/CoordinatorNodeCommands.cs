using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin coordinator node list | revoke`: the enrolled nodes, on the coordinator's host (the store is shared with a
/// running coordinator, coordinator.db or its PostgreSQL database, as `token create` shares it). Revocation is audited as node_revoked with who asked.
/// </summary>
internal static class CoordinatorNodeCommands
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void AddTo(Command coordinator, Option<DirectoryInfo> dataDir)
    {
        var node = new Command("node", "Enrolled nodes: list them with their keys, revoke one.");

        var json = new Option<bool>("--json") { Description = "Print JSON (with full public keys and every key each node held)." };
        var list = new Command("list", "List the enrolled nodes: state, current key (fingerprint), rotations, last contact.") { dataDir, json };
        CoordinatorStoreOptions.AddTo(list);
        list.SetAction(parse =>
        {
            if (CoordinatorStoreOptions.Open(parse, parse.GetValue(dataDir)!.FullName, existingOnly: true) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;

            using var keys = CoordinatorCommands.LoadKeys(parse.GetValue(dataDir)!.FullName, store);
            var nodeKeys = new NodeKeys(store, new CoordinatorAuditTrail(store, keys));
            var nodes = nodeKeys.List();
            if (parse.GetValue(json))
            {
                var array = new JsonArray([.. nodes.Select(n => (JsonNode)new JsonObject
                {
                    ["node_id"] = n.NodeId,
                    ["name"] = n.Name,
                    ["state"] = n.Revoked ? "revoked" : "enrolled",
                    ["public_key"] = n.PublicKey,
                    ["public_key_sha256"] = n.Fingerprint,
                    ["enrolled_at"] = n.EnrolledAt,
                    ["last_seen_at"] = n.LastSeenAt,
                    ["protocol_version"] = n.ProtocolVersion,
                    ["keys"] = new JsonArray([.. nodeKeys.History(new NodeId(n.NodeId)).Select(k => (JsonNode)new JsonObject
                    {
                        ["public_key"] = k.PublicKey,
                        ["sha256"] = k.Fingerprint,
                        ["valid_from"] = k.ValidFrom,
                        ["valid_until"] = k.ValidUntil,
                        ["replaced_by"] = k.ReplacedBy,
                    })]),
                })]);
                Console.WriteLine(array.ToJsonString(Indented));
                return 0;
            }

            var table = new Table().AddColumns("node", "name", "state", "key (sha256)", "rotations", "enrolled", "last seen");
            foreach (var n in nodes)
            {
                table.AddRow(Markup.Escape(n.NodeId), Markup.Escape(n.Name), n.Revoked ? "[red]revoked[/]" : "enrolled", n.Fingerprint[..16] + "…", $"{n.KeyRotations}", Minutes(n.EnrolledAt), n.LastSeenAt is null ? "never" : Minutes(n.LastSeenAt));
            }

            AnsiConsole.Write(table);
            return 0;
        });
        node.Subcommands.Add(list);

        var id = new Argument<string>("NODE_ID") { Description = "The node id (from `ftwin coordinator node list`)." };
        var revoke = new Command("revoke", "Revoke a node's enrollment: the coordinator refuses its signed requests from now on (audited as node_revoked). Remove its key from the federation's roster too, so other nodes stop accepting its contributions.") { dataDir, id };
        CoordinatorStoreOptions.AddTo(revoke);
        revoke.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            return CoordinatorCommands.WithGateway(dir, CoordinatorStoreOptions.Open(parse, dir, existingOnly: true), gateway =>
            {
                var node = parse.GetValue(id)!;
                if (!gateway.RevokeNode(new NodeId(node), $"ftwin coordinator node revoke ({Environment.UserName})", TimeProvider.System.GetUtcNow()))
                {
                    Console.Error.WriteLine($"error: no enrolled node '{node}' (unknown, or already revoked); see `ftwin coordinator node list`.");
                    return 1;
                }

                Console.WriteLine($"Revoked {node}: the coordinator refuses its signed requests from now on, and the node records the refusal in its own audit trail at its next poll.");
                Console.WriteLine("Remove its key from the federation's pinned roster as well: until then, other nodes would still accept its contributions to a sum.");
                return 0;
            });
        });
        node.Subcommands.Add(revoke);
        coordinator.Subcommands.Add(node);
    }

    private static string Minutes(string instant) =>
        DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture).UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
