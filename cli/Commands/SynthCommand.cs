using System.CommandLine;
using System.Text.Json;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin synth`: a synthetic hospital population as a FHIR Bulk Data export.</summary>
internal static class SynthCommand
{
    public static Command Create()
    {
        var patients = new Option<int>("--patients") { Description = "Number of patients.", Required = true };
        var profile = new Option<string>("--profile") { Description = $"Hospital profile: {string.Join(", ", SyntheticProfile.All.Select(p => p.Name))}.", DefaultValueFactory = _ => "urban-academic" };
        var seed = new Option<ulong>("--seed") { Description = "Seed: the same seed gives the same export.", DefaultValueFactory = _ => 1 };
        var output = new Option<DirectoryInfo>("--out") { Description = "Output folder (Type.000.ndjson files and ground-truth.json).", Required = true };
        var bad = new Option<int>("--bad-lines") { Description = "Append this many malformed lines (for quarantine tests).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print a JSON summary." };
        var command = new Command("synth", "Generate a synthetic hospital population (FHIR R4 NDJSON, Bulk Data layout) with known ground-truth outcome models.") { patients, profile, seed, output, bad, json };
        command.SetAction(parse =>
        {
            SyntheticProfile p;
            try
            {
                p = SyntheticProfile.Named(parse.GetValue(profile)!);
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            if (parse.GetValue(patients) < 0)
            {
                Console.Error.WriteLine("error: --patients must not be negative");
                return 2;
            }

            var summary = PopulationGenerator.Generate(parse.GetValue(patients), p, parse.GetValue(seed), parse.GetValue(output)!.FullName, parse.GetValue(bad));
            Console.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(new { patients = summary.Patients, resources = summary.Resources, bad_lines = summary.BadLines, seconds = Math.Round(summary.Seconds, 3), patients_per_s = Math.Round(summary.Patients / Math.Max(summary.Seconds, 1e-9)) })
                : $"{summary.Patients} patients ({p.Name}), {summary.Resources.Values.Sum()} resources in {summary.Seconds:F2} s → {parse.GetValue(output)!.FullName}");
            return 0;
        });
        return command;
    }
}
