using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;

namespace FederatedTwin.Analytics.Tests;

/// <summary>The federated sum's census as analysts see it: exact counts, so the minimum cell size is all that stands between a small count and them.</summary>
public class CountTableReleaseTests
{
    private static readonly IReadOnlyList<IReadOnlyList<string>> Census = LocalVectors.Dimensions(LocalVectors.PatientsByAgeBandAndSex);

    [Fact]
    public void A_census_cell_under_the_minimum_is_hidden_with_enough_complements_that_no_margin_gives_it_away()
    {
        var counts = Enumerable.Range(0, 16).Select(i => 40L + (7 * i)).ToArray();
        counts[15] = 4; // 90+ male
        var table = CountTableRelease.Publish(LocalVectors.PatientsByAgeBandAndSex, Census, counts);

        Assert.Null(table.Get(7, 1));
        Assert.Equal(["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85-89", "90+", "total"], table.Labels[0]);
        Assert.Equal(["female", "male", "total"], table.Labels[1]);

        // The analyst's arithmetic on every line through the cell finds a second unknown.
        var rowTotal = table.Get(7, 2);
        var columnTotal = table.Get(8, 1);
        Assert.True(rowTotal is null || table.Get(7, 0) is null);
        Assert.True(columnTotal is null || Enumerable.Range(0, 7).Any(a => table.Get(a, 1) is null));
        Assert.Equal(4, table.SuppressedCount); // the least a single small cell costs in two dimensions: a 2×2 rectangle
        Assert.Equal(counts.Sum(), table.Get(8, 2));
    }

    [Fact]
    public void Zero_is_a_small_count_like_any_other()
    {
        var counts = Enumerable.Repeat(100L, 16).ToArray();
        counts[14] = 0; // no woman of 90+
        var table = CountTableRelease.Publish(LocalVectors.PatientsByAgeBandAndSex, Census, counts);
        Assert.Null(table.Get(7, 0));
    }

    [Fact]
    public void A_census_of_large_cells_is_shown_whole()
    {
        var counts = Enumerable.Range(0, 16).Select(i => 50L + i).ToArray();
        var table = CountTableRelease.Publish(LocalVectors.PatientsByAgeBandAndSex, Census, counts, minimumCellSize: 11);
        Assert.Equal(0, table.SuppressedCount);
        Assert.Equal(counts[3], table.Get(1, 1));
    }

    [Fact]
    public void The_minimum_cell_size_is_the_studys_and_at_least_one()
    {
        Assert.Equal(11, CountTableRelease.StudyMinimumCellSize(null));
        Assert.Equal(20, CountTableRelease.StudyMinimumCellSize(new Dictionary<string, string> { ["min_cell_size"] = "20" }));
        Assert.Equal("parameters.min_cell_size", Assert.Throws<StudyFileException>(() => CountTableRelease.StudyMinimumCellSize(new Dictionary<string, string> { ["min_cell_size"] = "0" })).Field);
    }
}
