using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The admin API's study detail reads the stored spec and result as their types (the dashboard and CLI rely on them) and
/// serves both as the text the coordinator stored, byte for byte: nothing on the way re-spells a number, an escape or the
/// order of a field.
/// </summary>
public sealed class StudyDetailTests
{
    private const string Study = """
        id: detail-bytes
        algorithm: federated-sum
        purpose_of_use: HOPERAT
        min_nodes: 2
        max_nodes: 3
        rounds: 1
        phase_deadline_seconds: 30
        description: "A census, café & <b>bold</b>"
        parameters:
          year: "2020"
        """;

    private static readonly JsonSerializerOptions Relaxed = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Fact]
    public async Task The_detail_serves_the_stored_spec_and_result_byte_for_byte_and_reads_them_typed()
    {
        await using var coordinator = await InProcessCoordinator.Start("study-detail");
        using var http = new HttpClient { BaseAddress = coordinator.AdminUrl };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", coordinator.AdminToken);
        using (var created = await http.PostAsync("/v1/admin/studies", new StringContent(Study, Encoding.UTF8, "application/yaml")))
        {
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }

        // A completed census as an earlier version could have stored it: indented, escaped differently from the serializer.
        var counts = Enumerable.Range(0, LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex).Count).Select(i => (long)(20 + i)).ToArray();
        var published = JsonSerializer.Serialize(
            JsonDocument.Parse(FederatedSumAlgorithmResult(counts)).RootElement,
            Relaxed);
        string storedSpec;
        using (var db = TestStore.OpenWritable(Path.Combine(coordinator.DataDir, "coordinator.db")))
        {
            using var update = db.CreateCommand();
            update.CommandText = "UPDATE studies SET state='completed', result_json=$r WHERE study_id='detail-bytes'";
            update.Parameters.AddWithValue("$r", published);
            Assert.Equal(1, update.ExecuteNonQuery());
            using var select = db.CreateCommand();
            select.CommandText = "SELECT spec_json FROM studies WHERE study_id='detail-bytes'";
            storedSpec = (string)select.ExecuteScalar()!;
        }

        var body = await http.GetStringAsync("/v1/admin/studies/detail-bytes");
        Assert.Contains("\"spec\":" + storedSpec + ",", body, StringComparison.Ordinal);
        Assert.Contains("\"result\":" + published + "}", body, StringComparison.Ordinal);

        var store = (FederatedTwin.Coordinator.Storage.CoordinatorStore)coordinator.App.Services.GetService(typeof(FederatedTwin.Coordinator.Storage.CoordinatorStore))!;
        var detail = StudyDetail.Read(store, "detail-bytes")!;
        Assert.Equal("A census, café & <b>bold</b>", detail.Spec.Value.Description);
        var census = Assert.IsType<CountTableStudyResult>(detail.Result!.Value);
        Assert.Equal(counts.Select(c => (long?)c), census.Sums);
    }

    private static string FederatedSumAlgorithmResult(long[] counts) =>
        new FederatedSumAlgorithm().AggregateRound(
            new FederatedTwin.Protocol.Federation.StudySpec(new FederatedTwin.Protocol.Federation.StudyId("detail-bytes"), FederatedSumAlgorithm.AlgorithmName, new FederatedTwin.Protocol.Federation.PurposeOfUse("HOPERAT"), 2, 3, 1, 30) { Parameters = new Dictionary<string, string> { ["year"] = "2020" } },
            1,
            [counts]) is RoundOutcome.Finished f ? f.Result.ToJson() : throw new InvalidOperationException("the census did not finish");
}
