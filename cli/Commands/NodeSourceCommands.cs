using System.CommandLine;
using System.Text.Json;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node source add fhir|omop`, `list`, `remove` (issue 22): the data sources in node-config.json that `ftwin node run` pulls
/// on their schedule (<see cref="SourceScheduler"/>). The node directory must exist (these commands never create one). Adding and
/// removing are audited (source_added, source_removed) with where the source is, never a credential.
/// </summary>
internal static class NodeSourceCommands
{
    // Printed to a terminal or a file, never into HTML: "+" in a timestamp stays "+" (the default encoder writes \u002B).
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var command = new Command("source", "Configure the data sources `ftwin node run` pulls on a schedule (node-config.json).");
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory (must exist: `ftwin node init` makes one).", Required = true };
        var name = new Option<string>("--name") { Description = "The source's name: 1-40 lowercase letters, digits or hyphens.", Required = true };
        var every = new Option<string?>("--every") { Description = "Pull on this schedule in `ftwin node run`: an ISO 8601 duration (PT6H, P1D), at least PT15M. Without it, pulled by hand only." };

        var add = new Command("add", "Add a data source.");
        var fhirBase = new Option<string>("--fhir-base") { Description = "The FHIR server's base URL (https; http only to this host's loopback).", Required = true };
        var clientId = new Option<string>("--client-id") { Description = "The client id the FHIR server registered for this node (SMART Backend Services).", Required = true };
        var group = new Option<string?>("--group") { Description = "Export this Group's patients (Bulk Data group-level export); without it, a system-level export." };
        var types = new Option<string?>("--type") { Description = "Resource types to export, comma-separated (Bulk Data _type)." };
        var typeFilter = new Option<string?>("--type-filter") { Description = "A FHIR search narrowing a type (Bulk Data _typeFilter), e.g. Observation?category=laboratory." };
        var level = new Option<string?>("--level") { Description = "The export level without a group: system (default) or patient (Bulk Data Patient/$export)." };
        var fhir = new Command("fhir", "Add a FHIR server's Bulk Data export (HL7 Bulk Data Access IG v2.0.0).") { nodeDir, name, fhirBase, clientId, group, types, typeFilter, level, every };
        fhir.SetAction(parse => Add(parse.GetValue(nodeDir)!, () => new DataSource(parse.GetValue(name)!, SourceKind.FhirBulk, parse.GetValue(fhirBase), parse.GetValue(clientId), parse.GetValue(group),
            parse.GetValue(types) is { } t ? [.. t.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)] : null, parse.GetValue(typeFilter),
            Every: Every(parse.GetValue(every)), PatientLevel: SourceConfiguration.ParseLevel(parse.GetValue(level), parse.GetValue(group) is not null, "--level"))));
        add.Subcommands.Add(fhir);

        var connection = new Option<string>("--connection") { Description = "The PostgreSQL connection string without a password: Host=...;Database=...;Username=... (the password comes from PGPASSFILE or PGPASSWORD).", Required = true };
        var schema = new Option<string>("--schema") { Description = "The schema of the OMOP CDM tables.", Required = true };
        var omop = new Command("omop", "Add an OMOP CDM v5.4 database on PostgreSQL.") { nodeDir, name, connection, schema, every };
        omop.SetAction(parse => Add(parse.GetValue(nodeDir)!, () => new DataSource(parse.GetValue(name)!, SourceKind.Omop, OmopConnection: parse.GetValue(connection), OmopSchema: parse.GetValue(schema),
            Every: Every(parse.GetValue(every)))));
        add.Subcommands.Add(omop);
        command.Subcommands.Add(add);

        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var list = new Command("list", "List the data sources with their last pull, outcome, watermark and next run.") { nodeDir, json };
        list.SetAction(parse =>
        {
            if (Open(parse.GetValue(nodeDir)!) is not { } node)
            {
                return 2;
            }

            using (node)
            {
                List<SourceStatusRow> rows;
                try
                {
                    rows = SourceStatusRow.Read(node, NodeConfiguration.Load(node.Path).Sources, TimeProvider.System.GetUtcNow());
                }
                catch (NodeConfigurationException e)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 2;
                }

                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object> { ["sources"] = rows.Select(r => r.ToJson()).ToList() }, Indented));
                    return 0;
                }

                if (rows.Count == 0)
                {
                    Console.WriteLine("no data source configured (ftwin node source add fhir|omop ...)");
                }

                foreach (var r in rows)
                {
                    Console.WriteLine($"{r.Name}  {r.Kind}  {r.Where}  every {r.Every ?? "— (by hand)"}");
                    Console.WriteLine($"    last pull {r.LastPullAt ?? "never"} ({r.LastStatus ?? "—"}){(r.LastCounts.Count == 0 ? string.Empty : ": " + string.Join(", ", r.LastCounts.Select(p => $"{p.Key} {p.Value}")))}");
                    Console.WriteLine($"    watermark {r.Watermark ?? "none"}; next run {(r.NextRun is not { } at ? "by hand only" : r.LastPullAt is null ? "as soon as `ftwin node run` runs" : at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture))}");
                }

                return 0;
            }
        });
        command.Subcommands.Add(list);

        var remove = new Command("remove", "Remove a data source and forget its pull state (watermark, last outcome); the data it brought stays.") { nodeDir, name };
        remove.SetAction(parse =>
        {
            if (Open(parse.GetValue(nodeDir)!) is not { } node)
            {
                return 2;
            }

            using (node)
            {
                try
                {
                    var configuration = NodeConfiguration.Load(node.Path);
                    if (configuration.Source(parse.GetValue(name)!) is not { } source)
                    {
                        Console.Error.WriteLine($"error: no source named '{parse.GetValue(name)}' in {Path.Combine(node.Path, NodeConfiguration.FileName)}");
                        return 2;
                    }

                    (configuration with { Sources = [.. configuration.Sources.Where(s => s.Name != source.Name)] }).Save(node.Path);
                    node.Store.Write((c, t) =>
                    {
                        var forgotten = SourceQueries.Remove(c, t, source.WatermarkKey);
                        node.Audit.Append(c, t, NodeAuditRecords.SourceRemoved(source, forgotten > 0));
                        return 0;
                    });
                    Console.WriteLine($"removed source {source.Name}");
                    return 0;
                }
                catch (NodeConfigurationException e)
                {
                    Console.Error.WriteLine($"error: {e.Message}");
                    return 2;
                }
            }
        });
        command.Subcommands.Add(remove);
        return command;
    }

    private static TimeSpan? Every(string? text) => text is null ? null : SourceConfiguration.ParseEvery(text, "--every");

    private static int Add(DirectoryInfo dir, Func<DataSource> make)
    {
        DataSource source;
        try
        {
            source = make(); // --every is parsed here, before the node directory is touched
        }
        catch (NodeConfigurationException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }

        if (Open(dir) is not { } node)
        {
            return 2;
        }

        using (node)
        {
            try
            {
                NodeConfiguration.Load(node.Path).WithSource(source).Save(node.Path);
            }
            catch (NodeConfigurationException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            node.Audit.Append(NodeAuditRecords.SourceAdded(source));
            Console.WriteLine($"added source {source.Name} ({SourceConfiguration.KindName(source.Kind)}, {SourceStatusRow.Describe(source)}){(source.Every is { } interval ? $", pulled every {SourceConfiguration.FormatEvery(interval)} by `ftwin node run`" : ", pulled by hand only")}");
            return 0;
        }
    }

    /// <summary>The node directory, or null (said) when it does not exist or is not one: these commands never create one.</summary>
    private static NodeDirectory? Open(DirectoryInfo dir)
    {
        if (!Directory.Exists(dir.FullName) || !File.Exists(Path.Combine(dir.FullName, "node.db")))
        {
            Console.Error.WriteLine($"error: {dir.FullName} is not a node directory (it does not exist or has no node.db; `ftwin node init --node-dir {dir.FullName}` makes one)");
            return null;
        }

        return NodeDirectory.OpenOrInitialize(dir.FullName);
    }
}
