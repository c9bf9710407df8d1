using System.CommandLine;
using FederatedTwin.Node;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Twins;
using FederatedTwin.Twin.Scenarios;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node twin facility`: the facility twin (issue 21, docs/twins.md "Facility twin"): the hospital's own patients run
/// forward on the twin engine with the node's released models, printed as one aggregate table (no pseudonyms).
/// </summary>
internal static class NodeFacilityCommand
{
    public static Command Create()
    {
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory.", Required = true };
        var scenario = new Option<FileInfo?>("--scenario") { Description = "A scenario file (YAML, docs/scenarios.md): its interventions run against the baseline on the same patients; its population, start_year, horizon, models and mssp do not apply." };
        var years = new Option<int>("--years") { Description = "Years to simulate after the cohort's year (1-30).", Required = true };
        var replicates = new Option<int?>("--replicates") { Description = "Replicates (default: the scenario file's, else 20)." };
        var seed = new Option<uint?>("--seed") { Description = "Seed of the draws (default: the scenario file's, else 1)." };
        var fromYear = new Option<int?>("--from-year") { Description = "Start the cohort from this year's rows (default: the node's last data year); a back-cast starts earlier." };
        var json = new Option<bool>("--json") { Description = "Print JSON (the default)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV, one row per simulated year." };
        var purpose = new Option<string>("--purpose") { Description = "Purpose of use the rows are read under (consent and sensitive exclusions of the site policy apply).", DefaultValueFactory = _ => "HOPERAT" };
        var allowFallback = new Option<bool>("--allow-fallback") { Description = "Let the illustrative demo models fill outcomes the node's released models miss (each named in the output)." };
        var command = new Command("facility", "Run the hospital's own patients forward on the twin: admissions, bed-days, census, occupancy, ED visits, cost per year (aggregate, with 95% intervals).")
        {
            nodeDir, scenario, years, replicates, seed, fromYear, json, csv, purpose, allowFallback,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(json) && parse.GetValue(csv))
            {
                Console.Error.WriteLine("error: choose one of --json and --csv");
                return 2;
            }

            if (NodeModelCommands.Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            try
            {
                var yaml = parse.GetValue(scenario) is { } file ? File.ReadAllText(file.FullName) : null;
                using var node = NodeDirectory.OpenOrInitialize(dir);
                var models = NodeModelRegistry.Released(node).Models;
                var result = FacilityTwinOnNode.Run(node, models, parse.GetValue(purpose)!, parse.GetValue(fromYear), parse.GetValue(years),
                    parse.GetValue(replicates), parse.GetValue(seed), parse.GetValue(allowFallback), yaml);
                Console.Write(parse.GetValue(csv) ? result.ToCsv() : result.ToJson() + "\n");
                return 0;
            }
            catch (Exception e) when (e is FacilityTwinException or NodeConfigurationException or ScenarioFileException or SitePolicyException
                or FederatedTwin.Node.Federation.ParticipationRefusedException or IOException or FederatedTwin.Twin.Simulation.ModelSetException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
