using System.Diagnostics;
using System.Net;
using System.Text;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Bulk;
using FederatedTwin.Node.Storage;
using static FederatedTwin.Node.Data.Tests.Sources.BulkTestSupport;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>The Bulk Data protocol as the client speaks it: pacing, retries, errors, cancel, tokens and the transport rule.</summary>
public sealed class BulkProtocolTests
{
    [Fact]
    public async Task Retry_After_is_honoured_and_429_is_retried_and_counted()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.TooManyRequestsOnPolls = 2;
        server.PollsBeforeReady = 2;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-429"));
        var clock = Stopwatch.StartNew();
        var progress = new Reports();

        var pull = await Puller(tokens).PullAsync(node, Source(server, types: ["Patient"]), new PullOptions(null, progress), CancellationToken.None);

        Assert.Equal(["33% done", "66% done"], progress.Seen.Where(p => p.Phase == "waiting").Select(p => p.ServerProgress)); // X-Progress, as the server sent it
        Assert.Contains(progress.Seen, p => p.Phase == "downloading" && p.FilesDone == 1 && p.FilesTotal == 1);
        Assert.Equal(2, server.TooManyRequestsSent);
        Assert.Equal(0, server.EarlyPolls); // never sooner than the server's Retry-After
        Assert.Equal(2, pull.Retries);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(3.5), $"{clock.Elapsed}: four waits of Retry-After: 1"); // 429, 429, 202, 202
        Assert.Equal(SampleLines("Patient"), pull.LinesRead);
    }

    [Fact]
    public async Task Transient_5xx_answers_are_retried()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.KickOffFailures.Enqueue((500, "transient", "database busy"));
        server.KickOffFailures.Enqueue((503, "exception", "overloaded"));
        server.StatusFailures.Enqueue((500, "transient", "try again"));
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-transient"));

        var pull = await Puller(tokens).PullAsync(node, Source(server, types: ["Patient"]), new PullOptions(null), CancellationToken.None);

        Assert.Equal(3, server.KickOffs);
        Assert.Equal(3, pull.Retries);
        Assert.True(pull.Complete);
    }

    [Fact]
    public async Task A_non_transient_error_ends_the_export_with_the_servers_message_and_the_watermark_stays()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-error"));
        var first = await Puller(tokens).PullAsync(node, Source(server, types: ["Patient"]), new PullOptions(null), CancellationToken.None);
        server.KickOffFailures.Enqueue((400, "not-supported", "_typeFilter is not supported by this server"));
        server.KickOffFailures.Enqueue((500, "exception", "never reached"));

        var e = await Assert.ThrowsAsync<BulkExportException>(() => Puller(tokens).PullAsync(node, Source(server, types: ["Patient"]), new PullOptions(null), CancellationToken.None));

        Assert.Contains("HTTP 400", e.Message, StringComparison.Ordinal);
        Assert.Contains("_typeFilter is not supported by this server", e.Message, StringComparison.Ordinal);
        Assert.Equal(2, server.KickOffs); // no retry of a 400
        var state = node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!;
        Assert.Equal(first.TransactionTime, state.Watermark);
        Assert.Equal("failed", state.LastStatus);
        var (action, detail) = AuditEntries(node)[^1];
        Assert.Equal("source_pull_failed", action);
        Assert.Contains("\"http_status\":400", detail, StringComparison.Ordinal);
        Assert.Contains("\"reason_code\":\"not-supported\"", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("_typeFilter is not", detail, StringComparison.Ordinal); // the server's text is for the console only
    }

    [Fact]
    public async Task A_refused_token_is_refreshed_once()
    {
        var (server, _) = await SampleServer();
        await using var _ = server;
        server.TokenValidator = t => t == "t-2";
        var tokens = new FixedTokens("t-1", "t-2");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-401"));

        var pull = await Puller(tokens).PullAsync(node, Source(server, types: ["Patient"]), new PullOptions(null), CancellationToken.None);

        Assert.True(pull.Complete);
        Assert.Equal(1, tokens.Refreshes);
        Assert.Equal(1, server.UnauthorizedSent);
    }

    [Fact]
    public async Task Files_get_no_token_when_the_manifest_does_not_require_one()
    {
        var server = await BulkDataTestServer.StartFromFolder(DataTestSupport.NdjsonSample);
        await using var _ = server;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-notoken"));

        await Puller(new FixedTokens("t-1")).PullAsync(node, Source(server, types: ["Patient", "Condition"]), new PullOptions(null), CancellationToken.None);

        Assert.Equal(2, server.FileAuthorizations.Count);
        Assert.All(server.FileAuthorizations, Assert.Null);
    }

    [Fact]
    public async Task Cancelling_sends_DELETE_to_the_status_URL_and_records_the_failure()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.PollsBeforeReady = 1000;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-cancel"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Puller(tokens).PullAsync(node, Source(server), new PullOptions(null), cancel.Token));

        Assert.Equal(1, server.Cancels);
        using var http = new HttpClient();
        using var status = new HttpRequestMessage(HttpMethod.Get, new Uri(server.FhirBase, "/status/1"));
        status.Headers.Authorization = new("Bearer", "t-1");
        using var after = await http.SendAsync(status);
        Assert.Equal(HttpStatusCode.NotFound, after.StatusCode);
        var state = node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!;
        Assert.Equal("failed", state.LastStatus);
        Assert.Contains("cancelled", state.LastDetail, StringComparison.Ordinal);
        Assert.Contains("\"reason_code\":\"cancelled\"", AuditEntries(node)[^1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_while_files_download_stops_the_downloads_and_the_ingest_and_sends_DELETE()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        server.PollsBeforeReady = 0;
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-cancel-dl"));
        using var cancel = new CancellationTokenSource();
        var progress = new CancelOn("ingesting", cancel);
        var clock = Stopwatch.StartNew();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Puller(tokens).PullAsync(node, Source(server), new PullOptions(null, progress), cancel.Token));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{clock.Elapsed}");
        Assert.Equal(1, server.Cancels);
        Assert.Null(node.Store.Read(c => SourceQueries.Get(c, "source:ehr"))!.Watermark);
        Assert.Contains("\"stage\":\"ingest\"", AuditEntries(node)[^1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_http_to_a_host_off_loopback_is_refused_before_any_token_or_connection()
    {
        var tokens = new FixedTokens("t-1");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("bulk-http"));
        var source = new DataSource("ehr", SourceKind.FhirBulk, "http://ehr.example.org/fhir/", "ftwin-node");

        var e = await Assert.ThrowsAsync<InsecureUrlException>(() => Puller(tokens).PullAsync(node, source, new PullOptions(null), CancellationToken.None));

        Assert.StartsWith(UrlPolicy.HttpsRequired, e.Message, StringComparison.Ordinal);
        Assert.Equal(0, tokens.Calls);
        Assert.Contains("\"reason_code\":\"https_required\"", AuditEntries(node).Single().Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_manifest_handing_out_plain_http_files_is_refused()
    {
        static byte[] Manifest(string url) => Encoding.UTF8.GetBytes($$"""{"transactionTime":"2026-01-01T00:00:00Z","request":"x","requiresAccessToken":true,"output":[{"type":"Patient","url":"{{url}}"}],"error":[]}""");

        // An https server's files over http, even on loopback: a downgrade.
        Assert.Throws<InsecureUrlException>(() => BulkManifest.Parse(Manifest("http://127.0.0.1:9/files/1/Patient.000.ndjson"), new Uri("https://ehr.example.org/fhir/")));
        // A loopback server's files on another host over http.
        Assert.Throws<InsecureUrlException>(() => BulkManifest.Parse(Manifest("http://files.example.org/1/Patient.000.ndjson"), new Uri("http://127.0.0.1:8080/fhir/")));
        // https elsewhere is fine (a storage host), and so is loopback http from a loopback server.
        Assert.Single(BulkManifest.Parse(Manifest("https://files.example.org/1/Patient.000.ndjson"), new Uri("https://ehr.example.org/fhir/")).Output);
        Assert.Single(BulkManifest.Parse(Manifest("http://127.0.0.1:8080/files/1/Patient.000.ndjson"), new Uri("http://127.0.0.1:8080/fhir/")).Output);
    }

    [Fact]
    public void Deleted_bundles_give_type_and_id_and_malformed_entries_are_counted_not_applied()
    {
        var into = new List<DeletedResource>();
        var bad = BulkSideFiles.ParseDeletedBundle("""{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"DELETE","url":"Condition/c-1"}},{"request":{"method":"PUT","url":"Condition/c-2"}},{"request":{"method":"DELETE","url":"Condition/c 3"}},{"request":{"method":"DELETE","url":"http://x/Condition/c-4"}},{"request":{"method":"DELETE","url":"Patient/p.5"}}]}"""u8, into);

        Assert.Equal(3, bad);
        Assert.Equal([new DeletedResource("Condition", "c-1"), new DeletedResource("Patient", "p.5")], into);
        Assert.Equal(1, BulkSideFiles.ParseDeletedBundle("{not json"u8, into));
        Assert.Equal(1, BulkSideFiles.ParseDeletedBundle("""{"resourceType":"Patient","id":"x"}"""u8, into));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Downloads_are_written_to_disk_only_when_asked_and_then_owner_only()
    {
        var (server, tokens) = await SampleServer();
        await using var _ = server;
        var save = Path.Combine(DataTestSupport.TempDir("bulk-save"), "downloads");
        var nodeDir = DataTestSupport.TempDir("bulk-save-node");
        using var node = NodeDirectory.OpenOrInitialize(nodeDir);
        var before = Directory.GetFiles(Path.GetTempPath(), "*.ndjson", SearchOption.TopDirectoryOnly).Length;

        await Puller(tokens).PullAsync(node, Source(server, types: ["Patient", "Condition"]), new PullOptions(null), CancellationToken.None);
        Assert.Empty(Directory.GetFiles(nodeDir, "*.ndjson", SearchOption.AllDirectories));
        Assert.Equal(before, Directory.GetFiles(Path.GetTempPath(), "*.ndjson", SearchOption.TopDirectoryOnly).Length);

        await Puller(tokens, Fast with { SaveTo = save }).PullAsync(node, Source(server, types: ["Patient", "Condition"]), new PullOptions(null), CancellationToken.None);
        Assert.Equal(File.ReadAllBytes(Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson")).Length, new FileInfo(Path.Combine(save, "Patient.000.ndjson")).Length);
        Assert.Equal(SampleLines("Condition"), File.ReadLines(Path.Combine(save, "Condition.000.ndjson")).Count());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(save, "Patient.000.ndjson")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(save));
    }

    /// <summary>Progress reports kept in order, on the reporting thread (Progress&lt;T&gt; would post them to the thread pool).</summary>
    private sealed class Reports : IProgress<PullProgress>
    {
        public List<PullProgress> Seen { get; } = [];

        public void Report(PullProgress value)
        {
            lock (Seen)
            {
                Seen.Add(value);
            }
        }
    }

    /// <summary>Cancels the pull when it reports a phase (Ctrl+C at that moment).</summary>
    private sealed class CancelOn(string phase, CancellationTokenSource cancel) : IProgress<PullProgress>
    {
        public void Report(PullProgress value)
        {
            if (value.Phase == phase)
            {
                cancel.Cancel();
            }
        }
    }
}
