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
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp\n", 1, null, "required columns missing: earnsaveloss")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss,n_ab\n", 1, "n_ab", "a column named twice")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,SECRET,1,1,0\n", 2, "n_ab", "not a number")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10.5,1,1,0\n", 2, "n_ab", "not a whole number")]
    [InlineData("performance_year,track,aco_id,n_ab,abtotbnchmk,abtotexp,earnsaveloss\n2018,track_1,A1,10,1,1,NA\n", 2, "earnsaveloss", "a value is required")]
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
/// The settlement arithmetic against what CMS paid: every ACO of performance year 2018 (548, Tracks 1, 1+, 2 and 3) and the
/// selected ACOs of 2019-2021, recomputed from the public use file's own inputs (issue 20).
/// </summary>
public sealed class PublishedSettlementTests
{
    [Fact]
    public void Every_settlement_of_2018_is_reproduced_within_the_rounding_of_the_published_quality_score()
    {
        var results = PublishedSettlementCheck.Recompute(PublicUseFile.Read(PublicUseFileTests.Puf("puf_py2018.csv")));
        Assert.Equal(548, results.Count);
        var misses = results.Where(r => !r.Matches).Select(r => $"{r.Published.AcoId} {r.Published.Track}: published {r.Published.EarnedSavingsLosses}, computed {r.Computed} ({r.Rule}; {r.NotReproducible})").ToList();
        Assert.True(misses.Count == 0, string.Join("\n", misses));

        // The tolerance is the rounding of a four-decimal quality score, not a fudge: the largest difference is a few dollars in ten thousand.
        Assert.All(results, r => Assert.True(Math.Abs(r.Difference!.Value) <= Math.Max(1m, Math.Abs(r.Published.EarnedSavingsLosses) * 0.0002m), $"{r.Published.AcoId}: {r.Difference}"));
        Assert.Contains(results, r => r.Published.AcoId == "A1409" && r.Rule.StartsWith("savings capped", StringComparison.Ordinal));
        Assert.Contains(results, r => r.Published.EarnedSavingsLosses < 0 && r.Published.DisasterAdjustment is not null);
    }

    [Fact]
    public void The_2019_to_2021_examples_are_reproduced_except_where_the_unpublished_revenue_limit_binds()
    {
        var results = PublishedSettlementCheck.Recompute(PublicUseFile.Read(PublicUseFileTests.Puf("puf_py2019_2021_examples.csv")));
        Assert.Equal(16, results.Count);
        var unexplained = results.Where(r => !r.Matches && r.NotReproducible is null).Select(r => $"{r.Published.PerformanceYear} {r.Published.AcoId} {r.Published.Track}: published {r.Published.EarnedSavingsLosses}, computed {r.Computed} ({r.Rule})").ToList();
        Assert.True(unexplained.Count == 0, string.Join("\n", unexplained));
        var limited = Assert.Single(results, r => !r.Matches);
        Assert.Equal(("basic_c", true), (limited.Published.Track, limited.Published.RevenueLossLimitApplied));
        Assert.Contains("revenue", limited.NotReproducible, StringComparison.Ordinal);
    }
}
