using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Cli.Commands;
using Spectre.Console;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The demo's back-test (`ftwin twin validate` on the demo federation): the registry the demo exported holds the GLMs trained
/// once on the patient-years up to 2021 (outcomes up to the cut-off, 2022) and the composition of 2022; the twin runs forward
/// from it and is compared with the federation's DP totals of 2023 and 2024 (study demo-observed-outcomes). The table is printed,
/// written to DIR/results/twin-validation.json with --out, and stored with the coordinator for its dashboard.
/// </summary>
internal static class DemoBackTest
{
    /// <summary>Runs the step; false when it could not (the reason printed).</summary>
    public static async Task<bool> Run(LocalFederation federation, JsonNode observedStudy, string workDir, string? results, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var registry = Path.Combine(workDir, "twin-registry");
        AnsiConsole.MarkupLine($"[bold]Back-test[/]: ftwin twin validate --registry {Markup.Escape(registry)} --cutoff {DemoStudies.CutoffYear} --observed-study {DemoStudies.ObservedOutcomesId}");
        try
        {
            var observed = OutcomeTotalsStudyResult.FromJson(observedStudy["result"]!.ToJsonString());
            var validation = TwinCommands.Validate(registry, DemoStudies.CutoffYear, observed);
            if (results is not null)
            {
                Directory.CreateDirectory(results);
                await File.WriteAllTextAsync(Path.Combine(results, "twin-validation.json"), validation.ToJson(), cancellationToken);
            }

            TwinCommands.Print(validation);
            using var admin = federation.Admin;
            await TwinCommands.Store(admin, validation);
            AnsiConsole.MarkupLine($"back-test took {clock.Elapsed.TotalSeconds:F1} s");
            return true;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or AdminRequestException or HttpRequestException or Twin.Simulation.TwinInputException)
        {
            AnsiConsole.MarkupLine($"[red]The back-test failed: {Markup.Escape(e.Message)}[/]");
            return false;
        }
    }
}
