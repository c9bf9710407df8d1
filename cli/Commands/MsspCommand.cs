using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Twin.Mssp;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin mssp settle`: the standalone, auditable Shared Savings Program settlement of a performance year (2018-2025); `ftwin mssp replay`: CMS's published settlements settled again from their inputs.</summary>
internal static class MsspCommand
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var mssp = new Command("mssp", "Medicare Shared Savings Program calculations (42 CFR part 425, performance years 2018-2025).");
        var track = new Option<string>("--track") { Description = "basic-a|basic-b|basic-c|basic-d|basic-e|enhanced (from 2019); track-1|track-1-plus|track-2|track-3 (2018-2021)", Required = true };
        var year = new Option<int>("--performance-year") { Description = "The performance year whose rules apply (2018-2025; later years settle under 2025's).", DefaultValueFactory = _ => PerformanceYearRules.Latest };
        var reduction = new Option<decimal>("--loss-reduction") { Description = "Extreme and uncontrollable circumstances reduction of shared losses, dollars (42 CFR 425.605(f), 425.610(i))." };
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
        foreach (var option in new Option[] { track, assigned, benchmark, expenditure, quality, score, lowRevenue, msrMlr, revenue, agreementStart, year, reduction, json })
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
                    parse.GetValue(agreementStart),
                    parse.GetValue(year),
                    parse.GetValue(reduction));
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
        mssp.Subcommands.Add(Replay());
        return mssp;
    }

    /// <summary>`ftwin mssp replay FILE.csv`: the rows of a public use file settled again from their inputs, compared with what CMS published.</summary>
    private static Command Replay()
    {
        var file = new Argument<FileInfo>("FILE.csv") { Description = "A Shared Savings Program public use file (CSV, the columns of CMS's PUF: n_ab, abtotbnchmk, abtotexp, track, risk_model, met_qps, qualscore, disadj, revlosslimit, minsavperc...), performance years 2018-2025." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: every row and, when the file has the published results, how many were reproduced." };
        var all = new Option<bool>("--all") { Description = "List every row in the table, not only those not computable or not reproduced." };
        var command = new Command("replay", "Settle each row of a public use file from its inputs only, with the rules of its performance year, and compare with the published results.") { file, json, all };
        command.SetAction(parse =>
        {
            IReadOnlyList<ReplayedSettlement> results;
            try
            {
                results = SettlementReplay.Replay(PublicUseFile.Read(parse.GetValue(file)!.FullName));
            }
            catch (Exception e) when (e is PublicUseFileException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            var published = results.Where(r => r.Row.EarnedSavingsLosses is not null || r.Row.GeneratedSavingsLosses is not null).ToList();
            var differ = results.Count(r => r.Computable && (r.EarnedReproduced == false || r.GeneratedReproduced == false));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    rows = results.Select(r => new
                    {
                        aco_id = r.Row.AcoId,
                        performance_year = r.Row.PerformanceYear,
                        track = r.Row.Track,
                        msr = r.Msr,
                        generated_savings_losses = Dollars(r.Generated),
                        earned_savings_losses = Dollars(r.Earned),
                        computable = r.Computable,
                        reason = r.Reason,
                        rule = r.Rule,
                    }),
                    computable = results.Count(r => r.Computable),
                    not_computable = results.Count(r => !r.Computable),
                    published = published.Count == 0 ? null : new
                    {
                        rows = published.Count,
                        generated_reproduced = results.Count(r => r.GeneratedReproduced == true),
                        earned_reproduced_to_the_dollar = results.Count(r => r.EarnedToTheDollar == true),
                        earned_reproduced = results.Count(r => r.EarnedReproduced == true),
                        differ,
                        rule = "generated within $1; earned within $1, or within 0.02% where the rate came from a quality score CMS published rounded",
                    },
                }, Json));
            }
            else
            {
                var c = CultureInfo.InvariantCulture;
                var table = new Table().AddColumn("year").AddColumn("ACO").AddColumn("track").AddColumn(new TableColumn("MSR").RightAligned())
                    .AddColumn(new TableColumn("generated").RightAligned()).AddColumn(new TableColumn("earned").RightAligned())
                    .AddColumn(new TableColumn("published").RightAligned()).AddColumn("rule");
                foreach (var r in results.Where(r => parse.GetValue(all) || !r.Computable || r.EarnedReproduced == false || r.GeneratedReproduced == false))
                {
                    table.AddRow(r.Row.PerformanceYear.ToString(c), Markup.Escape(r.Row.AcoId), Markup.Escape(r.Row.Track), r.Msr?.ToString("P3", c) ?? "-",
                        r.Generated?.ToString("#,##0", c) ?? "-", r.Earned?.ToString("#,##0", c) ?? "-", r.Row.EarnedSavingsLosses?.ToString("#,##0", c) ?? "-",
                        Markup.Escape(r.Reason ?? r.Rule));
                }

                if (table.Rows.Count > 0)
                {
                    AnsiConsole.Write(table);
                }

                Console.WriteLine($"{results.Count} rows: {results.Count(r => r.Computable)} settled, {results.Count(r => !r.Computable)} not computable from these columns.");
                if (published.Count > 0)
                {
                    Console.WriteLine($"Published results on {published.Count} rows: generated reproduced within $1 on {results.Count(r => r.GeneratedReproduced == true)}; earned to the dollar on {results.Count(r => r.EarnedToTheDollar == true)}, within the rounding of the published quality score on {results.Count(r => r.EarnedReproduced == true)}; {differ} settled rows differ.");
                }
            }

            return differ == 0 ? 0 : 1;
        });
        return command;
    }

    private static decimal? Dollars(decimal? value) => value is { } v ? decimal.Round(v, 2, MidpointRounding.AwayFromZero) : null;

    private static void Print(SettlementResult r)
    {
        var table = new Table().AddColumn("quantity").AddColumn(new TableColumn("value").RightAligned());
        void Row(string name, string value) => table.AddRow(Markup.Escape(name), Markup.Escape(value));
        var c = CultureInfo.InvariantCulture;
        Row("performance_year", r.PerformanceYear == r.RulesOfYear ? r.PerformanceYear.ToString(c) : $"{r.PerformanceYear} (rules of {r.RulesOfYear})");
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
        Row("payment_after_sequestration", r.PaymentAfterSequestration.ToString("P0", c));
        Row("loss_reduction", r.LossReduction.ToString("$#,##0.00;-$#,##0.00", c));
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
