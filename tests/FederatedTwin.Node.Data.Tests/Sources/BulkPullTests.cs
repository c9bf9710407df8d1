using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Storage;
using static FederatedTwin.Node.Data.Tests.Sources.BulkTestSupport;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>Bulk Data pulls into a real node store from the Bulk Data test server on loopback.</summary>
public sealed class BulkPullTests
{
    [Fact]
    public async Task A_full_system_export_ingested_equals_a_folder_ingest_of_the_same_data_and_leaves_no_identifiers()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        var folderDir = DataTestSupport.TempDir("bulk-folder");
        var pullDir = DataTestSupport.TempDir("bulk-pull");
        using var folderNode = NodeDirectory.OpenOrInitialize(folderDir);
        using var pullNode = NodeDirectory.OpenOrInitialize(pullDir);

        var folder = DataTestSupport.Ingest(folderNode, DataTestSupport.NdjsonSample);
        var pull = await Puller(tokens).PullAsync(pullNode, Source(server), new PullOptions(null), CancellationToken.None);

        Assert.True(pull.Complete);
        Assert.Equal(SampleLines(), pull.LinesRead);
        Assert.Equal(folder.LinesRead, pull.LinesRead);
        Assert.Equal(folder.Accepted, pull.Accepted);
        Assert.Equal(folder.Quarantined, pull.Quarantined);
        Assert.Equal(Counts(folderNode), Counts(pullNode));
        Assert.True(Counts(pullNode).Patients > 0);
        Assert.True(server.GzipResponses > 0, "the default handler asks for gzip and the server sent it");
        Assert.All(server.FileAuthorizations, a => Assert.Equal("Bearer t-1", a)); // requiresAccessToken true

        // The watermark is the manifest's transactionTime; the audit says what was pulled, without a status or file URL.
        var state = pullNode.Store.Read(c => SourceQueries.Get(c, "source:ehr"));
        Assert.Equal(pull.TransactionTime, state!.Watermark);
        Assert.Equal("succeeded", state.LastStatus);
        var (action, detail) = Assert.Single(AuditEntries(pullNode));
        Assert.Equal("source_pulled", action);
        using var audited = JsonDocument.Parse(detail);
        Assert.Equal(pull.LinesRead, audited.RootElement.GetProperty("lines_read").GetInt64());
        Assert.Equal(pull.TransactionTime, audited.RootElement.GetProperty("transaction_time").GetString());
        Assert.DoesNotContain("/files/", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("/status/", detail, StringComparison.Ordinal);

        pullNode.Store.Read(c => c.Execute("PRAGMA wal_checkpoint(TRUNCATE)"));
        var (exitCode, report) = PhiScan.Run(pullDir, Directory.GetFiles(DataTestSupport.NdjsonSample, "*.ndjson"));
        Assert.True(exitCode == 0, report);
    }

    [Fact]
    public async Task Types_select_what_is_exported_and_the_JSON_summary_has_the_required_keys()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.Update("""{"resourceType":"Patient","id":"bad-1","birthDate":"1999-13-45"}""");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-types"));

        var filtered = Source(server, types: ["Patient", "Condition"]) with { TypeFilter = "Condition?clinical-status=active&_lastUpdated=gt2019-01-01" };
        var pull = await Puller(tokens).PullAsync(node, filtered, new PullOptions(null), CancellationToken.None);

        Assert.Contains("_type=Patient%2CCondition", server.LastKickOffQuery, StringComparison.Ordinal);
        // _typeFilter goes as one parameter, its own "?", "&" and "=" escaped (Bulk Data IG v2.0.0: a FHIR search per parameter);
        // this test server does not apply it, so the counts below are of the types alone.
        Assert.Equal(filtered.TypeFilter, System.Web.HttpUtility.ParseQueryString(server.LastKickOffQuery!)["_typeFilter"]);
        Assert.Equal(SampleLines("Patient", "Condition") + 1, pull.LinesRead);
        Assert.Equal(1, pull.Quarantined);

        // The quarantine names a download by "bulk:" and a keyed hash of its URL, never the URL.
        var source = node.Store.Read(c => c.QuerySingle<string>("SELECT source_hash FROM quarantine"));
        Assert.Matches("^bulk:[0-9a-f]{32}$", source);
        Assert.Equal(2, pull.Files);
        var json = pull.ToJson();
        foreach (var key in new[] { "files", "lines_read", "accepted", "quarantined", "transaction_time", "since", "retries", "seconds" })
        {
            Assert.True(json.ContainsKey(key), key);
        }
    }

    [Fact]
    public async Task A_Group_export_brings_only_the_groups_patients()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        var patients = server.Of("Patient").Select(p => JsonDocument.Parse(p).RootElement.GetProperty("id").GetString()!).ToList();
        server.Groups["cohort-a"] = patients.Take(3).ToList();
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-group"));

        var pull = await Puller(tokens).PullAsync(node, Source(server, group: "cohort-a"), new PullOptions(null), CancellationToken.None);

        Assert.Equal(3, Counts(node).Patients);
        Assert.True(pull.LinesRead > 3 && pull.LinesRead < SampleLines(), $"{pull.LinesRead} lines");
        Assert.Equal(0, pull.Quarantined); // no Organization or Practitioner: they are not in the patients' compartment
    }

    [Fact]
    public async Task The_second_pull_sends_since_the_first_transaction_time_and_ingests_only_the_changes()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-since"));
        var puller = Puller(tokens);
        var first = await puller.PullAsync(node, Source(server), new PullOptions(null), CancellationToken.None);
        var before = Counts(node);

        // One Condition is sent again (its lastUpdated moves, its content does not), and a new one arrives after the first export.
        var conditions = server.Of("Condition");
        server.Update(conditions[0]);
        var id = JsonDocument.Parse(conditions[1]).RootElement.GetProperty("id").GetString()!;
        server.Update(conditions[1].Replace(id, "added-condition-1", StringComparison.Ordinal));

        var watermark = node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!.Watermark!;
        var second = await puller.PullAsync(node, Source(server), new PullOptions(DateTimeOffset.Parse(watermark, System.Globalization.CultureInfo.InvariantCulture)), CancellationToken.None);

        // Instants compare as instants: the text sent may drop trailing zeros of the server's fraction (".660Z" as ".66Z").
        var transaction = DateTimeOffset.Parse(first.TransactionTime!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(transaction, DateTimeOffset.Parse(second.Since!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(transaction, DateTimeOffset.Parse(System.Web.HttpUtility.ParseQueryString(server.LastKickOffQuery!)["_since"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, second.LinesRead);
        Assert.Equal(before.Entries + 1, Counts(node).Entries);
        Assert.Equal(second.TransactionTime, node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!.Watermark);
    }

    /// <summary>Fails on the i22-bulk branch until the pipeline's deletion support is merged (today a non-empty list throws "TEMP seam").</summary>
    [Fact]
    public async Task Resources_the_export_reports_deleted_disappear_from_the_store()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-deleted"));
        var puller = Puller(tokens);
        var first = await puller.PullAsync(node, Source(server), new PullOptions(null), CancellationToken.None);
        var before = Counts(node);
        var gone = server.Of("Condition").Take(3).Select(c => JsonDocument.Parse(c).RootElement.GetProperty("id").GetString()!).ToList();
        foreach (var id in gone)
        {
            server.Delete("Condition", id);
        }

        var second = await puller.PullAsync(node, Source(server), new PullOptions(DateTimeOffset.Parse(first.TransactionTime!, System.Globalization.CultureInfo.InvariantCulture)), CancellationToken.None);

        Assert.Equal(3, second.Deleted);
        Assert.Equal(before.Entries - 3, Counts(node).Entries);
    }

    [Fact]
    public async Task Error_files_are_summarised_by_severity_and_code_and_their_text_is_kept_nowhere()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        const string secret = "Patient Zelda Quixote-Marsh MRN 99812 could not be exported";
        server.ErrorOutcomes.Add($$"""{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"{{secret}}"}]}""");
        server.ErrorOutcomes.Add($$$"""{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"processing","diagnostics":"{{{secret}}} again"},{"severity":"warning","code":"incomplete","details":{"text":"{{{secret}}}"}}]}""");
        server.ErrorOutcomes.Add("not json at all " + secret);
        var dir = DataTestSupport.TempDir("bulk-errors");
        using var node = NodeDirectory.OpenOrInitialize(dir);

        var pull = await Puller(tokens).PullAsync(node, Source(server), new PullOptions(null), CancellationToken.None);

        Assert.Equal(2, pull.ExportErrors["error:processing"]);
        Assert.Equal(1, pull.ExportErrors["warning:incomplete"]);
        Assert.Equal(1, pull.ExportErrors["malformed"]);
        var audited = AuditEntries(node).Single().Detail;
        Assert.Contains("\"error:processing\":2", audited, StringComparison.Ordinal);
        node.Store.Read(c => c.Execute("PRAGMA wal_checkpoint(TRUNCATE)"));
        var stored = string.Join("\n", Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        Assert.DoesNotContain("Zelda", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("99812", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("Zelda", JsonSerializer.Serialize(pull.ToJson()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_split_over_several_parts_and_gzip_or_not_give_the_same_store()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.LinesPerFile = 400;
        using var gzipped = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-gz"));
        using var plain = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-plain"));

        var a = await Puller(tokens).PullAsync(gzipped, Source(server), new PullOptions(null), CancellationToken.None);
        var gzipResponses = server.GzipResponses;
        server.Gzip = false;
        var b = await Puller(tokens).PullAsync(plain, Source(server), new PullOptions(null), CancellationToken.None);

        Assert.True(a.Files > 13, $"{a.Files} files"); // 13 types, the big ones in parts of 400 lines
        Assert.Equal(a.Files, gzipResponses);
        Assert.Equal(a.Files, server.GzipResponses); // none more for the second pull
        Assert.Equal(SampleLines(), a.LinesRead);
        Assert.Equal(a.LinesRead, b.LinesRead);
        Assert.Equal(a.Bytes, b.Bytes);
        Assert.Equal(Counts(gzipped), Counts(plain));
    }

    [Fact]
    public async Task A_500_on_a_files_first_download_is_retried_and_a_broken_download_resumes_without_loss_or_duplication()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.FailFirstDownloadOf = "Condition.000.ndjson";
        server.BreakMidwayOf = "Procedure.000.ndjson";
        var reference = DataTestSupport.TempDir("bulk-ref");
        using var referenceNode = NodeDirectory.OpenOrInitialize(reference);
        var folder = DataTestSupport.Ingest(referenceNode, DataTestSupport.NdjsonSample);
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-retry"));

        var pull = await Puller(tokens).PullAsync(node, Source(server), new PullOptions(null), CancellationToken.None);

        Assert.Equal(2, server.Downloads["Condition.000.ndjson"]);
        Assert.Equal(2, server.Downloads["Procedure.000.ndjson"]);
        Assert.True(pull.Complete);
        Assert.True(pull.Retries >= 2, $"{pull.Retries} retries");
        Assert.Equal(folder.LinesRead, pull.LinesRead);
        Assert.Equal(folder.Quarantined, pull.Quarantined); // a line cut in two would be quarantined twice
        Assert.Equal(Counts(referenceNode), Counts(node));
    }

    [Fact]
    public async Task A_file_that_keeps_failing_fails_alone_and_the_watermark_stays()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.AlwaysFail = "Condition.000.ndjson";
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-failfile"));

        var pull = await Puller(tokens, Fast with { MaxRetries = 2 }).PullAsync(node, Source(server), new PullOptions(null), CancellationToken.None);

        Assert.False(pull.Complete);
        Assert.Equal(3, server.Downloads["Condition.000.ndjson"]);
        Assert.Equal(SampleLines() - SampleLines("Condition"), pull.LinesRead);
        var state = node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!;
        Assert.Null(state.Watermark);
        Assert.Equal("failed", state.LastStatus);
        var failed = AuditEntries(node).Single();
        Assert.Equal("source_pull_failed", failed.Action);
        Assert.Contains("\"reason_code\":\"download_failed\"", failed.Detail, StringComparison.Ordinal);
        var ingestAudit = node.Store.Read(c => c.QuerySingle<string>("SELECT detail FROM audit_log WHERE action='ingest_run'"));
        Assert.Contains("\"download_failed\":1", ingestAudit, StringComparison.Ordinal);
    }
}
