using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Twins;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin node models fetch | list`: the federation's models in the node's own registry (docs/twins.md, "Models come to the node").</summary>
internal static class NodeModelCommands
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = false };

    public static void AddTo(Command node, Option<DirectoryInfo> nodeDir)
    {
        var models = new Command("models", "The federation's models in this node's registry: fetched from the coordinator, signed by it, checked under the pinned key.");
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };

        var fetch = new Command("fetch", "Fetch the coordinator's model catalog now and keep every model whose coordinator signature verifies under the key the site policy pins (a running node does this by itself when a model is added).") { nodeDir, json };
        fetch.SetAction(async (parse, cancellationToken) =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            try
            {
                var result = await NodeModelRegistry.FetchNow(directory, cancellationToken);
                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(result, Json)
                    : $"{result.Offered} models offered: {result.Stored} new, {result.AlreadyHeld} already held, {result.Refused} refused (see the audit trail, model_refused), {result.Ignored} of kinds the twins do not use.");
                return result.Refused > 0 ? 3 : 0;
            }
            catch (Exception e) when (e is CoordinatorRefusedException or HttpRequestException or TaskCanceledException or InvalidOperationException or SitePolicyException or JsonException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        models.Subcommands.Add(fetch);

        var list = new Command("list", "List the models in this node's registry: which the twins use, and why the others are not used.") { nodeDir, json };
        list.SetAction(parse =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            var released = NodeModelRegistry.Released(directory);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { models = released.Listing.Select(Row) }, Json));
                return 0;
            }

            if (released.Listing.Count == 0)
            {
                Console.WriteLine("No models yet: the node fetches them from the coordinator when a study registers one (or run `ftwin node models fetch`).");
                return 0;
            }

            foreach (var m in released.Listing)
            {
                var state = m.Used ? "used" : m.SupersededBy is { } by ? $"superseded by {by}" : $"not used: {m.Reason}";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{m.Id,-60} {m.Version[..12]}  {m.Release ?? "-",-18} {state}"));
            }

            return 0;
        });
        models.Subcommands.Add(list);
        node.Subcommands.Add(models);
    }

    /// <summary>A listing as the JSON outputs show it.</summary>
    internal static object Row(NodeModelListing m) => new
    {
        id = m.Id,
        version = m.Version,
        study = m.StudyId,
        outcome = m.Outcome,
        release = m.Release,
        released = m.Released,
        used = m.Used,
        superseded_by = m.SupersededBy,
        reason = m.Reason,
        fetched_at = m.FetchedAt,
    };

    /// <summary>The node directory's full path, or null (the error printed) when it is not one: commands that read a node never create it.</summary>
    internal static string? Existing(DirectoryInfo nodeDir)
    {
        if (!nodeDir.Exists || !File.Exists(Path.Combine(nodeDir.FullName, "node.db")))
        {
            Console.Error.WriteLine($"error: {nodeDir.FullName} is not a node directory (no node.db): create it with `ftwin node init`.");
            return null;
        }

        return nodeDir.FullName;
    }
}
