using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Twin.Mssp;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin mssp settle`: the standalone, auditable Shared Savings Program settlement for performance year 2025.</summary>
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
        return mssp;
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
