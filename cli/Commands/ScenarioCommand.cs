using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin scenario run FILE [--models demo|DIR]`: a what-if scenario against its baseline on the twin, with the models the file (or --models) names.</summary>
internal static class ScenarioCommand
{
    public static Command Create()
    {
        var scenario = new Command("scenario", "Population-twin what-if scenarios (docs/scenarios.md).");
        var file = new Argument<FileInfo>("FILE") { Description = "Scenario YAML file." };
        var replicates = new Option<int?>("--replicates") { Description = "Monte Carlo replicates (overrides the file)." };
        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV (one row per year and measure)." };
        var models = new Option<string?>("--models") { Description = "'demo' or a model registry directory (RegisteredModel JSON files, e.g. from `ftwin model export`); replaces the file's models registry." };
        var fallback = new Option<string?>("--fallback") { Description = "'demo', 'none' or a registry directory: the models of outcomes the registry has no usable model for (replaces the file's models.fallback)." };
        var uncertainty = new Option<string?>("--uncertainty") { Description = "'all' (default: Monte Carlo, coefficients, composition, intervention effects) or 'mc' (Monte Carlo only); overrides the file's uncertainty." };
        var measureReport = new Option<bool>("--measure-report") { Description = "Print the quality-measure proxies as a FHIR R4 MeasureReport (JSON)." };
        var run = new Command("run", "Run a scenario and its baseline with common random numbers; print per-year results with 95% intervals and the MSSP settlement.");
        run.Arguments.Add(file);
        run.Options.Add(replicates);
        run.Options.Add(json);
        run.Options.Add(csv);
        run.Options.Add(models);
        run.Options.Add(fallback);
        run.Options.Add(measureReport);
        run.Options.Add(uncertainty);
        run.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            if (!path.Exists)
            {
                Console.Error.WriteLine($"error: {path.FullName} does not exist");
                return 2;
            }

            if (parse.GetValue(replicates) is { } k && k < 2)
            {
                Console.Error.WriteLine("error: --replicates must be at least 2");
                return 2;
            }

            UncertaintyMode? mode = null;
            if (parse.GetValue(uncertainty) is { } u && (mode = ScenarioParser.ParseUncertainty(u)) is null)
            {
                Console.Error.WriteLine($"error: --uncertainty must be all or mc, not '{u}'");
                return 2;
            }

            ScenarioDefinition definition;
            try
            {
                // A relative --models path is relative to the working directory; one inside the file, to the file.
                var modelsOption = parse.GetValue(models) is { } m && m != "demo" ? Path.GetFullPath(m) : parse.GetValue(models);
                var fallbackOption = parse.GetValue(fallback) is { } fb && fb is not ("demo" or "none") ? Path.GetFullPath(fb) : parse.GetValue(fallback);
                var options = new ScenarioParseOptions { BaseDirectory = path.DirectoryName, ModelsOverride = modelsOption, FallbackOverride = fallbackOption };
                definition = ScenarioParser.Parse(File.ReadAllText(path.FullName), options);
                definition = mode is { } chosen ? definition with { Uncertainty = chosen } : definition;
            }
            catch (ScenarioFileException e)
            {
                Console.Error.WriteLine($"error: {path.Name}: {e.Message}");
                return 2;
            }

            // The cohort comes from the newest composition release in the registry directory, else the demo histogram.
            var result = ScenarioRunner.RunScenario(definition, parse.GetValue(replicates));
            if (parse.GetValue(measureReport))
            {
                Console.WriteLine(MeasureReportExport.ToJson(result, definition.StartYear));
            }
            else if (parse.GetValue(json))
            {
                Console.WriteLine(ScenarioJson.Serialize(result));
            }
            else if (parse.GetValue(csv))
            {
                Console.Write(result.ToCsv());
            }
            else
            {
                Print(result);
            }

            return 0;
        });
        scenario.Subcommands.Add(run);
        return scenario;
    }

    internal static void Print(ScenarioResult r)
    {
        var c = CultureInfo.InvariantCulture;
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(r.Scenario)}[/]  population {r.Population:N0}, {r.Replicates} replicates");
        AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(r.TwinNote)}[/]");
        string Fmt(Estimate e) => $"{e.Mean.ToString("N1", c)} [{e.Low.ToString("N1", c)}, {e.High.ToString("N1", c)}]";
        string Money(Estimate e) => $"{e.Mean.ToString("N0", c)} [{e.Low.ToString("N0", c)}, {e.High.ToString("N0", c)}]";
        foreach (var (year, rows) in r.Years.OrderBy(y => y.Key == 0 ? int.MaxValue : y.Key))
        {
            var table = new Table { Title = new TableTitle(year == 0 ? "Total over horizon" : year.ToString(c)) }
                .AddColumn("measure").AddColumn("baseline (95% interval)").AddColumn("scenario (95% interval)").AddColumn("paired difference (95% interval)");
            foreach (var row in rows)
            {
                table.AddRow(Markup.Escape(row.Measure), Markup.Escape(Fmt(row.Baseline)), Markup.Escape(Fmt(row.Scenario)), Markup.Escape(Fmt(row.Difference)));
            }

            AnsiConsole.Write(table);
        }

        if (r.Settlements.Count > 0)
        {
            var mssp = new Table { Title = new TableTitle("MSSP settlement (Medicare-eligible part, PY2025 rules)") }
                .AddColumn("year").AddColumn("expenditure PBPY (scen.)").AddColumn("savings rate").AddColumn("outcome").AddColumn("net settlement scenario (95%)").AddColumn("net settlement baseline (95%)");
            foreach (var s in r.Settlements)
            {
                mssp.AddRow(s.Year.ToString(c), (s.Scenario.ExpenditureTotal / s.Scenario.Assigned).ToString("N0", c), s.Scenario.SavingsRate.ToString("P2", c),
                    Markup.Escape(s.Scenario.Outcome), Markup.Escape(Money(s.ScenarioNetSettlement)), Markup.Escape(Money(s.BaselineNetSettlement)));
            }

            AnsiConsole.Write(mssp);
        }

        var models = new Table { Title = new TableTitle($"Models ({Markup.Escape(r.ModelSource)})") }.AddColumn("outcome").AddColumn("registry id").AddColumn("origin").AddColumn("study (patient-years, nodes)");
        foreach (var o in r.ModelOrigins)
        {
            // The full reason is in --json (model_origins); the table keeps it short when the registry simply has no such model.
            var reason = o.Reason is null ? string.Empty : o.Reason.Contains(" holds no ", StringComparison.Ordinal) ? " (none in registry)" : ": " + o.Reason;
            models.AddRow(Markup.Escape(o.Outcome), Markup.Escape(o.Id), Markup.Escape(o.Kind + reason),
                Markup.Escape($"{o.StudyId} ({o.Rows:N0}, {o.Nodes})"));
        }

        foreach (var (outcome, id) in r.ModelsByOutcome.Where(p => p.Key.StartsWith("risk:", StringComparison.Ordinal)))
        {
            models.AddRow(Markup.Escape(outcome), Markup.Escape(id), "risk band", string.Empty);
        }

        AnsiConsole.Write(models);
        foreach (var u in r.UncertaintySources)
        {
            AnsiConsole.MarkupLine(Markup.Escape($"Uncertainty, {u.Source}: {(u.Included ? "included" : "not included")}; {u.Note}"));
        }

        var cohort = r.Cohort;
        AnsiConsole.MarkupLine(Markup.Escape(cohort.Composition == "demo"
            ? $"Cohort: {cohort.Population:N0} people drawn from the illustrative demo composition; {cohort.MedicareEligibleAtStart:N0} Medicare-eligible (65+) at the start, the part MSSP settles."
            : $"Cohort: {cohort.Population:N0} people drawn from composition release {cohort.Composition} ({cohort.Year}; published total {cohort.ReleasedPopulation?.ToString("N0", CultureInfo.InvariantCulture) ?? "suppressed"} patients in the training population, {cohort.HiddenCompositionCells} hidden composition and {cohort.HiddenPrevalenceCells} hidden prevalence cells filled from the published margins), scaled to the attributed population; {cohort.MedicareEligibleAtStart:N0} Medicare-eligible (65+) at the start, the part MSSP settles."));
    }
}
