using FederatedTwin.Analytics.Studies;
using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin study ...`: define, follow and cancel studies (the analyst's CLI).</summary>
internal static class StudyCommands
{
    public static Command Create()
    {
        var command = new Command("study", "Define, follow and cancel studies at a coordinator.");
        var admin = new AdminApiOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };

        var file = new Argument<FileInfo>("file") { Description = "study.yaml" };
        var create = new Command("create", "Create a study from a YAML file.") { file, admin.Coordinator, admin.Token, admin.TokenFile };
        create.SetAction(parse => admin.Run(parse, async client =>
        {
            var yaml = await File.ReadAllTextAsync(parse.GetValue(file)!.FullName);
            StudyFile.Parse(yaml); // validate locally first: errors name the field and line
            var created = await client.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
            Console.WriteLine($"created study {created?["id"]}");
        }));
        command.Subcommands.Add(create);

        var list = new Command("list", "List studies.") { admin.Coordinator, admin.Token, admin.TokenFile, json };
        list.SetAction(parse => admin.Run(parse, async client =>
        {
            var studies = await client.Send(HttpMethod.Get, "/v1/admin/studies");
            if (parse.GetValue(json))
            {
                Console.WriteLine(studies?.ToJsonString());
                return;
            }

            var table = new Table().AddColumns("id", "algorithm", "state", "round", "attempt", "created");
            foreach (var s in studies?.AsArray() ?? [])
            {
                table.AddRow(Markup.Escape($"{s?["id"]}"), Markup.Escape($"{s?["algorithm"]}"), Markup.Escape($"{s?["state"]}"), $"{s?["round"]}", $"{s?["attempt"]}", Markup.Escape($"{s?["created_at"]}"));
            }

            AnsiConsole.Write(table);
        }));
        command.Subcommands.Add(list);

        var id = new Argument<string>("id") { Description = "The study id." };
        var show = new Command("show", "Show a study: state, decisions, attempts, result.") { id, admin.Coordinator, admin.Token, admin.TokenFile, json };
        show.SetAction(parse => admin.Run(parse, async client =>
        {
            var study = await client.Send(HttpMethod.Get, $"/v1/admin/studies/{Uri.EscapeDataString(parse.GetValue(id)!)}");
            if (parse.GetValue(json))
            {
                Console.WriteLine(study?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return;
            }

            PrintStudy(study!);
        }));
        command.Subcommands.Add(show);

        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait at most.", DefaultValueFactory = _ => 600 };
        var wait = new Command("wait", "Wait until a study ends, then show it. Exit code 0: it completed; 1: it failed or was cancelled, or had not ended within --timeout.") { id, admin.Coordinator, admin.Token, admin.TokenFile, timeout, json };
        wait.SetAction(parse => admin.Run(parse, client => Wait(client, parse.GetValue(id)!, TimeSpan.FromSeconds(parse.GetValue(timeout)), parse.GetValue(json))));
        command.Subcommands.Add(wait);

        var cancel = new Command("cancel", "Cancel a study that has not ended.") { id, admin.Coordinator, admin.Token, admin.TokenFile };
        cancel.SetAction(parse => admin.Run(parse, async client =>
        {
            await client.Send(HttpMethod.Post, $"/v1/admin/studies/{Uri.EscapeDataString(parse.GetValue(id)!)}/cancel");
            Console.WriteLine("cancelled");
        }));
        command.Subcommands.Add(cancel);
        return command;
    }

    internal static void PrintStudy(JsonNode study)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape($"{study["id"]}")}[/]  {Markup.Escape($"{study["state"]}")}  round {study["round"]} attempt {study["attempt"]}");
        if (study["failure_reason"] is { } reason)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(reason.ToString())}[/]");
        }

        var decisions = new Table().AddColumns("node", "decision", "rule", "reason");
        foreach (var d in study["decisions"]?.AsArray() ?? [])
        {
            decisions.AddRow(Markup.Escape($"{d?["name"]}"), d?["accept"]?.GetValue<bool>() == true ? "accepted" : "[yellow]refused[/]", Markup.Escape($"{d?["rule"]}"), Markup.Escape($"{d?["reason"]}"));
        }

        AnsiConsole.Write(decisions);
        var attempts = new Table().AddColumns("round", "attempt", "phase", "outcome");
        foreach (var a in study["attempts"]?.AsArray() ?? [])
        {
            attempts.AddRow($"{a?["round"]}", $"{a?["attempt"]}", Markup.Escape($"{a?["phase"]}"), Markup.Escape($"{a?["outcome"]}"));
        }

        AnsiConsole.Write(attempts);
        PrintResult(study["result"]);
    }

    /// <summary>
    /// A census as the coordinator published it, one row per cell and margin ("suppressed" where a count under the study's minimum
    /// cell size, or a complement that would reveal one, is hidden); a model is only named (its coefficients are `ftwin model show`'s).
    /// </summary>
    private static void PrintResult(JsonNode? result)
    {
        if (result?["table"] is JsonObject census)
        {
            var table = new Table().Title(Markup.Escape($"{result["vector"]} (cells under {result["minimum_cell_size"]} suppressed with their complements)"))
                .AddColumns("cell", "count");
            table.Columns[1].RightAligned();
            foreach (var (label, value) in CensusCells(census))
            {
                table.AddRow(Markup.Escape(label), value is { } v ? v.ToString(System.Globalization.CultureInfo.InvariantCulture) : "suppressed");
            }

            AnsiConsole.Write(table);
        }
        else if (result?["model"]?["id"] is { } model)
        {
            Console.WriteLine($"result: model {model} (`ftwin model show {model}`)");
        }
        else if (result is not null)
        {
            Console.WriteLine("result: see `ftwin study show --json`");
        }
    }

    /// <summary>A published table's cells with their labels, as the vector names them ("0-17 female"; "0-17 total", "total female"; "total").</summary>
    internal static IEnumerable<(string Label, long? Value)> CensusCells(JsonObject table)
    {
        var labels = table["labels"]!.AsArray().Select(l => l!.AsArray().Select(x => x!.ToString()).ToList()).ToList();
        IEnumerable<List<string>> combos = [[]];
        foreach (var dimension in labels)
        {
            combos = combos.SelectMany(prefix => dimension.Select(l => (List<string>)[.. prefix, l])).ToList();
        }

        return combos.Zip(table["cells"]!.AsArray(), (parts, cell) =>
            (parts.All(p => p == "total") ? "total" : string.Join(' ', parts), cell is null ? (long?)null : cell.GetValue<long>()));
    }

    /// <summary>
    /// Polls the study once a second until it has ended (completed, failed or cancelled), then prints it as `show` does: what a
    /// person or a script runs after `study create` instead of a loop over `show`. Progress goes to standard error, so that
    /// standard output stays the study alone (valid JSON with --json).
    /// </summary>
    private static async Task<int> Wait(AdminClient client, string id, TimeSpan timeout, bool json)
    {
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        string? seen = null;
        while (true)
        {
            var study = (await client.Send(HttpMethod.Get, $"/v1/admin/studies/{Uri.EscapeDataString(id)}"))!;
            var state = $"{study["state"]}";
            var ended = StudyStates.TryParse(state, out var parsed) && parsed.HasEnded();
            var progress = $"{id}: {state}, round {study["round"]} attempt {study["attempt"]}{(study["attempts"]?.AsArray().LastOrDefault()?["phase"] is { } phase ? $", phase {phase}" : string.Empty)}";
            if (progress != seen && !ended)
            {
                Console.Error.WriteLine(progress);
                seen = progress;
            }

            if (ended || TimeProvider.System.GetUtcNow() >= deadline)
            {
                if (json)
                {
                    Console.WriteLine(study.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                }
                else
                {
                    PrintStudy(study);
                }

                if (!ended)
                {
                    Console.Error.WriteLine($"error: study {id} had not ended after {timeout.TotalSeconds:F0} s (state {state})");
                }

                return state == StudyState.Completed.ToWire() ? 0 : 1;
            }

            await Task.Delay(TimeSpan.FromSeconds(1));
        }
    }
}
