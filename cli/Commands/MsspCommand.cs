using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Twin.Mssp;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin mssp settle`: the standalone, auditable Shared Savings Program settlement for performance year 2025; `ftwin mssp reproduce`: CMS's published settlements of 2018-2021 recomputed.</summary>
internal static class MsspCommand
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var mssp = new Command("mssp", "Medicare Shared Savings Program calculations (42 CFR part 425, performance year 2025).");
        var track = new Option<string>("--track") { Description = "basic-a|basic-b|basic-c|basic-d|basic-e|enhanced", Required = true };
        var assigned = new Option<int>("--assigned") { Description = "Assigned beneficiaries (>= 5,000).", Required = true };
        var benchmark = new Option<decimal>("--benchmark-pbpy") { Description = "Updated benchmark per beneficiary-year, dollars.", Required = true };
        var expenditure = new Option<decimal>("--expenditure-pbpy") { Description = "Performance-year expenditure per beneficiary-year, dollars.", Required = true };
        var quality = new Option<bool>("--quality-met") { Description = "Quality performance standard met (42 CFR 425.512).", Required = true };
        var score = new Option<decimal?>("--quality-score") { Description = "ACO quality score (425.512) as a fraction in [0,1]: sliding scale when only the alternative standard is met; required for ENHANCED (loss rate)." };
        var lowRevenue = new Option<bool>("--low-revenue") { Description = "Low-revenue ACO (42 CFR 425.20); default false." };
        var msrMlr = new Option<string?>("--msr-mlr") { Description = "Two-sided tracks: 0|0.005|0.01|0.015|0.02|variable." };
        var revenue = new Option<decimal?>("--participant-revenue") { Description = "ACO participant Medicare FFS revenue, dollars (BASIC C-E loss cap)." };
        var agreementStart = new Option<int?>("--agreement-start") { Description = "Start year of the ACO's agreement period; required with --low-revenue true on BASIC (42 CFR 425.605(h)(1)(iv): agreement periods from 2024)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };

        var settle = new Command("settle", "Settle one performance year: savings/losses, MSR/MLR, sharing/loss rate, caps.");
        foreach (var option in new Option[] { track, assigned, benchmark, expenditure, quality, score, lowRevenue, msrMlr, revenue, agreementStart, json })
        {
            settle.Options.Add(option);
        }

        settle.SetAction(parse =>
        {
            try
            {
                var choice = parse.GetValue(msrMlr) is { } text ? MsrMlrChoice.Parse(text) : (MsrMlrChoice?)null;
                var input = new SettlementInput(
                    MsspTracks.Parse(parse.GetValue(track)!),
                    new AssignedBeneficiaries(parse.GetValue(assigned)),
                    parse.GetValue(benchmark),
                    parse.GetValue(expenditure),
                    parse.GetValue(quality),
                    parse.GetValue(score),
                    parse.GetValue(lowRevenue),
                    choice,
                    parse.GetValue(revenue),
                    parse.GetValue(agreementStart));
                var result = MsspSettlement.Settle(input);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(result, Json));
                }
                else
                {
                    Print(result);
                }

                return 0;
            }
            catch (MsspInputException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        mssp.Subcommands.Add(settle);
        mssp.Subcommands.Add(Reproduce());
        return mssp;
    }

    /// <summary>`ftwin mssp reproduce --puf FILE`: CMS's published settlements recomputed from their own inputs, row by row.</summary>
    private static Command Reproduce()
    {
        var puf = new Option<FileInfo>("--puf") { Description = "A Shared Savings Program public use file (CSV) of performance years 2018-2021, as CMS publishes it.", Required = true };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: the summary and every row." };
        var all = new Option<bool>("--all") { Description = "List every row, not only those that differ." };
        var command = new Command("reproduce", "Recompute each ACO's published shared savings or losses from the file's own inputs and compare with what CMS paid.") { puf, json, all };
        command.SetAction(parse =>
        {
            IReadOnlyList<RecomputedSettlement> results;
            try
            {
                results = PublishedSettlementCheck.Recompute(PublicUseFile.Read(parse.GetValue(puf)!.FullName));
            }
            catch (Exception e) when (e is PublicUseFileException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            var matched = results.Count(r => r.Matches);
            var explained = results.Count(r => !r.Matches && r.NotReproducible is not null);
            var unexplained = results.Count - matched - explained;
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    rows = results.Count,
                    matched,
                    not_reproducible = explained,
                    differ = unexplained,
                    results = results.Select(r => new
                    {
                        performance_year = r.Published.PerformanceYear,
                        aco_id = r.Published.AcoId,
                        track = r.Published.Track,
                        published = r.Published.EarnedSavingsLosses,
                        computed = r.Computed is { } c ? decimal.Round(c, 2) : (decimal?)null,
                        tolerance = decimal.Round(r.Tolerance, 2),
                        matches = r.Matches,
                        rule = r.Rule,
                        not_reproducible = r.NotReproducible,
                    }),
                }, Json));
            }
            else
            {
                var c = CultureInfo.InvariantCulture;
                var table = new Table().AddColumn("year").AddColumn("ACO").AddColumn("track").AddColumn(new TableColumn("published").RightAligned())
                    .AddColumn(new TableColumn("computed").RightAligned()).AddColumn("rule");
                foreach (var r in results.Where(r => parse.GetValue(all) || !r.Matches))
                {
                    table.AddRow(r.Published.PerformanceYear.ToString(c), Markup.Escape(r.Published.AcoId), Markup.Escape(r.Published.Track),
                        r.Published.EarnedSavingsLosses.ToString("#,##0", c), r.Computed?.ToString("#,##0", c) ?? "-", Markup.Escape(r.NotReproducible ?? r.Rule));
                }

                if (table.Rows.Count > 0)
                {
                    AnsiConsole.Write(table);
                }

                Console.WriteLine($"{results.Count} settlements: {matched} reproduced within the rounding of the published quality score, {explained} not reproducible from the published columns, {unexplained} differ.");
            }

            return unexplained == 0 ? 0 : 1;
        });
        return command;
    }

    private static void Print(SettlementResult r)
    {
        var table = new Table().AddColumn("quantity").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        var c = CultureInfo.InvariantCulture;
        Row("track", r.Track);
        Row("assigned", r.Assigned.ToString("N0", c));
        Row("benchmark_total", r.BenchmarkTotal.ToString("$#,##0.00;-$#,##0.00", c));
        Row("expenditure_total", r.ExpenditureTotal.ToString("$#,##0.00;-$#,##0.00", c));
        Row("gross_savings", r.GrossSavings.ToString("$#,##0.00;-$#,##0.00", c));
        Row("savings_rate", r.SavingsRate.ToString("P3", c));
        Row("msr", r.Msr.ToString("P3", c));
        Row("mlr", r.Mlr?.ToString("P3", c) ?? "n/a (one-sided)");
        Row("sharing_rate", r.SharingRate.ToString("P2", c));
        Row("loss_rate", r.LossRate?.ToString("P2", c) ?? "n/a (one-sided)");
        Row("shared_savings", r.SharedSavings.ToString("$#,##0.00;-$#,##0.00", c));
        Row("shared_losses", r.SharedLosses.ToString("$#,##0.00;-$#,##0.00", c));
        Row("cap_applied", r.CapApplied ? "yes" : "no");
        Row("outcome", r.Outcome);
        AnsiConsole.Write(table);
        var rules = new Table().AddColumn("quantity").AddColumn("rule").AddColumn("section");
        foreach (var rule in r.Rules)
        {
            rules.AddRow(Markup.Escape(rule.Quantity), Markup.Escape(rule.Rule), Markup.Escape(rule.Section));
        }

        AnsiConsole.Write(rules);
    }
}
