using System.Globalization;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Twin.Scenarios;
using Spectre.Console;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The end of `ftwin demo`: the registry the demo just trained is exported (`ftwin model export`), and one what-if
/// scenario runs on the twin built from it — the demo trains a federated GLM for every outcome of the yearly step (under
/// DP: the final iterates released after their planned rounds), and the cohort is drawn from the DP-noised composition
/// release. `fallback: demo` remains for a DP fit its release checks refuse: that outcome then takes the documented demo
/// model (ids demo/*), and the run says which. Kept in its own file so the demo's training part can change independently.
/// </summary>
internal static class DemoTwin
{
    /// <summary>The scenario: CHF transitional care (scenarios/chf-transitional-care.yaml) on the exported registry.</summary>
    private static string Scenario(string registry, decimal benchmark, int horizon = 5) => $"""
        name: CHF transitional care on the demo federation's twin
        start_year: 2025
        horizon: {horizon}
        population: 20000
        replicates: 10
        seed: 2025
        models:
          registry: '{registry}'
          fallback: demo
        interventions:
          - name: chf-transitional-care
            target:
              condition: heart_failure
            coverage: [0.3, 0.6]
            cost_pmpm: 150
            effects:
              - outcome: admissions
                relative_risk: 0.75
                source: Phillips CO et al., JAMA 2004 (readmission RR ~0.75); see scenarios/chf-transitional-care.yaml
        mssp:
          track: enhanced
          assigned_beneficiaries: 12000
          benchmark_pbpy: {benchmark.ToString(CultureInfo.InvariantCulture)}
          quality_met: true
          msr_mlr: variable
          quality_score: 0.83
        """;

    /// <summary>Exports the registry from the coordinator's data directory and runs the scenario; false on failure.</summary>
    public static bool Run(string coordinatorDir, string workDir)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var registry = Path.Combine(workDir, "twin-registry");
        AnsiConsole.MarkupLine($"[bold]Population twin[/]: ftwin model export --data-dir {Markup.Escape(coordinatorDir)} --out {Markup.Escape(registry)}");
        Coordinator.Registry.RegistrySnapshot snapshot;
        using (var store = Coordinator.Storage.CoordinatorStore.Sqlite(coordinatorDir))
        {
            snapshot = ModelCommands.Export(store, registry);
        }

        if (snapshot.Models.Count == 0 && snapshot.Compositions.Count == 0)
        {
            AnsiConsole.MarkupLine("[red]The registry holds neither a usable GLM nor a composition release.[/]");
            return false;
        }

        // A DP GLM is released after its planned rounds unless its sanity checks refused it (docs/models.md); exact fits
        // must have converged. Any GLM left out is listed with its reason (above), and its outcome falls back.
        if (snapshot.Models.Count == 0)
        {
            AnsiConsole.MarkupLine("[yellow]No released GLM in the registry (see the skipped models above for why): the twin uses the composition release and the documented demo models for every outcome.[/]");
        }

        try
        {
            // ASSUMPTION (demo only): the MSSP benchmark equals the baseline twin's first-year Medicare expenditure per
            // beneficiary-year, i.e. an ACO whose benchmark matches its expected spending; a first run measures it.
            var probe = ScenarioRunner.RunScenario(ScenarioParser.Parse(Scenario(registry, 10_000m, horizon: 1)), replicates: 2);
            var first = probe.Settlements[0].Baseline;
            var benchmark = Math.Round(first.ExpenditureTotal / first.Assigned);
            var result = ScenarioRunner.RunScenario(ScenarioParser.Parse(Scenario(registry, benchmark)));
            AnsiConsole.MarkupLine($"MSSP benchmark set to the baseline's first-year Medicare expenditure, {benchmark.ToString("N0", CultureInfo.InvariantCulture)} USD per beneficiary-year (demo ASSUMPTION)");
            ScenarioCommand.Print(result);
            var total = result.Years[0];
            var cost = total.Single(r => r.Measure == "total_cost_of_care").Difference;
            var net = total.Single(r => r.Measure == "net_savings").Difference;
            AnsiConsole.MarkupLine("[bold]" + Markup.Escape(FormattableString.Invariant(
                $"paired difference over 5 years (scenario − baseline, mean [95% interval] over {result.Replicates} replicates): total cost of care {cost.Mean:N0} [{cost.Low:N0}, {cost.High:N0}] USD; net savings after program cost {net.Mean:N0} [{net.Low:N0}, {net.High:N0}] USD")) + "[/]");
            var federated = result.ModelOrigins.Where(o => o.Kind == Twin.Simulation.ModelOrigin.Federated)
                .Select(o => o.Outcome + (snapshot.Models.Any(m => m.Id == o.Id && m.Privacy.Dp) ? " (DP)" : string.Empty)).ToList();
            var other = result.ModelOrigins.Where(o => o.Kind != Twin.Simulation.ModelOrigin.Federated).Select(o => o.Outcome).ToList();
            AnsiConsole.MarkupLine($"federated models used for: {Markup.Escape(federated.Count == 0 ? "none" : string.Join(", ", federated))}; "
                + (other.Count == 0
                    ? $"every one of the {result.ModelOrigins.Count} outcomes of the yearly step comes from the registry"
                    : $"{Markup.Escape(string.Join(", ", other))} use the documented demo models (see the models table for why)")
                + $"; twin export and runs took {clock.Elapsed.TotalSeconds:F1} s");
            return true;
        }
        catch (ScenarioFileException e)
        {
            AnsiConsole.MarkupLine($"[red]The demo scenario is invalid: {Markup.Escape(e.Message)}[/]");
            return false;
        }
    }
}
