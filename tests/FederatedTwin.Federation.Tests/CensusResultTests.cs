using FederatedTwin.Analytics.Registry;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Census;
using System.Text.Json.Nodes;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>The federated sum's result as the coordinator stores and shows it: exact counts, so suppressed under the minimum cell size.</summary>
public sealed class CensusResultTests
{
    private static StudySpec Census(string? minimumCellSize = null)
    {
        var parameters = new Dictionary<string, string> { ["vector"] = LocalVectors.PatientsByAgeBandAndSex };
        if (minimumCellSize is not null)
        {
            parameters["min_cell_size"] = minimumCellSize;
        }

        return new StudySpec(new StudyId("census"), FederatedSumAlgorithm.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 1, 30) { Parameters = parameters };
    }

    private static long[] Counts(int smallCell, long value)
    {
        var counts = Enumerable.Range(0, 16).Select(i => 30L + (9 * i)).ToArray();
        counts[smallCell] = value;
        return counts;
    }

    private static CountTableStudyResult Published(RoundOutcome outcome) =>
        Assert.IsType<CountTableStudyResult>(Assert.IsType<RoundOutcome.Finished>(outcome).Result);

    [Fact]
    public void The_result_holds_no_count_under_the_minimum_and_no_margin_that_gives_one_away()
    {
        var result = Published(new FederatedSumAlgorithm().AggregateRound(Census(), 1, [Counts(15, 4)])); // four men of 90+
        var sums = result.Sums;
        Assert.Null(sums[15]);
        Assert.Equal(11, result.MinimumCellSize);
        Assert.Equal(4, result.Table.Suppressed);
        Assert.All(result.Table.Cells.Concat(sums), c => Assert.True(c is null || c >= 11));
    }

    [Fact]
    public void The_studys_own_minimum_cell_size_is_applied()
    {
        var result = Published(new FederatedSumAlgorithm().AggregateRound(Census("40"), 1, [Counts(0, 35)]));
        Assert.Null(result.Sums[0]);
        Assert.Throws<StudyFileException>(() => new FederatedSumAlgorithm().Validate(Census("0")));
    }

    [Fact]
    public void A_negative_count_fails_the_study_rather_than_show_anything()
    {
        var e = Assert.Throws<StudyAlgorithmException>(() => new FederatedSumAlgorithm().AggregateRound(Census(), 1, [Counts(3, -2)]));
        Assert.Contains("nothing is published", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_census_stored_with_its_exact_sums_before_is_shown_as_it_would_be_published_now()
    {
        var legacy = new JsonObject
        {
            ["algorithm"] = FederatedSumAlgorithm.AlgorithmName,
            ["vector"] = LocalVectors.PatientsByAgeBandAndSex,
            ["labels"] = new JsonArray([.. LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex).Select(l => (JsonNode)l)]),
            ["sums"] = new JsonArray([.. Counts(15, 4).Select(v => (JsonNode)v)]),
        };
        var shown = Assert.IsType<CountTableStudyResult>(StudyResult.Parse(FederatedSumAlgorithm.Legacy(Census(), legacy.ToJsonString())));
        Assert.Null(shown.Sums[15]);
        Assert.NotNull(shown.Table);
        const string model = """{"algorithm":"federated-glm","model":{"id":"glm/x/y"}}""";
        Assert.Same(model, FederatedSumAlgorithm.Legacy(Census() with { Algorithm = "federated-glm" }, model)); // other results as stored
    }
}
