using System.Text.Json.Nodes;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Smart;
using FederatedTwin.Node.Storage;
using static FederatedTwin.Node.Data.Tests.Sources.BulkTestSupport;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>
/// `ftwin node pull` as a hospital runs it: a real ftwin process, the node's sealed SMART key, the SMART authorization test double
/// verifying its client assertions and the Bulk Data test server serving the export, both on one loopback host.
/// </summary>
public sealed class NodePullCliTests
{
    private const string ClientId = "ftwin-node";

    [Fact]
    public async Task A_pull_authorizes_with_the_nodes_SMART_key_ingests_the_export_and_then_asks_only_since_its_transaction_time()
    {
        var dir = DataTestSupport.TempDir("pull-cli");
        var auth = new SmartAuthState();
        await using var server = await BulkDataTestServer.StartFromFolder(DataTestSupport.NdjsonSample, auth);
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        using (var key = SmartClientKey.Create(node))
        {
            auth.RegisterClient(ClientId, key.JwksJson());
        }

        var (code, output) = DataTestSupport.Ftwin("node", "pull", "--node-dir", dir, "--fhir-base", server.FhirBase.AbsoluteUri, "--client-id", ClientId, "--since", "last", "--json");
        Assert.True(code == 0, output);
        Assert.Contains("no earlier successful pull of this source: pulling everything", output, StringComparison.Ordinal);
        var first = Json(output);
        foreach (var field in new[] { "files", "lines_read", "accepted", "quarantined", "transaction_time", "since", "retries", "seconds" })
        {
            Assert.True(first.ContainsKey(field), field);
        }

        Assert.Equal(SampleLines(), (long)first["lines_read"]!);
        Assert.Null(first["since"]);
        Assert.NotNull((string?)first["transaction_time"]);
        Assert.True(auth.TokensIssued >= 1);
        Assert.Empty(auth.Refusals);
        Assert.Equal(0, server.UnauthorizedSent);

        // One resource changes on the server: `--since last` asks from the first export's transaction time and reads only it.
        var condition = server.Of("Condition")[0];
        server.Update(condition);
        (code, output) = DataTestSupport.Ftwin("node", "pull", "--node-dir", dir, "--fhir-base", server.FhirBase.AbsoluteUri, "--client-id", ClientId, "--since", "last", "--json");
        Assert.True(code == 0, output);
        var second = Json(output);
        Assert.Equal(1L, (long)second["lines_read"]!);
        // The same instant (its text may differ in trailing zeros of the fraction: FHIR instants compare as instants).
        var transaction = Instant((string)first["transaction_time"]!);
        Assert.Equal(transaction, Instant((string)second["since"]!));
        var sent = System.Web.HttpUtility.ParseQueryString(server.LastKickOffQuery!)["_since"];
        Assert.Equal(transaction, Instant(sent!));

        using var reopened = NodeDirectory.OpenOrInitialize(dir);
        var pulled = AuditEntries(reopened).Where(e => e.Action == "source_pulled").ToList();
        Assert.Equal(2, pulled.Count);
        var state = reopened.Store.Read(c => SourceQueries.All(c)).Single();
        Assert.Equal((string?)second["transaction_time"], state.Watermark);
        reopened.Store.Read(c => Dapper.SqlMapper.Execute(c, "PRAGMA wal_checkpoint(TRUNCATE)"));
        var (exitCode, report) = PhiScan.Run(dir, Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson"));
        Assert.True(exitCode == 0, report);
    }

    [Fact]
    public async Task A_client_the_EHR_does_not_know_is_refused_the_pull_fails_and_the_watermark_stays()
    {
        var dir = DataTestSupport.TempDir("pull-cli-refused");
        var auth = new SmartAuthState();
        await using var server = await BulkDataTestServer.StartFromFolder(DataTestSupport.NdjsonSample, auth);
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        using (var key = SmartClientKey.Create(node))
        {
            auth.RegisterClient(ClientId, key.JwksJson());
        }

        var (code, output) = DataTestSupport.Ftwin("node", "pull", "--node-dir", dir, "--fhir-base", server.FhirBase.AbsoluteUri, "--client-id", "someone-else", "--json");
        Assert.True(code == 1, output);
        Assert.Contains("invalid_client", output, StringComparison.Ordinal);
        Assert.Equal(0, server.KickOffs); // no export without a token

        using var reopened = NodeDirectory.OpenOrInitialize(dir);
        var failed = AuditEntries(reopened).Single(e => e.Action == "source_pull_failed");
        Assert.Contains("\"token\"", failed.Detail, StringComparison.Ordinal);
        var state = reopened.Store.Read(c => SourceQueries.All(c)).Single();
        Assert.Equal("failed", state.LastStatus);
        Assert.Null(state.Watermark);

        // A directory that is not a node is refused, not created; a plain-http base off loopback is refused before any request.
        var missing = Path.Combine(dir, "missing");
        Assert.Equal(2, DataTestSupport.Ftwin("node", "pull", "--node-dir", missing, "--fhir-base", server.FhirBase.AbsoluteUri, "--client-id", ClientId).ExitCode);
        Assert.False(Directory.Exists(missing));
        (code, output) = DataTestSupport.Ftwin("node", "pull", "--node-dir", dir, "--fhir-base", "http://fhir.example.org/r4", "--client-id", ClientId);
        Assert.True(code == 2, output);
        Assert.Contains("https", output, StringComparison.Ordinal);
    }

    private static DateTimeOffset Instant(string text) => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture);

    private static JsonObject Json(string output) =>
        JsonNode.Parse(output.Split('\n').Single(l => l.StartsWith('{')))!.AsObject();
}
