using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>The "sources" of node-config.json (issue 22): strict validation naming the file and the field.</summary>
public sealed class DataSourceConfigurationTests
{
    private const string Fhir = """{"name":"epic","kind":"fhir-bulk","fhir_base":"https://fhir.example.org/r4","client_id":"ftwin-node","group":"g-1","types":["Patient","Condition"],"type_filter":"Observation?category=laboratory","every":"PT6H"}""";
    private const string Omop = """{"name":"cdm","kind":"omop","omop_connection":"Host=db.example.org;Database=omop;Username=ftwin","omop_schema":"cdm","every":"P1D"}""";

    [Fact]
    public void Sources_are_read_and_written_back_unchanged_beside_the_staffed_beds()
    {
        var dir = DataTestSupport.TempDir("sources-config");
        var config = NodeConfiguration.Parse($$"""{"staffed_beds":120,"sources":[{{Fhir}},{{Omop}}]}""", "node-config.json");
        Assert.Equal(120, config.StaffedBeds);
        Assert.Equal(["epic", "cdm"], config.Sources.Select(s => s.Name));
        var epic = config.Source("epic")!;
        Assert.Equal((SourceKind.FhirBulk, TimeSpan.FromHours(6), ExportLevel.Group), (epic.Kind, epic.Every!.Value, epic.Level));
        Assert.Equal(["Patient", "Condition"], epic.Types!);
        Assert.Equal(TimeSpan.FromDays(1), config.Source("cdm")!.Every);

        config.Save(dir);
        var again = NodeConfiguration.Load(dir);
        Assert.Equal(120, again.StaffedBeds);
        Assert.Equal(config.Sources.Select(s => SourceConfiguration.ToJson(s).ToJsonString()), again.Sources.Select(s => SourceConfiguration.ToJson(s).ToJsonString()));

        // `ftwin node configure --staffed-beds` keeps the sources.
        (again with { StaffedBeds = 90 }).Save(dir);
        Assert.Equal(2, NodeConfiguration.Load(dir).Sources.Count);
    }

    [Theory]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","colour":"blue"}""", "sources[0]: unknown field 'colour'")]
    [InlineData("""{"name":"Epic!","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c"}""", "sources[0].name")]
    [InlineData("""{"name":"epic","kind":"hl7v2"}""", "sources[0].kind: 'hl7v2'")]
    [InlineData("""{"name":"epic","fhir_base":"https://f.example.org"}""", "sources[0].kind is required")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"http://fhir.example.org","client_id":"c"}""", "sources[0].fhir_base: https required")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org"}""", "sources[0].client_id is required")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","types":["patient"]}""", "sources[0].types: 'patient'")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","every":"PT10M"}""", "sources[0].every: PT10M is shorter than the minimum of 15 minutes")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","every":"P1M"}""", "sources[0].every: 'P1M' is not an ISO 8601 duration")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","every":6}""", "sources[0].every must be a string")]
    [InlineData("""{"name":"epic","kind":"fhir-bulk","fhir_base":"https://f.example.org","client_id":"c","omop_schema":"cdm"}""", "sources[0]: unknown field 'omop_schema' for a fhir-bulk source")]
    [InlineData("""{"name":"cdm","kind":"omop","omop_connection":"Host=db;Database=omop;Username=u","omop_schema":"cdm; DROP"}""", "sources[0].omop_schema is required")]
    [InlineData("""{"name":"cdm","kind":"omop","omop_connection":"Host=db;Username=u","omop_schema":"cdm"}""", "sources[0].omop_connection needs Database=")]
    [InlineData("""{"name":"cdm","kind":"omop","omop_connection":"Host=db;Database=omop;Username=u;Password=hunter2","omop_schema":"cdm"}""", "sources[0].omop_connection holds a Password: node-config.json keeps no secrets; use PGPASSFILE")]
    public void A_bad_source_is_refused_naming_the_file_and_the_field(string source, string expected)
    {
        var e = Assert.Throws<NodeConfigurationException>(() => NodeConfiguration.Parse($$"""{"sources":[{{source}}]}""", "/nodes/a/node-config.json"));
        Assert.StartsWith("/nodes/a/node-config.json: ", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_are_unique_http_is_accepted_on_loopback_only_and_schedules_read_as_durations()
    {
        var twice = Assert.Throws<NodeConfigurationException>(() => NodeConfiguration.Parse($$"""{"sources":[{{Omop}},{{Omop}}]}""", "c.json"));
        Assert.Contains("sources[1].name: 'cdm' is configured twice", twice.Message, StringComparison.Ordinal);
        Assert.Single(NodeConfiguration.Parse("""{"sources":[{"name":"local","kind":"fhir-bulk","fhir_base":"http://127.0.0.1:8080/fhir","client_id":"c"}]}""", "c.json").Sources);
        Assert.Equal(TimeSpan.FromMinutes(15), SourceConfiguration.ParseEvery("PT15M", "every"));
        Assert.Equal(TimeSpan.FromHours(36), SourceConfiguration.ParseEvery("P1DT12H", "every"));
        Assert.Equal(TimeSpan.FromDays(7), SourceConfiguration.ParseEvery("P1W", "every"));
        Assert.Equal("P1DT12H", SourceConfiguration.FormatEvery(TimeSpan.FromHours(36)));
        foreach (var bad in new[] { "P", "PT", "6H", "P1DT", "PT1H30", "-PT1H", "P1Y" })
        {
            Assert.Throws<NodeConfigurationException>(() => SourceConfiguration.ParseEvery(bad, "every"));
        }
    }
}

/// <summary>`ftwin node source add|list|remove`, as an operator runs them (the built ftwin beside the tests).</summary>
public sealed class NodeSourceCommandTests
{
    [Fact]
    public void A_node_directory_that_does_not_exist_is_refused_and_not_created()
    {
        var dir = Path.Combine(DataTestSupport.TempDir("source-nodir"), "absent");
        var (code, output) = DataTestSupport.Ftwin("node", "source", "add", "fhir", "--node-dir", dir, "--name", "epic", "--fhir-base", "https://f.example.org", "--client-id", "c");
        Assert.Equal(2, code);
        Assert.Contains("is not a node directory", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
        Assert.Equal(2, DataTestSupport.Ftwin("node", "source", "list", "--node-dir", dir).ExitCode);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Sources_are_added_listed_and_removed_audited_without_credentials()
    {
        var dir = DataTestSupport.TempDir("source-cli");
        using (NodeDirectory.OpenOrInitialize(dir))
        {
        }

        var fhir = DataTestSupport.Ftwin("node", "source", "add", "fhir", "--node-dir", dir, "--name", "epic", "--fhir-base", "https://fhir.example.org/r4", "--client-id", "ftwin-node",
            "--group", "g-1", "--type", "Patient,Condition", "--every", "PT6H");
        Assert.True(fhir.ExitCode == 0, fhir.Output);
        var omop = DataTestSupport.Ftwin("node", "source", "add", "omop", "--node-dir", dir, "--name", "cdm", "--connection", "Host=db.example.org;Database=omop;Username=etl_reader", "--schema", "cdm", "--every", "P1D");
        Assert.True(omop.ExitCode == 0, omop.Output);

        // Refusals: a password, plain http off loopback, a schedule under 15 minutes, a name taken; none changes the file.
        var file = File.ReadAllText(Path.Combine(dir, NodeConfiguration.FileName));
        var password = DataTestSupport.Ftwin("node", "source", "add", "omop", "--node-dir", dir, "--name", "cdm2", "--connection", "Host=db;Database=omop;Username=u;Password=hunter2", "--schema", "cdm");
        Assert.Equal(2, password.ExitCode);
        Assert.Contains("use PGPASSFILE (a PostgreSQL password file) or PGPASSWORD", password.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", password.Output, StringComparison.Ordinal);
        var http = DataTestSupport.Ftwin("node", "source", "add", "fhir", "--node-dir", dir, "--name", "plain", "--fhir-base", "http://fhir.example.org", "--client-id", "c");
        Assert.Equal(2, http.ExitCode);
        Assert.Contains("https required", http.Output, StringComparison.Ordinal);
        var often = DataTestSupport.Ftwin("node", "source", "add", "fhir", "--node-dir", dir, "--name", "often", "--fhir-base", "https://f.example.org", "--client-id", "c", "--every", "PT5M");
        Assert.Equal(2, often.ExitCode);
        Assert.Contains("--every: PT5M is shorter than the minimum of 15 minutes", often.Output, StringComparison.Ordinal);
        var taken = DataTestSupport.Ftwin("node", "source", "add", "fhir", "--node-dir", dir, "--name", "epic", "--fhir-base", "https://f.example.org", "--client-id", "c");
        Assert.Equal(2, taken.ExitCode);
        Assert.Contains("a source named 'epic' is already configured", taken.Output, StringComparison.Ordinal);
        Assert.Equal(file, File.ReadAllText(Path.Combine(dir, NodeConfiguration.FileName)));

        // A pull happened: list shows it with its counts and watermark, and the next run from its start.
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            node.Store.Write((c, t) =>
            {
                SourceQueries.Succeeded(c, t, "source:epic", "2026-06-15T09:00:00Z", "2026-06-15T09:00:05Z",
                    System.Text.Json.JsonSerializer.Serialize(new PullSummary(3, 120, 118, 2, "2026-06-15T09:00:00Z", null, 0, 4.5) { Deleted = 1 }.ToJson()));
                return 0;
            });
        }

        var list = DataTestSupport.Ftwin("node", "source", "list", "--node-dir", dir, "--json");
        Assert.True(list.ExitCode == 0, list.Output);
        var sources = JsonNode.Parse(list.Output)!["sources"]!.AsArray();
        Assert.Equal(["epic", "cdm"], sources.Select(s => (string)s!["name"]!));
        var epic = sources[0]!;
        Assert.Equal("fhir-bulk", (string)epic["kind"]!);
        Assert.Equal("https://fhir.example.org/r4", (string)epic["where"]!);
        Assert.Equal("PT6H", (string)epic["every"]!);
        Assert.Equal("succeeded", (string)epic["last_status"]!);
        Assert.Equal(118, (long)epic["last_counts"]!["accepted"]!);
        Assert.Equal(1, (long)epic["last_counts"]!["deleted"]!);
        Assert.Equal("2026-06-15T09:00:00Z", (string)epic["watermark"]!);
        Assert.Equal("2026-06-15T15:00:05Z", (string)epic["next_run"]!);
        Assert.Equal("db.example.org/omop (cdm)", (string)sources[1]!["where"]!);
        Assert.Null(sources[1]!["last_pull_at"]);
        Assert.DoesNotContain("etl_reader", list.Output, StringComparison.Ordinal);

        var removed = DataTestSupport.Ftwin("node", "source", "remove", "--node-dir", dir, "--name", "epic");
        Assert.True(removed.ExitCode == 0, removed.Output);
        Assert.Equal(2, DataTestSupport.Ftwin("node", "source", "remove", "--node-dir", dir, "--name", "epic").ExitCode);
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            Assert.Equal(["cdm"], NodeConfiguration.Load(dir).Sources.Select(s => s.Name));
            Assert.Null(node.Store.Read(c => SourceQueries.Get(c, "source:epic"))); // its watermark forgotten

            var audit = node.Store.Read(c => c.Query<(string Action, string Detail)>("SELECT action, detail FROM audit_log WHERE action IN ('source_added', 'source_removed') ORDER BY seq").ToList());
            Assert.Equal(["source_added", "source_added", "source_removed"], audit.Select(a => a.Action));
            Assert.Equal("https://fhir.example.org/r4", (string)JsonNode.Parse(audit[0].Detail)!["fhir_base"]!);
            Assert.Equal("db.example.org", (string)JsonNode.Parse(audit[1].Detail)!["host"]!);
            Assert.True((bool)JsonNode.Parse(audit[2].Detail)!["pull_state_forgotten"]!);
            Assert.DoesNotContain(audit, a => a.Detail.Contains("etl_reader", StringComparison.Ordinal) || a.Detail.Contains("ftwin-node", StringComparison.Ordinal));
        }
    }
}

/// <summary>
/// `ftwin node run`'s host: the scheduler is a hosted service with the real pullers registered, pulling a configured Bulk Data source
/// from the SMART and Bulk Data test doubles on loopback; /v1/status carries the sources.
/// </summary>
public sealed class SourceSchedulerHostTests
{
    [Fact]
    public async Task The_running_node_pulls_its_scheduled_source_through_SMART_and_shows_it_on_the_status_API()
    {
        var dir = DataTestSupport.TempDir("scheduler-host");
        var auth = new Sources.SmartAuthState();
        await using var server = await Sources.BulkDataTestServer.StartFromFolder(DataTestSupport.NdjsonSample, auth);
        string token;
        using (var created = NodeDirectory.OpenOrInitialize(dir))
        using (var key = FederatedTwin.Node.Sources.Smart.SmartClientKey.Create(created))
        {
            token = created.CreatedAdminToken!;
            auth.RegisterClient("ftwin-node", key.JwksJson());
        }

        new NodeConfiguration((int?)null)
        {
            Sources =
            [
                new DataSource("ehr", SourceKind.FhirBulk, server.FhirBase.AbsoluteUri, "ftwin-node", Every: TimeSpan.FromHours(6)),
                new DataSource("cdm", SourceKind.Omop, OmopConnection: "Host=127.0.0.1;Port=1;Database=omop;Username=reader", OmopSchema: "cdm", Every: TimeSpan.FromHours(1)),
            ],
        }.Save(dir);
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }

        var app = NodeHost.Build([], o =>
        {
            o.NodeDir = dir;
            o.AdminUrl = $"http://127.0.0.1:{port}";
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            JsonArray? sources = null;
            for (var i = 0; i < 300 && (sources is null || sources.Any(s => s?["last_status"] is null)); i++)
            {
                await Task.Delay(100);
                sources = JsonNode.Parse(await http.GetStringAsync("/v1/status"))!["sources"]!.AsArray();
            }

            var ehr = sources!.Single(s => (string?)s!["name"] == "ehr")!;
            Assert.Equal("succeeded", (string?)ehr["last_status"]);
            Assert.NotNull((string?)ehr["watermark"]);
            Assert.NotNull(ehr["next_run"]);
            Assert.True(auth.TokensIssued >= 1);

            // The OMOP source's database is not there: a failed pull of a registered puller (not "no puller"), retried later.
            var cdm = sources!.Single(s => (string?)s!["name"] == "cdm")!;
            Assert.Equal("failed", (string?)cdm["last_status"]);
            Assert.NotNull(cdm["next_run"]);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        using var node = NodeDirectory.OpenOrInitialize(dir);
        Assert.True(node.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<long>(c, "SELECT COUNT(*) FROM patients")) > 0);
        Assert.Contains("\"source_pulled\"", string.Join('\n', Sources.BulkTestSupport.AuditEntries(node).Select(e => "\"" + e.Action + "\"")), StringComparison.Ordinal);
    }
}

/// <summary>
/// Scheduled pulls (<see cref="SourceScheduler"/>) on the node's clock (<see cref="FakeTimeProvider"/>), with a real store and a
/// test double puller (<see cref="RecordingPuller"/>).
/// </summary>
public sealed class SourceSchedulerTests
{
    [Fact]
    public async Task A_source_is_pulled_when_due_and_not_before_since_its_watermark()
    {
        var (node, clock) = Node("PT6H");
        using var _ = node;
        var puller = new RecordingPuller(clock);
        var scheduler = new SourceScheduler(node, [puller], clock, NullLogger<SourceScheduler>.Instance);

        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal([null], puller.Since); // never pulled: due at once, everything
        var firstWatermark = node.Store.Read(c => SourceQueries.Get(c, "source:epic"))!.Watermark;

        clock.Advance(TimeSpan.FromHours(6) - TimeSpan.FromMinutes(1));
        Assert.Equal(TimeSpan.FromMinutes(1), await scheduler.RunDueAsync(CancellationToken.None));
        Assert.Single(puller.Since); // not yet

        clock.Advance(TimeSpan.FromMinutes(1));
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(2, puller.Since.Count);
        Assert.Equal(DateTimeOffset.Parse(firstWatermark!, System.Globalization.CultureInfo.InvariantCulture), puller.Since[1]); // `--since last`
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(2, puller.Since.Count);
        Assert.Equal(1, puller.MostAtOnce);
    }

    [Fact]
    public async Task A_failed_pull_keeps_the_watermark_and_is_retried_after_fifteen_minutes_then_backs_off()
    {
        var (node, clock) = Node("PT6H");
        using var _ = node;
        var puller = new RecordingPuller(clock);
        var scheduler = new SourceScheduler(node, [puller], clock, NullLogger<SourceScheduler>.Instance);
        await scheduler.RunDueAsync(CancellationToken.None);
        var watermark = node.Store.Read(c => SourceQueries.Get(c, "source:epic"))!.Watermark;

        puller.Fail = true;
        clock.Advance(TimeSpan.FromHours(6));
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(2, puller.Since.Count);
        var state = node.Store.Read(c => SourceQueries.Get(c, "source:epic"))!;
        Assert.Equal(("failed", watermark), (state.LastStatus, state.Watermark));
        Assert.Contains("HttpRequestException", state.LastDetail, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-server-text", state.LastDetail, StringComparison.Ordinal);
        var audit = node.Store.Read(c => AuditTrailQueries.LatestDetail(c, AuditActions.SourcePullNotDone))!;
        Assert.Contains("\"failed\"", audit, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-server-text", audit, StringComparison.Ordinal);

        clock.Advance(TimeSpan.FromMinutes(14));
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(2, puller.Since.Count);
        clock.Advance(TimeSpan.FromMinutes(1));
        await scheduler.RunDueAsync(CancellationToken.None); // 15 min after the failure
        Assert.Equal(3, puller.Since.Count);
        Assert.Equal(DateTimeOffset.Parse(watermark!, System.Globalization.CultureInfo.InvariantCulture), puller.Since[2]);

        clock.Advance(TimeSpan.FromMinutes(29)); // a second failure in a row: 30 minutes
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(3, puller.Since.Count);
        puller.Fail = false;
        clock.Advance(TimeSpan.FromMinutes(1));
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(4, puller.Since.Count);
        Assert.Equal("succeeded", node.Store.Read(c => SourceQueries.Get(c, "source:epic"))!.LastStatus);
    }

    [Fact]
    public async Task A_kind_without_a_puller_is_logged_audited_once_and_shown_as_failed()
    {
        var (node, clock) = Node("PT15M");
        using var _ = node;
        var scheduler = new SourceScheduler(node, [], clock, NullLogger<SourceScheduler>.Instance);
        await scheduler.RunDueAsync(CancellationToken.None);
        clock.Advance(TimeSpan.FromMinutes(15));
        await scheduler.RunDueAsync(CancellationToken.None);

        var audits = node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action='source_pull_not_done'").ToList());
        var audit = Assert.Single(audits);
        Assert.Contains("\"no_puller\"", audit, StringComparison.Ordinal);
        Assert.Contains("\"fhir-bulk\"", audit, StringComparison.Ordinal);
        var state = node.Store.Read(c => SourceQueries.Get(c, "source:epic"))!;
        Assert.Equal("failed", state.LastStatus);
        Assert.Null(state.Watermark);
    }

    [Fact]
    public async Task The_configuration_is_read_again_each_round_and_a_source_by_hand_only_is_never_scheduled()
    {
        var (node, clock) = Node(null);
        using var _ = node;
        var puller = new RecordingPuller(clock);
        var scheduler = new SourceScheduler(node, [puller], clock, NullLogger<SourceScheduler>.Instance);
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Empty(puller.Since); // no `every`: pulled by hand only

        NodeConfiguration.Load(node.Path).WithSource(new DataSource("second", SourceKind.FhirBulk, "https://other.example.org/fhir", "c", Every: TimeSpan.FromHours(1))).Save(node.Path);
        await scheduler.RunDueAsync(CancellationToken.None);
        Assert.Equal(["second"], puller.Names);

        File.WriteAllText(Path.Combine(node.Path, NodeConfiguration.FileName), "{ not json");
        clock.Advance(TimeSpan.FromHours(1));
        await scheduler.RunDueAsync(CancellationToken.None); // the last valid configuration is kept
        Assert.Equal(["second", "second"], puller.Names);
    }

    [Fact]
    public void The_status_page_shows_each_source_with_its_last_pull_watermark_and_next_run()
    {
        var (node, clock) = Node("PT6H");
        using var _ = node;
        node.Store.Write((c, t) =>
        {
            SourceQueries.Succeeded(c, t, "source:epic", "2026-06-15T08:59:00Z", clock.GetUtcNow().ToString("O"),
                System.Text.Json.JsonSerializer.Serialize(new PullSummary(2, 40, 38, 2, "2026-06-15T08:59:00Z", null, 0, 1.5) { Deleted = 3 }.ToJson()));
            return 0;
        });

        var report = Status.NodeStatusReport.Read(node, new Federation.NodeStatus(), clock.GetUtcNow());
        var page = Status.NodeStatusPage.Render(report, "field", "token");
        Assert.Contains("<h2 id=\"sources-h\">Data sources</h2>", page, StringComparison.Ordinal);
        var row = page[page.IndexOf("<table id=\"sources\">", StringComparison.Ordinal)..];
        row = row[..row.IndexOf("</table>", StringComparison.Ordinal)];
        Assert.Contains(">epic<", row, StringComparison.Ordinal);
        Assert.Contains("https://fhir.example.org/r4", row, StringComparison.Ordinal);
        Assert.Contains("succeeded", row, StringComparison.Ordinal);
        Assert.Contains("accepted 38", row, StringComparison.Ordinal);
        Assert.Contains("deleted 3", row, StringComparison.Ordinal);
        Assert.Contains("2026-06-15T08:59:00Z", row, StringComparison.Ordinal);
        Assert.Contains("2026-06-15 15:00 UTC", row, StringComparison.Ordinal);
        Assert.DoesNotContain("ftwin-node", row, StringComparison.Ordinal); // the client id is not shown
    }

    private static (NodeDirectory Node, FakeTimeProvider Clock) Node(string? every)
    {
        var clock = DataTestSupport.Clock();
        var dir = DataTestSupport.TempDir("scheduler");
        var node = NodeDirectory.OpenOrInitialize(dir, time: clock);
        new NodeConfiguration((int?)null)
        {
            Sources = [new DataSource("epic", SourceKind.FhirBulk, "https://fhir.example.org/r4", "ftwin-node", Every: every is null ? null : SourceConfiguration.ParseEvery(every, "every"))],
        }.Save(dir);
        return (node, clock);
    }

    /// <summary>
    /// Test double of a puller (the Bulk Data and OMOP pullers need a FHIR server or PostgreSQL, and are built on other branches): it
    /// records each call and, as <see cref="ISourcePuller"/> requires, records success and the watermark (the clock's time as the
    /// export's transaction time) only when it succeeds; <see cref="Fail"/> makes it throw as a server error would.
    /// </summary>
    private sealed class RecordingPuller(FakeTimeProvider clock) : ISourcePuller
    {
        private int _running;

        public SourceKind Kind => SourceKind.FhirBulk;

        public List<DateTimeOffset?> Since { get; } = [];

        public List<string> Names { get; } = [];

        public bool Fail { get; set; }

        public int MostAtOnce { get; private set; }

        public async Task<PullSummary> PullAsync(NodeDirectory node, DataSource source, PullOptions options, CancellationToken cancellationToken)
        {
            MostAtOnce = Math.Max(MostAtOnce, Interlocked.Increment(ref _running));
            try
            {
                Since.Add(options.Since);
                Names.Add(source.Name);
                await Task.Yield();
                if (Fail)
                {
                    throw new HttpRequestException("secret-server-text");
                }

                var transactionTime = clock.GetUtcNow().AddSeconds(-30).ToString("O");
                var summary = new PullSummary(1, 10, 10, 0, transactionTime, options.Since?.ToString("O"), 0, 1);
                node.Store.Write((c, t) =>
                {
                    SourceQueries.Succeeded(c, t, source.WatermarkKey, transactionTime, clock.GetUtcNow().ToString("O"), System.Text.Json.JsonSerializer.Serialize(summary.ToJson()));
                    return 0;
                });
                return summary;
            }
            finally
            {
                Interlocked.Decrement(ref _running);
            }
        }
    }
}
