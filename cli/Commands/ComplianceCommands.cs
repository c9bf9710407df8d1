using System.CommandLine;
using System.Globalization;
using FederatedTwin.Cli.Compliance;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin compliance report`: the node's compliance report for an auditor, as one HTML file.</summary>
internal static class ComplianceCommands
{
    public static Command Create()
    {
        var command = new Command("compliance", "Reports for compliance officers and auditors.");
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory.", Required = true };
        var from = new Option<string>("--from") { Description = "First day of the period (yyyy-MM-dd, UTC).", Required = true };
        var to = new Option<string>("--to") { Description = "Last day of the period (yyyy-MM-dd, UTC), included.", Required = true };
        var output = new Option<FileInfo>("--out") { Description = "The HTML file to write (self-contained; print it to PDF from a browser).", Required = true };
        var report = new Command("report", "Write a self-contained HTML compliance report: policy in force, studies joined and refused, what was sent, privacy budget, exclusions, quarantine, audit verification.") { nodeDir, from, to, output };
        report.SetAction(parse =>
        {
            if (!DateOnly.TryParseExact(parse.GetValue(from), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var first)
                || !DateOnly.TryParseExact(parse.GetValue(to), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var last) || last < first)
            {
                Console.Error.WriteLine("error: --from and --to must be dates (yyyy-MM-dd) with --from on or before --to");
                return 2;
            }

            var dir = parse.GetValue(nodeDir)!.FullName;
            if (!File.Exists(Path.Combine(dir, "node.db")))
            {
                Console.Error.WriteLine($"error: {dir} is not a node directory (no node.db)");
                return 2;
            }

            var html = ComplianceReport.Build(dir, first, last);
            File.WriteAllText(parse.GetValue(output)!.FullName, html);
            Console.WriteLine($"wrote {parse.GetValue(output)!.FullName}");
            return 0;
        });
        command.Subcommands.Add(report);
        return command;
    }
}
