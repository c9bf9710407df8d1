using System.CommandLine;
using System.Globalization;
using System.Text;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Simulation;
using FederatedTwin.Twin.Validation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin twin validate`: the back-test of the population twin. The models of a registry directory (`ftwin model export`: GLMs
/// trained on the patient-years up to the cut-off, max_year = cut-off − 1, and the composition released for the cut-off year)
/// are run forward from the cut-off and compared with a completed federated-outcomes study of the years after it, fetched from
/// the coordinator's admin API; the result is printed, optionally written to a file, and stored with the coordinator for its
/// dashboard (POST /v1/admin/twin-validations).
/// </summary>
internal static class TwinCommands
{
    public static Command Create()
    {
        var command = new Command("twin", "The population twin: back-testing against what the federation observed.");
        var admin = new AdminApiOptions();
        var registry = new Option<DirectoryInfo>("--registry") { Description = "Registry directory (`ftwin model export`) with the GLMs trained up to the cut-off and the cut-off year's composition release.", Required = true };
        var cutoff = new Option<int>("--cutoff") { Description = "The cut-off year C: the models saw outcomes up to C, the cohort is the composition of C, the twin runs from C + 1.", Required = true };
        var observed = new Option<string>("--observed-study") { Description = "The id of a completed federated-outcomes study of the years after the cut-off (at the coordinator).", Required = true };
        var replicates = new Option<int>("--replicates") { Description = "Twin replicates (at least 20).", DefaultValueFactory = _ => 200 };
        var output = new Option<FileInfo?>("--out") { Description = "Also write the result here as JSON ({\"cutoff_year\", \"rows\": [{\"outcome\", \"year\", \"predicted\", \"lower\", \"upper\", \"observed\"}]})." };
        var monteCarloOnly = new Option<bool>("--monte-carlo-only") { Description = "Hold the coefficients and the composition at their point values (intervals of Monte Carlo and the observation's noise only), to see what parameter uncertainty adds." };
        var noStore = new Option<bool>("--no-store") { Description = "Do not store the result with the coordinator (its dashboard shows the latest stored one)." };
        var validate = new Command("validate", "Run the twin forward from a cut-off year and compare its yearly predictions with the federation's DP totals of the years after.")
        {
            registry, cutoff, observed, replicates, output, monteCarloOnly, noStore, admin.Coordinator, admin.Token, admin.TokenFile,
        };
        validate.SetAction(parse => admin.Run(parse, async client =>
        {
            var study = await client.Send(HttpMethod.Get, $"/v1/admin/studies/{Uri.EscapeDataString(parse.GetValue(observed)!)}");
            if (study?["state"]?.ToString() != "completed" || study["result"] is not { } result)
            {
                Console.Error.WriteLine($"error: study {parse.GetValue(observed)} has not completed (state {study?["state"]})");
                return 2;
            }

            OutcomeTotalsStudyResult totals;
            try
            {
                totals = OutcomeTotalsStudyResult.FromJson(result.ToJsonString());
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"error: study {parse.GetValue(observed)} is not a federated-outcomes study: {e.Message}");
                return 2;
            }

            TwinValidation validation;
            try
            {
                validation = Validate(parse.GetValue(registry)!.FullName, parse.GetValue(cutoff), totals, parse.GetValue(replicates),
                    parse.GetValue(monteCarloOnly) ? Twin.Scenarios.UncertaintyMode.MonteCarloOnly : Twin.Scenarios.UncertaintyMode.All);
            }
            catch (Exception e) when (e is ArgumentException or TwinInputException or FormatException or IOException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            Print(validation);
            if (parse.GetValue(output) is { } file)
            {
                await File.WriteAllTextAsync(file.FullName, validation.ToJson());
                AnsiConsole.MarkupLine($"wrote {Markup.Escape(file.FullName)}");
            }

            if (!parse.GetValue(noStore))
            {
                await Store(client, validation);
            }

            return 0;
        }));
        command.Subcommands.Add(validate);
        return command;
    }

    /// <summary>The back-test on a registry directory (the demo's per-outcome fallback applies to an outcome the registry has no usable model for).</summary>
    internal static TwinValidation Validate(string registry, int cutoffYear, OutcomeTotalsStudyResult observed, int replicates = 200, Twin.Scenarios.UncertaintyMode mode = Twin.Scenarios.UncertaintyMode.All)
    {
        var models = ModelSet.Load(registry, fallback: ModelSet.DemoFallback());
        var fallen = models.Origins.Where(o => o.Kind != ModelOrigin.Federated).Select(o => o.Outcome).ToList();
        if (fallen.Count > 0)
        {
            AnsiConsole.MarkupLine($"[yellow]{Markup.Escape(string.Join(", ", fallen))}: no usable federated model, the documented demo models are used (the back-test then tests those)[/]");
        }

        return TwinBackTest.Run(models, cutoffYear, observed, replicates, mode: mode);
    }

    /// <summary>Stores the result with the coordinator, whose dashboard shows the latest (Twin validation page).</summary>
    internal static async Task Store(AdminClient client, TwinValidation validation)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(validation);
        await client.Send(HttpMethod.Post, "/v1/admin/twin-validations", new StringContent(validation.ToJson(indented: false), Encoding.UTF8, "application/json"));
        AnsiConsole.MarkupLine("stored with the coordinator (dashboard: Twin validation)");
    }

    /// <summary>The table: per outcome and year, predicted with its 95% interval, observed with its DP noise SD, and whether the interval contains it.</summary>
    internal static void Print(TwinValidation v)
    {
        ArgumentNullException.ThrowIfNull(v);
        var table = new Table().Title($"Back-test: twin trained up to {v.CutoffYear}, cohort of {v.Population:N0} from the {v.CutoffYear} composition, {v.Replicates} replicates, against the federation's DP totals")
            .AddColumns("outcome", "year", "predicted [[95% interval]]", "observed (DP noise SD)", "inside");
        foreach (var r in v.Rows)
        {
            table.AddRow(Markup.Escape(r.Outcome), r.Year.ToString(CultureInfo.InvariantCulture),
                Markup.Escape(FormattableString.Invariant($"{r.Predicted:G4} [{r.Lower:G4}, {r.Upper:G4}]")),
                Markup.Escape(FormattableString.Invariant($"{r.Observed:G4} (±{r.ObservedNoiseSd:G3})")),
                r.Contains ? "[green]yes[/]" : "[red]no[/]");
        }

        AnsiConsole.Write(table);
        if (v.Suppressed.Count > 0)
        {
            AnsiConsole.MarkupLine($"suppressed by the federation (under the minimum cell size), so not compared: {Markup.Escape(string.Join(", ", v.Suppressed))}");
        }

        AnsiConsole.MarkupLine(Markup.Escape(FormattableString.Invariant(
            $"{v.Inside} of {v.Rows.Count} outcome-years inside their 95% intervals ({(v.Rows.Count == 0 ? 0 : 100.0 * v.Inside / v.Rows.Count):F0}%); median interval width {v.MedianWidthRatio:F2} × the predicted value; intervals include: {v.UncertaintySources}")));
    }
}
