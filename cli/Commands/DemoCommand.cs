using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Cli.Synthetic;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin demo`: a coordinator and three hospital nodes as separate processes on loopback, enrolled
/// with signed keys, each with its own generated FHIR export ingested through the real pipeline; one
/// study end to end; the decrypted census printed next to the census the demo counts itself in the
/// sites' FHIR files (never through a node or the coordinator).
/// </summary>
internal static class DemoCommand
{
    private static readonly string[] Sites = ["university-hospital", "community-hospital", "safety-net-hospital"];
    private const int PatientsPerSite = 600;
    private const int CensusYear = 2024;

    public static Command Create()
    {
        var output = new Option<DirectoryInfo?>("--out") { Description = "Keep the coordinator's and nodes' directories here (DIR/coordinator, DIR/nodes/<name>) instead of a temporary folder." };
        var command = new Command("demo", "Run a coordinator and three nodes on loopback and one encrypted study end to end.") { output };
        command.SetAction((parse, cancellationToken) => Run(parse.GetValue(output), cancellationToken));
        return command;
    }

    private static async Task<int> Run(DirectoryInfo? output, CancellationToken cancellationToken)
    {
        var root = output?.FullName ?? Path.Combine(Path.GetTempPath(), "ftwin-demo-" + Guid.NewGuid().ToString("N")[..8]);
        if (output is not null && Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            Console.Error.WriteLine($"error: {root} is not empty; give an empty or new directory to --out");
            return 2;
        }

        var total = Stopwatch.StartNew();
        try
        {
            AnsiConsole.MarkupLine($"[bold]FederatedTwin demo[/]: a coordinator and {Sites.Length} hospital nodes, separate processes on 127.0.0.1, directories under {Markup.Escape(root)}");
            var exports = Path.Combine(root, "exports");
            using var federation = await LocalFederation.Start(root, Sites, "HOPERAT", pollWaitSeconds: 2, cancellationToken, (i, node) =>
            {
                // Each hospital: its own synthetic FHIR export (a different case mix), through the real ingest pipeline.
                var export = Path.Combine(exports, Sites[i]);
                var generated = PopulationGenerator.Generate(PatientsPerSite, SyntheticProfile.All[i], (ulong)(i + 1), export, badLines: 3);
                var ingested = new IngestPipeline(node).Run(export);
                AnsiConsole.MarkupLine($"{Sites[i]}: {generated.Patients} patients ({SyntheticProfile.All[i].Name}) generated; ingest read {ingested.LinesRead} lines, accepted {ingested.Accepted}, quarantined {ingested.Quarantined}, in {ingested.Seconds:F1} s");
            });
            AnsiConsole.MarkupLine($"coordinator at {federation.CoordinatorUrl}; nodes enrolled with one-time tokens, coordinator key pinned in each site policy");

            const string studyId = "demo-census";
            await federation.CreateStudy($"""
                id: {studyId}
                algorithm: federated-sum
                purpose_of_use: HOPERAT
                min_nodes: 3
                max_nodes: 3
                rounds: 1
                phase_deadline_seconds: 30
                description: Patients by age band and sex across the ACO, summed under threshold encryption.
                parameters:
                  vector: {LocalVectors.PatientsByAgeBandAndSex}
                  year: "{CensusYear}"
                """, cancellationToken);
            var study = await federation.WaitForStudy(studyId, TimeSpan.FromSeconds(60), null, cancellationToken);
            if (study["state"]?.ToString() != "completed")
            {
                AnsiConsole.MarkupLine($"[red]The study ended {Markup.Escape($"{study["state"]}")}: {Markup.Escape($"{study["failure_reason"]}")}[/]");
                return 1;
            }

            var expected = ExpectedCensus(Sites.Select(s => Path.Combine(exports, s, "Patient.000.ndjson")));
            var decrypted = study["result"]!["sums"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
            var labels = LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex);
            var table = new Table().Title($"Patients alive at the start of {CensusYear}, by age band and sex").AddColumns("cell", "decrypted at the coordinator", "counted by the demo in the sites' FHIR files", "");
            for (var i = 0; i < labels.Count; i++)
            {
                table.AddRow(labels[i], decrypted[i].ToString(System.Globalization.CultureInfo.InvariantCulture), expected[i].ToString(System.Globalization.CultureInfo.InvariantCulture), decrypted[i] == expected[i] ? "[green]=[/]" : "[red]≠[/]");
            }

            AnsiConsole.Write(table);
            var latency = study["rounds"]![0]!["latency_ms"]!.GetValue<double>();
            StudyCommands.PrintStudy(study);
            AnsiConsole.MarkupLine($"round latency (keygen → encrypt → aggregate → threshold decrypt, {Sites.Length} nodes, loopback): [bold]{latency / 1000:F2} s[/]; demo total {total.Elapsed.TotalSeconds:F1} s");
            if (!decrypted.SequenceEqual(expected))
            {
                AnsiConsole.MarkupLine("[red]The decrypted aggregate differs from the sum of the sites' inputs.[/]");
                return 1;
            }

            AnsiConsole.MarkupLine("[green]The decrypted aggregate equals the census counted in the three sites' FHIR files; no site's counts left it unencrypted.[/]");
            if (output is not null)
            {
                AnsiConsole.MarkupLine($"kept: {Markup.Escape(Path.Combine(root, "coordinator"))} and {Markup.Escape(Path.Combine(root, "nodes"))}/<name>");
                AnsiConsole.MarkupLine($"audit trails: ftwin audit verify --node-dir {Markup.Escape(Path.Combine(root, "nodes", Sites[0]))} (or --data-dir {Markup.Escape(Path.Combine(root, "coordinator"))}); ftwin audit export ... --out audit.ndjson");
            }

            return 0;
        }
        finally
        {
            if (output is null)
            {
                TryDelete(root);
            }
        }
    }

    /// <summary>
    /// The census the demo computes itself from the sites' raw FHIR Patient files (never through a node
    /// or the coordinator): alive at the start of the year, age as year − birth year capped at 90.
    /// </summary>
    private static long[] ExpectedCensus(IEnumerable<string> patientFiles)
    {
        var sum = new long[LocalVectors.AgeBands.Count * 2];
        foreach (var file in patientFiles)
        {
            foreach (var line in File.ReadLines(file))
            {
                using var patient = JsonDocument.Parse(line);
                var root = patient.RootElement;
                var birthYear = int.Parse(root.GetProperty("birthDate").GetString()![..4], System.Globalization.CultureInfo.InvariantCulture);
                var deceasedYear = root.TryGetProperty("deceasedDateTime", out var d) ? int.Parse(d.GetString()![..4], System.Globalization.CultureInfo.InvariantCulture) : (int?)null;
                if (birthYear > CensusYear || deceasedYear < CensusYear)
                {
                    continue;
                }

                var age = Math.Min(90, CensusYear - birthYear);
                var band = age switch { < 18 => 0, < 35 => 1, < 50 => 2, < 65 => 3, < 75 => 4, < 85 => 5, < 90 => 6, _ => 7 };
                sum[(band * 2) + (root.GetProperty("gender").GetString() == "male" ? 1 : 0)]++;
            }
        }

        return sum;
    }

    private static void TryDelete(string root)
    {
        for (var i = 0; i < 5; i++)
        {
            try
            {
                if (Directory.Exists(root))
                {
                    Directory.Delete(root, recursive: true);
                }

                return;
            }
            catch (IOException)
            {
                Thread.Sleep(200);
            }
        }
    }
}
