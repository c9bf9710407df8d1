using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin audit verify | export`: a compliance officer's tools for a node's or the coordinator's
/// audit trail (45 CFR 164.312(b) audit controls). Both read the store without changing it.
/// </summary>
internal static class AuditCommands
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int UsageError = 2;

    public static Command Create()
    {
        var command = new Command("audit", "Verify and export a node's or the coordinator's tamper-evident audit trail.");

        var verifyNodeDir = new Option<DirectoryInfo?>("--node-dir") { Description = "A node directory (its node.db)." };
        var verifyDataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "A coordinator data directory (its coordinator.db)." };
        var publicKey = new Option<string?>("--public-key") { Description = "Verify checkpoints under this base64 Ed25519 key instead of the one in the directory's sealed identity (e.g. the key the coordinator enrolled, or the one pinned in a site policy)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var heads = new Option<string[]>("--head") { Description = "A head of this node's chain held outside it (SEQ:SHA256, as `ftwin audit heads` prints them from the coordinator); repeatable. The trail must still hold each one.", AllowMultipleArgumentsPerToken = true };
        var verify = new Command("verify", "Check the whole hash chain and every signed checkpoint; name the first entry altered, removed or reordered. Exits 0 when intact, 1 when not, 2 when the trail cannot be read.")
        {
            verifyNodeDir, verifyDataDir, publicKey, json, heads,
        };
        CoordinatorStoreOptions.AddTo(verify);
        verify.SetAction(parse =>
        {
            if (Open(parse, parse.GetValue(verifyNodeDir), parse.GetValue(verifyDataDir)) is not { } source)
            {
                return UsageError;
            }

            string key;
            try
            {
                key = parse.GetValue(publicKey) ?? source.ServicePublicKey();
            }
            catch (AuditSourceException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return UsageError;
            }

            var result = source.Verify(key);
            var missing = MissingHeads(source, parse.GetValue(heads) ?? []);
            foreach (var problem in missing)
            {
                Console.Error.WriteLine(problem);
            }

            if (parse.GetValue(json))
            {
                var obj = result.ToJson();
                obj["store"] = source.StorePath;
                obj["public_key"] = key;
                Console.WriteLine(obj.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            }
            else
            {
                Console.WriteLine($"{source.StorePath}:");
                Console.WriteLine(AuditVerifier.Summary(result, key));
            }

            return result.Ok && missing.Count == 0 ? Ok : Failed;
        });
        command.Subcommands.Add(verify);

        var headsDataDir = new Option<DirectoryInfo>("--data-dir") { Description = "A coordinator data directory (its coordinator.db).", Required = true };
        var node = new Option<string?>("--node") { Description = "Only this node's heads (its node id)." };
        var list = new Command("heads", "List the audit-chain heads nodes sent with their signed requests (SEQ:SHA256 per node), to check a node's trail against with `audit verify --head`.") { headsDataDir, node };
        list.SetAction(parse =>
        {
            var store = Path.Combine(parse.GetValue(headsDataDir)!.FullName, "coordinator.db");
            if (!File.Exists(store))
            {
                Console.Error.WriteLine($"error: {store} does not exist");
                return UsageError;
            }

            // Read-only, without starting the coordinator: the coordinator's own query on its store.
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = store, Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly }.ToString());
            connection.Open();
            foreach (var head in Coordinator.Storage.NodeQueries.AuditHeads(connection, parse.GetValue(node)))
            {
                Console.WriteLine($"{head.NodeId} {head.Seq}:{head.Sha256} {head.ReceivedAt}");
            }

            return Ok;
        });
        command.Subcommands.Add(list);

        var exportNodeDir = new Option<DirectoryInfo?>("--node-dir") { Description = "A node directory (its node.db)." };
        var exportDataDir = new Option<DirectoryInfo?>("--data-dir") { Description = "A coordinator data directory (its coordinator.db)." };
        var output = new Option<FileInfo>("--out") { Description = "The NDJSON file to write (one FHIR R4 AuditEvent per line).", Required = true };
        var from = new Option<string?>("--from") { Description = "Only entries recorded at or after this date (yyyy-MM-dd, UTC) or instant (ISO 8601)." };
        var to = new Option<string?>("--to") { Description = "Only entries recorded on or before this date (yyyy-MM-dd, the whole day, UTC), or before this instant." };
        var export = new Command("export", "Export the audit trail as FHIR R4 AuditEvent resources (NDJSON) for the hospital's audit repository.")
        {
            exportNodeDir, exportDataDir, output, from, to,
        };
        CoordinatorStoreOptions.AddTo(export);
        export.SetAction(parse =>
        {
            if (Open(parse, parse.GetValue(exportNodeDir), parse.GetValue(exportDataDir)) is not { } source)
            {
                return UsageError;
            }

            if (!TryParseBound(parse.GetValue(from), endOfDay: false, out var fromAt) || !TryParseBound(parse.GetValue(to), endOfDay: true, out var toAt))
            {
                Console.Error.WriteLine("error: --from and --to take a date (yyyy-MM-dd) or an ISO 8601 instant.");
                return UsageError;
            }

            var path = parse.GetValue(output)!.FullName;
            var count = AuditEventExport.Write(source, path, fromAt, toAt);
            Console.WriteLine($"exported {count} of {source.Entries.Count} audit entries as FHIR R4 AuditEvent resources to {path}");
            return Ok;
        });
        command.Subcommands.Add(export);
        return command;
    }

    /// <summary>Heads seen outside the node that its trail no longer holds (truncated, or rewritten from that entry on).</summary>
    private static List<string> MissingHeads(AuditSource source, IEnumerable<string> heads)
    {
        var problems = new List<string>();
        foreach (var head in heads)
        {
            var parts = head.Split(':', 2);
            if (parts.Length != 2 || !long.TryParse(parts[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seq))
            {
                problems.Add($"--head {head}: expected SEQ:SHA256");
                continue;
            }

            var entry = source.Entries.FirstOrDefault(e => e.Seq == seq);
            if (entry is null)
            {
                problems.Add($"the trail no longer holds entry {seq}, which the coordinator saw as a head: it was truncated");
            }
            else if (!string.Equals(entry.Hash, parts[1], StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"entry {seq} no longer has the hash the coordinator saw ({parts[1][..Math.Min(16, parts[1].Length)]}…): the trail was rewritten from there on");
            }
        }

        return problems;
    }

    private static AuditSource? Open(ParseResult parse, DirectoryInfo? nodeDir, DirectoryInfo? dataDir)
    {
        if ((nodeDir is null) == (dataDir is null))
        {
            Console.Error.WriteLine("error: give exactly one of --node-dir (a node) or --data-dir (the coordinator).");
            return null;
        }

        var options = new FederatedTwin.Coordinator.CoordinatorOptions();
        CoordinatorStoreOptions.Apply(parse, options);
        if (dataDir is not null && options.StoreKind == FederatedTwin.Coordinator.Storage.CoordinatorStoreKind.Postgres)
        {
            // A coordinator on PostgreSQL: its trail is read through its store (coordinator.db is read-only, straight from the file).
            if (CoordinatorStoreOptions.Open(parse, dataDir.FullName) is not { } store)
            {
                return null;
            }

            using (store)
            {
                return AuditSource.Open(dataDir.FullName, store);
            }
        }

        try
        {
            return nodeDir is not null ? AuditSource.Open(AuditService.Node, nodeDir.FullName) : AuditSource.Open(AuditService.Coordinator, dataDir!.FullName);
        }
        catch (Exception e) when (e is AuditSourceException or Microsoft.Data.Sqlite.SqliteException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return null;
        }
    }

    /// <summary>A date (the start of that UTC day, or the start of the next one for an inclusive --to) or an instant.</summary>
    internal static bool TryParseBound(string? text, bool endOfDay, out DateTimeOffset? bound)
    {
        bound = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            var start = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            bound = endOfDay ? start.AddDays(1) : start;
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var instant))
        {
            bound = instant;
            return true;
        }

        return false;
    }
}
