using System.Text;
using FederatedTwin.Twin.Mssp;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The Shared Savings Program public use files (CMS's published settlements, ../shared/data/mssp-puf) read as CMS and the
/// repackaged copies write them; malformed files refused with the line and the column, never a cell's content.
/// </summary>
public sealed class PublicUseFileTests
{
    internal static string Puf(string name)
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
        {
            dir = dir.Parent;
        }

        return Path.Combine(dir!.FullName, "..", "shared", "data", "mssp-puf", name);
    }

    [Fact]
    public void Every_ACO_of_2018_is_read_with_its_inputs_and_results_and_each_row_is_consistent()
    {
        var rows = PublicUseFile.Read(Puf("puf_py2018.csv"));
        Assert.Equal(548, rows.Count);
        Assert.Equal(548, rows.Select(r => r.AcoId).Distinct().Count());
        Assert.All(rows, r => Assert.Equal(2018, r.PerformanceYear));
        Assert.Equal(453, rows.Count(r => r.Track == "track_1"));

        // The first row as the file has it.
        var a = rows[0];
        Assert.Equal(("A1001", 77372, 0.02m, 1072551536m, 960028237m, 112523299m, 50087988m), (a.AcoId, a.AssignedBeneficiaries, a.MinimumSavingsRate, a.TotalBenchmark, a.TotalExpenditure, a.BenchmarkMinusExpenditure, a.EarnedSavingsLosses));
        Assert.Equal((true, 0.9084m, 0.5m, 0.4542m, false), (a.QualityStandardMet, a.QualityScore, a.MaxSharingRate, a.FinalSharingRate, a.RevenueLossLimitApplied));
        Assert.Null(a.DisasterAdjustment); // NA
        Assert.Null(a.AssignmentType);

        // What the file says of itself: benchmark minus expenditure is the difference (to the dollar, as published).
        Assert.All(rows, r => Assert.InRange(r.TotalBenchmark - r.TotalExpenditure - r.BenchmarkMinusExpenditure!.Value, -1.5m, 1.5m));
    }

    [Fact]
    public void The_2019_to_2021_examples_are_read_with_the_columns_they_add()
    {
        var rows = PublicUseFile.Read(Puf("puf_py2019_2021_examples.csv"));
        Assert.Equal(16, rows.Count);
        Assert.Contains(rows, r => r.Track == "enhanced" && r.PerformanceYear == 2021 && r.AssignmentType == "Retrospective");
        Assert.Contains(rows, r => r.Track == "basic_e" && r.RevenueLossLimitApplied == true);
    }

    [Fact]
    public void CMS_spelling_of_the_columns_any_order_thousands_separators_and_percentages_are_read()
    {
        const string csv = "ACO_ID,Performance_Year,Track,N_AB,ABtotBnchmk,ABtotExp,EarnSaveLoss,MinSavPerc,Met_QPS,Extra\r\n"
            + "A9,2019,basic_b,\"12,000\",\"$100,000,000\",95000000,-1.5e6,2.0%,Y,ignored\r\n";
        var row = Assert.Single(PublicUseFile.Read(new StringReader(csv)));
        Assert.Equal(("A9", 2019, 12000, 100_000_000m, 95_000_000m, -1_500_000m, 0.02m, true), (row.AcoId, row.PerformanceYear, row.AssignedBeneficiaries, row.TotalBenchmark, row.TotalExpenditure, row.EarnedSavingsLosses, row.MinimumSavingsRate, row.QualityStandardMet));
    }

    [Theory]
    [InlineData("", 1, null, "empty")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,earnsaveloss\n", 1, null, "required columns missing: abtotexp")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss,n_ab\n", 1, "n_ab", "a column named twice")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,SECRET,1,1,0\n", 2, "n_ab", "not a number")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10.5,1,1,0\n", 2, "n_ab", "not a whole number")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10,1,NA,0\n", 2, "abtotexp", "a value is required")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10,1,1\n", 2, null, "6 cells where the header has 7")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss,met_qps\n2018,track_1,A1,10,1,1,0,SECRET\n", 2, "met_qps", "not 1/0")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10,7e28,-7e28,0\n", 2, "abtotbnchmk", "beyond")]
    [InlineData("performance_year,,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10,1,1,0\n", 2, null, "7 cells where the header has 8")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,\"A1,10,1,1,0\n", 2, null, "malformed CSV")]
    public void A_malformed_file_is_refused_with_its_line_and_column_and_never_a_cells_content(string csv, long line, string? column, string reason)
    {
        var e = Assert.Throws<PublicUseFileException>(() => PublicUseFile.Read(new StringReader(csv)));
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.Contains(reason, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SECRET", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cell_beyond_the_length_limit_is_refused_without_reading_it_whole()
    {
        var csv = new StringBuilder("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,");
        csv.Append('A', PublicUseFile.MaxFieldLength + 10).Append(",10,1,1,0\n");
        var e = Assert.Throws<PublicUseFileException>(() => PublicUseFile.Read(new StringReader(csv.ToString())));
        Assert.Contains("longer than", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>
/// The rule sets against what CMS paid: every ACO of performance year 2018 (548, Tracks 1, 1+, 2 and 3) and the selected ACOs of
/// 2019-2021, settled again from the public use file's inputs only (issue 20). Each row that is not reproduced is named here with
/// the reason.
/// </summary>
public sealed class PublishedSettlementTests
{
    private static IReadOnlyList<ReplayedSettlement> Replay(string file) => SettlementReplay.Replay(PublicUseFile.Read(PublicUseFileTests.Puf(file)));

    [Fact]
    public void Every_generated_savings_or_loss_of_2018_and_of_the_2019_to_2021_examples_is_reproduced_within_a_dollar()
    {
        foreach (var file in new[] { "puf_py2018.csv", "puf_py2019_2021_examples.csv" })
        {
            var results = Replay(file);
            var misses = results.Where(r => r.GeneratedReproduced != true).Select(r => $"{r.Row.AcoId}: published {r.Row.GeneratedSavingsLosses}, computed {r.Generated} (MSR {r.Msr})").ToList();
            Assert.True(misses.Count == 0, file + "\n" + string.Join("\n", misses));
        }
    }

    [Fact]
    public void Every_earned_settlement_of_2018_is_reproduced_except_two_Track_1_plus_losses_under_the_unpublished_revenue_based_limit()
    {
        var results = Replay("puf_py2018.csv");
        Assert.Equal(548, results.Count);
        var misses = results.Where(r => r.Computable && r.EarnedReproduced != true).Select(r => $"{r.Row.AcoId} {r.Row.Track}: published {r.Row.EarnedSavingsLosses}, computed {r.Earned} ({r.Rule})").ToList();
        Assert.True(misses.Count == 0, string.Join("\n", misses));
        Assert.Equal(546, results.Count(r => r.EarnedReproduced == true));

        // The two rows the columns cannot settle: Track 1+ losses with the revenue-based limit (revlosslimit = 1), whose input, ACO
        // participant revenue, is not published. What CMS charged is within the benchmark-limited amount the replay reports.
        var limited = results.Where(r => !r.Computable).ToList();
        Assert.Equal(["A2392", "A3764"], limited.Select(r => r.Row.AcoId).Order(StringComparer.Ordinal));
        Assert.All(limited, r =>
        {
            Assert.Equal(("track_1_plus", true), (r.Row.Track, r.Row.RevenueLossLimitApplied));
            Assert.Contains("revenue", r.Reason, StringComparison.Ordinal);
            Assert.InRange(r.Row.EarnedSavingsLosses!.Value, (0.30m * r.Generated!.Value) - 1m, 0m);
        });

        // Where the rate does not come from a rounded quality score the figure is exact to the dollar: every loss at a fixed rate,
        // every capped payment (A1409), every zero.
        Assert.All(results.Where(r => r.Computable && !r.RoundedRate), r => Assert.True(r.EarnedToTheDollar, $"{r.Row.AcoId}: {r.Earned} vs {r.Row.EarnedSavingsLosses}"));
        Assert.Contains(results, r => r.Row.AcoId == "A1409" && r.Rule.Contains("payment limit", StringComparison.Ordinal));
        Assert.Contains(results, r => r.Row.AcoId == "A3743" && r.Rule.Contains("75.00", StringComparison.Ordinal)); // quality not met: the ceiling
    }

    [Fact]
    public void The_2019_to_2021_examples_are_reproduced_except_A1515_a_BASIC_C_loss_under_the_unpublished_revenue_based_limit()
    {
        var results = Replay("puf_py2019_2021_examples.csv");
        Assert.Equal(16, results.Count);
        var misses = results.Where(r => r.Computable && r.EarnedReproduced != true).Select(r => $"{r.Row.PerformanceYear} {r.Row.AcoId}: published {r.Row.EarnedSavingsLosses}, computed {r.Earned} ({r.Rule})").ToList();
        Assert.True(misses.Count == 0, string.Join("\n", misses));
        var limited = Assert.Single(results, r => !r.Computable);
        Assert.Equal(("A1515", "basic_c", true), (limited.Row.AcoId, limited.Row.Track, limited.Row.RevenueLossLimitApplied));

        // A1052 is revenue-limited too, but the COVID-19 reduction removes every dollar the benchmark limit would leave: settled at 0.
        var a1052 = Assert.Single(results, r => r.Row.AcoId == "A1052");
        Assert.Equal((true, 0m), (a1052.Computable, a1052.Earned));
    }

    [Fact]
    public void The_replay_reads_only_the_inputs_so_blanking_every_published_result_changes_nothing()
    {
        var original = File.ReadAllLines(PublicUseFileTests.Puf("puf_py2018.csv"));
        var header = original[0].Split(',');
        string[] results = ["bnchmkminexp", "sav_rate", "gensaveloss", "maxsharerate", "finalsharerate", "earnsaveloss"];
        var blank = results.Select(c => Array.IndexOf(header, c)).ToArray();
        var msr = Array.IndexOf(header, "minsavperc");
        var risk = Array.IndexOf(header, "risk_model");
        Assert.DoesNotContain(-1, blank.Append(msr).Append(risk));
        var text = new StringBuilder(original[0]).Append('\n');
        foreach (var line in original.Skip(1))
        {
            var cells = line.Split(','); // the 2018 file has no quoted cells
            foreach (var i in blank)
            {
                cells[i] = "NA";
            }

            if (cells[risk] == "One-Sided")
            {
                cells[msr] = string.Empty; // a one-sided ACO's MSR comes from the sliding scale, never from the file
            }

            text.Append(string.Join(',', cells)).Append('\n');
        }

        var expected = Replay("puf_py2018.csv");
        var blanked = SettlementReplay.Replay(PublicUseFile.Read(new StringReader(text.ToString())));
        Assert.Equal(expected.Select(r => (r.Row.AcoId, r.Msr, r.Generated, r.Earned, r.Computable)), blanked.Select(r => (r.Row.AcoId, r.Msr, r.Generated, r.Earned, r.Computable)));
        Assert.All(blanked, r => Assert.Null(r.EarnedReproduced));
    }

    [Fact]
    public void The_sliding_scale_gives_every_one_sided_ACO_of_2018_the_MSR_CMS_published_including_those_under_5000()
    {
        var oneSided = Replay("puf_py2018.csv").Where(r => r.Row.Track == "track_1").ToList();
        Assert.Equal(453, oneSided.Count);
        Assert.Contains(oneSided, r => r.Row.AssignedBeneficiaries < 5_000);
        Assert.All(oneSided, r => Assert.True(Math.Abs(r.Msr!.Value - r.Row.MinimumSavingsRate!.Value) < 0.0000005m, $"{r.Row.AcoId} n={r.Row.AssignedBeneficiaries}: {r.Msr} vs {r.Row.MinimumSavingsRate}"));
    }

    private static PublishedSettlement Row(int year, string track, decimal benchmark, decimal expenditure, decimal? msr = null, bool met = true, decimal? quality = 0.9m) => new()
    {
        PerformanceYear = year, Track = track, AcoId = "T" + year, AssignedBeneficiaries = 20_000, TotalBenchmark = benchmark, TotalExpenditure = expenditure,
        MinimumSavingsRate = msr, QualityStandardMet = met, QualityScore = quality, RevenueLossLimitApplied = false,
    };

    [Fact]
    public void One_sided_losses_past_the_MSR_are_published_as_generated_in_2018_and_2019_and_as_0_from_2020()
    {
        // 20,000 assigned -> MSR 2.5%; losses of 5% of the benchmark.
        Assert.Equal(-5_000_000m, SettlementReplay.Replay(Row(2019, "track_1", 100_000_000m, 105_000_000m)).Generated);
        Assert.Equal(-5_000_000m, SettlementReplay.Replay(Row(2018, "track_1", 100_000_000m, 105_000_000m)).Generated);
        Assert.Equal(0m, SettlementReplay.Replay(Row(2020, "track_1", 100_000_000m, 105_000_000m)).Generated);
        Assert.Equal(0m, SettlementReplay.Replay(Row(2021, "basic_a", 100_000_000m, 105_000_000m)).Generated);
        Assert.All(new[] { 2018, 2019, 2020 }, y => Assert.Equal(0m, SettlementReplay.Replay(Row(y, "track_1", 100_000_000m, 105_000_000m)).Earned));
    }

    [Theory]
    [InlineData(2018, 0.98)]
    [InlineData(2019, 1.0)]
    [InlineData(2020, 1.0)]
    [InlineData(2021, 0.98)]
    [InlineData(2022, 0.98)]
    [InlineData(2025, 0.98)]
    public void Savings_are_sequestered_by_when_the_payment_was_made(int year, double factor)
    {
        // ENHANCED (Track 3 in 2018): 10% savings on 100M; 2018-2020 share 75% x quality 0.9, from 2021 75% in full.
        var r = SettlementReplay.Replay(Row(year, year == 2018 ? "track_3" : "enhanced", 100_000_000m, 90_000_000m, msr: 0.02m));
        var rate = year <= 2020 ? 0.75m * 0.9m : 0.75m;
        Assert.Equal(10_000_000m * rate * (decimal)factor, r.Earned);
    }

    [Fact]
    public void A_track_not_settled_in_the_year_or_a_year_without_rules_is_not_computable_with_the_reason()
    {
        Assert.Contains("track", SettlementReplay.Replay(Row(2022, "track_1", 100m, 90m)).Reason, StringComparison.Ordinal);
        Assert.Contains("track", SettlementReplay.Replay(Row(2018, "basic_a", 100m, 90m)).Reason, StringComparison.Ordinal);
        Assert.Contains("2017", SettlementReplay.Replay(Row(2017, "track_1", 100m, 90m)).Reason, StringComparison.Ordinal);
        Assert.Contains("minsavperc", SettlementReplay.Replay(Row(2021, "enhanced", 100m, 90m)).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Track_2_losses_beyond_the_smallest_limit_depend_on_the_unpublished_year_in_the_track()
    {
        // Losses of 20% of the benchmark at 1 - 0.6 x 0.9 = 46% are 9.2% of the benchmark: above the 5% first-year limit.
        var r = SettlementReplay.Replay(Row(2018, "track_2", 100_000_000m, 120_000_000m, msr: 0.02m));
        Assert.False(r.Computable);
        Assert.Contains("year in the track", r.Reason, StringComparison.Ordinal);
        var small = SettlementReplay.Replay(Row(2018, "track_2", 100_000_000m, 105_000_000m, msr: 0.02m));
        Assert.Equal(-5_000_000m * 0.46m, small.Earned);
    }
}
