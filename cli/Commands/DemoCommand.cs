using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin demo`: a coordinator and three hospital nodes as separate processes on loopback, enrolled
/// with signed keys; one study end to end; the decrypted sum printed next to the sum the demo
/// computes itself from the sites' own input (never through the coordinator).
/// </summary>
internal static class DemoCommand
{
    private static readonly string[] Sites = ["general-hospital", "community-hospital", "university-hospital"];

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
            using var federation = await LocalFederation.Start(root, Sites, "HOPERAT", pollWaitSeconds: 2, cancellationToken);
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
                """, cancellationToken);
            var study = await federation.WaitForStudy(studyId, TimeSpan.FromSeconds(60), null, cancellationToken);
            if (study["state"]?.ToString() != "completed")
            {
                AnsiConsole.MarkupLine($"[red]The study ended {Markup.Escape($"{study["state"]}")}: {Markup.Escape($"{study["failure_reason"]}")}[/]");
                return 1;
            }

            var expected = ExpectedSum(federation);
            var decrypted = study["result"]!["sums"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();
            var labels = LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex);
            var table = new Table().Title("Patients by age band and sex").AddColumns("cell", "decrypted at the coordinator", "computed by the demo from the sites' input", "");
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

            AnsiConsole.MarkupLine("[green]The decrypted aggregate equals the sum of the three sites' inputs; no site's input left it unencrypted.[/]");
            if (output is not null)
            {
                AnsiConsole.MarkupLine($"kept: {Markup.Escape(Path.Combine(root, "coordinator"))} and {Markup.Escape(Path.Combine(root, "nodes"))}/<name>");
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

    /// <summary>The sum the demo computes itself, reading each site's local input from its own directory.</summary>
    private static long[] ExpectedSum(LocalFederation federation)
    {
        long[]? sum = null;
        foreach (var (_, dir, _) in federation.Nodes)
        {
            var input = JsonSerializer.Deserialize<SiteInput>(File.ReadAllText(Path.Combine(dir, "site-input.json")), WireJson.Options)!;
            var v = input.Vectors[LocalVectors.PatientsByAgeBandAndSex];
            sum ??= new long[v.Length];
            for (var i = 0; i < v.Length; i++)
            {
                sum[i] += v[i];
            }
        }

        return sum ?? [];
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
