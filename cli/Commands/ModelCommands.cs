using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics.Registry;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin model ...`: the coordinator's model registry (every model a study trained).</summary>
internal static class ModelCommands
{
    public static Command Create()
    {
        var command = new Command("model", "List and show the models in a coordinator's registry.");
        var admin = new AdminApiOptions();
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var csv = new Option<bool>("--csv") { Description = "Print the coefficients as CSV." };

        var list = new Command("list", "List registered models.") { admin.Coordinator, admin.Token, admin.TokenFile, json };
        list.SetAction(parse => admin.Run(parse, async client =>
        {
            var models = await client.Send(HttpMethod.Get, "/v1/admin/models");
            if (parse.GetValue(json))
            {
                Console.WriteLine(models?.ToJsonString());
                return;
            }

            var table = new Table().AddColumns("id", "kind", "outcome", "study", "created");
            foreach (var m in models?.AsArray() ?? [])
            {
                table.AddRow(Markup.Escape($"{m?["id"]}"), Markup.Escape($"{m?["kind"]}"), Markup.Escape($"{m?["outcome"]}"), Markup.Escape($"{m?["study_id"]}"), Markup.Escape($"{m?["created_at"]}"));
            }

            AnsiConsole.Write(table);
        }));
        command.Subcommands.Add(list);

        var id = new Argument<string>("id") { Description = "The model id (e.g. glm/admission_next_year/<study>)." };
        var show = new Command("show", "Show a model: coefficients with standard errors and 95% confidence intervals, fit, provenance.") { id, admin.Coordinator, admin.Token, admin.TokenFile, json, csv };
        show.SetAction(parse => admin.Run(parse, async client =>
        {
            var model = await client.Send(HttpMethod.Get, $"/v1/admin/models/{parse.GetValue(id)}");
            if (parse.GetValue(json))
            {
                Console.WriteLine(model?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            else if (parse.GetValue(csv))
            {
                Console.Write(Csv(GlmModelDocument.FromJson(model!.ToJsonString())));
            }
            else
            {
                Print(GlmModelDocument.FromJson(model!.ToJsonString()));
            }
        }));
        command.Subcommands.Add(show);

        // Every version of a model's lineage, and what changed between two (docs/models.md, "Versions").
        var lineageOf = new Argument<string>("model") { Description = "A model id (any version) or its lineage (e.g. glm/admission_next_year/hf-glm)." };
        var versions = new Command("versions", "List every version of a model's lineage with its study and training window.") { lineageOf, admin.Coordinator, admin.Token, admin.TokenFile, json };
        versions.SetAction(parse => admin.Run(parse, async client =>
        {
            var list = await client.Send(HttpMethod.Get, $"/v1/admin/model-versions?model={Uri.EscapeDataString(parse.GetValue(lineageOf)!)}");
            if (parse.GetValue(json))
            {
                Console.WriteLine(list?.ToJsonString());
                return;
            }

            var table = new Table().AddColumns("version", "id", "study", "registered", "data as of", "hospitals", "released");
            foreach (var v in list?.AsArray() ?? [])
            {
                var window = v?["training_window"];
                table.AddRow(Markup.Escape($"{v?["version"]}"), Markup.Escape($"{v?["id"]}"), Markup.Escape($"{v?["study_id"]}"), Markup.Escape($"{v?["created_at"]}"),
                    Markup.Escape($"{window?["as_of"]}"), Markup.Escape($"{window?["participants"]}"), v?["released"]?.GetValue<bool>() == true ? "yes" : Markup.Escape($"no: {v?["not_released_reason"]}"));
            }

            AnsiConsole.MarkupLine($"lineage {Markup.Escape($"{list?.AsArray().FirstOrDefault()?["lineage"]}")}");
            AnsiConsole.Write(table);
        }));
        command.Subcommands.Add(versions);

        var from = new Option<int>("--from") { Description = "The older version's number.", Required = true };
        var to = new Option<int>("--to") { Description = "The newer version's number.", Required = true };
        var diff = new Command("diff", "Compare two versions of a model: coefficients (with the combined standard error), evaluation and calibration.") { lineageOf, from, to, admin.Coordinator, admin.Token, admin.TokenFile, json };
        diff.SetAction(parse => admin.Run(parse, async client =>
        {
            var result = await client.Send(HttpMethod.Get,
                FormattableString.Invariant($"/v1/admin/model-diff?model={Uri.EscapeDataString(parse.GetValue(lineageOf)!)}&from={parse.GetValue(from)}&to={parse.GetValue(to)}"));
            if (parse.GetValue(json))
            {
                Console.WriteLine(result?.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                return;
            }

            var (a, b) = (result?["from"], result?["to"]);
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape($"{result?["lineage"]}")}[/]: version {a?["version"]} ({Markup.Escape($"{a?["id"]}")}) → version {b?["version"]} ({Markup.Escape($"{b?["id"]}")})");
            var table = new Table().AddColumns("term", $"v{a?["version"]}", $"v{b?["version"]}", "difference", "combined SE", "beyond SE");
            foreach (var t in result?["coefficients"]?.AsArray() ?? [])
            {
                table.AddRow(Markup.Escape($"{t?["term"]}"), Number(t?["from"]), Number(t?["to"]), Number(t?["difference"]), Number(t?["combined_std_error"]),
                    t?["exceeds_combined_std_error"] is { } x ? (x.GetValue<bool>() ? "yes" : "no") : "—");
            }

            AnsiConsole.Write(table);
            var evaluation = new Table().AddColumns("measure", $"v{a?["version"]}", $"v{b?["version"]}");
            foreach (var e in result?["evaluation"]?.AsArray() ?? [])
            {
                evaluation.AddRow(Markup.Escape($"{e?["measure"]}"), Number(e?["from"]), Number(e?["to"]));
            }

            if (evaluation.Rows.Count > 0)
            {
                AnsiConsole.Write(evaluation);
            }
        }));
        command.Subcommands.Add(diff);

        // Offline export of the registry for the twin: reads the coordinator's store (no running coordinator needed).
        var exportDataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The coordinator's data directory (coordinator.db).", Required = true };
        var outDir = new Option<DirectoryInfo>("--out") { Description = "Registry directory to write (created; must be empty or new).", Required = true };
        var export = new Command("export", "Write the coordinator's released GLMs (converged exact fits; DP fits after their planned rounds) and composition releases as a registry directory for `ftwin scenario run --models DIR`.") { exportDataDir, outDir };
        CoordinatorStoreOptions.AddTo(export);
        export.SetAction(parse =>
        {
            var data = parse.GetValue(exportDataDir)!;
            var target = parse.GetValue(outDir)!;
            if (target.Exists && target.EnumerateFileSystemInfos().Any())
            {
                Console.Error.WriteLine($"error: {target.FullName} is not empty");
                return 2;
            }

            if (CoordinatorStoreOptions.Open(parse, data.FullName, existingOnly: true) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;
            var snapshot = Export(store, target.FullName);
            return snapshot.Models.Count + snapshot.Compositions.Count > 0 ? 0 : 1;
        });
        command.Subcommands.Add(export);
        return command;
    }

    /// <summary>Exports the registry of a coordinator's store and prints what was written and skipped.</summary>
    internal static Coordinator.Registry.RegistrySnapshot Export(Coordinator.Storage.CoordinatorStore store, string target)
    {
        var snapshot = Coordinator.Registry.RegistrySnapshot.Read(store);
        var files = snapshot.Export(target);
        AnsiConsole.MarkupLine($"wrote {files.Count} documents to {Markup.Escape(target)}: {snapshot.Models.Count} GLMs, {snapshot.Compositions.Count} composition releases");
        foreach (var m in snapshot.Models)
        {
            var release = m.Release == Analytics.Registry.RegisteredModel.ReleaseDpPlannedRounds
                ? FormattableString.Invariant($"; DP ρ = {m.Privacy.Rho:G4}, released after its {m.Privacy.RoundsRun} planned rounds, not converged")
                : m.Release is null ? string.Empty : "; " + m.Release;
            AnsiConsole.MarkupLine($"  {Markup.Escape(m.Id)} ({m.Family.ToString().ToLowerInvariant()}, {m.Rows:N0} patient-years, {m.Nodes} nodes{Markup.Escape(release)})");
        }

        foreach (var c in snapshot.Compositions)
        {
            AnsiConsole.MarkupLine($"  {Markup.Escape(c.Id)} (year {c.Year}, published total {c.PublishedTotal?.ToString("N0", CultureInfo.InvariantCulture) ?? "suppressed"})");
        }

        foreach (var k in snapshot.Skipped)
        {
            AnsiConsole.MarkupLine($"  [grey]skipped {Markup.Escape(k.Id)} ({Markup.Escape(k.Kind)}): {Markup.Escape(k.Reason)}[/]");
        }

        return snapshot;
    }

    internal static void Print(GlmModelDocument model)
    {
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(model.Id)}[/]: {Markup.Escape(model.Family)} ({Markup.Escape($"{model.Link}")} link) of {Markup.Escape(model.Outcome)}"
            + (model.Offset is { } offset ? $", offset {Markup.Escape(offset)}" : string.Empty));
        var table = new Table().AddColumns("term", "coefficient", "std. error", "z", "95% CI");
        foreach (var t in model.Terms ?? [])
        {
            table.AddRow(Markup.Escape(t.Name), F(t.Coefficient), F(t.StdError), F(t.Statistic, "F2"), $"{F(t.CiLow)} – {F(t.CiHigh)}");
        }

        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"deviance {F(model.Deviance, "F2")} on {model.ResidualDf} df (null {F(model.NullDeviance, "F2")} on {model.NullDf} df), AIC {F(model.Aic, "F2")}");
        var converged = model.Converged is { } c ? (c ? "true" : "false") : string.Empty; // as JSON spells it
        AnsiConsole.MarkupLine($"{model.Rows} patient-years from {model.Nodes} nodes; {model.Rounds} encrypted aggregation rounds, converged: {converged}, release: {Markup.Escape(model.Release ?? "refused: " + model.ReleaseRefused)}; study {Markup.Escape(model.StudyId)} ({Markup.Escape(model.PurposeOfUse)})");
    }

    internal static string Csv(GlmModelDocument model)
    {
        var csv = new StringBuilder("term,coefficient,std_error,statistic,p_value,ci_low,ci_high\n");
        foreach (var t in model.Terms ?? [])
        {
            csv.Append(CultureInfo.InvariantCulture, $"{t.Name},{R(t.Coefficient)},{R(t.StdError)},{R(t.Statistic)},{R(t.PValue)},{R(t.CiLow)},{R(t.CiHigh)}\n");
        }

        return csv.ToString();
    }

    private static string Number(JsonNode? value) => value is null ? "—" : F(value.GetValue<double>());

    private static string F(double? value, string format = "G6") => value is not { } v ? string.Empty : v.ToString(format, CultureInfo.InvariantCulture);

    private static string R(double? value) => value is not { } v ? string.Empty : v.ToString("R", CultureInfo.InvariantCulture);
}
