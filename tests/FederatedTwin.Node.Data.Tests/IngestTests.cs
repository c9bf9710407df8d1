using System.Diagnostics;
using System.Text;
using Dapper;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Node.Data.Tests;

public sealed class IngestTests
{
    private static readonly (string Line, string Reason)[] BadLines =
    [
        ("{\"resourceType\":\"Encounter\",\"id\":\"trunc", "invalid_json"),
        ("{\"resourceType\":\"Spaceship\",\"id\":\"x1\"}", "unknown_resource_type"),
        ("{\"resourceType\":\"Patient\",\"id\":\"p9\",\"birthDate\":\"1999-13-45\"}", "invalid_resource"),
        ("{\"resourceType\":\"Patient\",\"id\":\"p8\",\"birthDate\":\"2021-02-30\"}", "invalid_resource"), // Firely checks the calendar
        ("[1,2,3]", "not_a_resource"),
        ("{\"id\":\"no-type\",\"status\":\"finished\"}", "not_a_resource"),
        ("{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"finished\",\"colour\":\"blue\"}", "invalid_resource"),
        ("{\"resourceType\":\"Encounter\",\"id\":\"e3\",\"status\":42}", "invalid_resource"),
        ("{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Nobody\"}]}", "missing_id"),
        ("\u00ff\u00fe not json at all", "invalid_json"),
    ];

    [Fact]
    public void Every_kind_of_bad_line_is_quarantined_with_its_position_and_reason_but_never_its_content()
    {
        var export = DataTestSupport.TempDir("bad");
        var good = File.ReadLines(Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson")).Take(3).ToList();
        var lines = good.Concat(BadLines.Select(b => b.Line)).ToList();
        File.WriteAllText(Path.Combine(export, "Mixed.000.ndjson"), string.Join("\n", lines) + "\n" + new string('x', 17 * 1024 * 1024) + "\n");
        var dir = DataTestSupport.TempDir("bad-node");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        var summary = DataTestSupport.Ingest(node, export);

        Assert.Equal(lines.Count + 1, summary.LinesRead);
        Assert.Equal(3, summary.Accepted);
        Assert.Equal(summary.LinesRead, summary.Accepted + summary.Quarantined);
        var rows = node.Store.Read(c => c.Query<(long line_no, long byte_offset, string reason_code, string reason, string line_hmac)>("SELECT line_no, byte_offset, reason_code, reason, line_hmac FROM quarantine ORDER BY line_no").ToList());
        Assert.Equal(BadLines.Length + 1, rows.Count);
        for (var i = 0; i < BadLines.Length; i++)
        {
            Assert.Equal(4 + i, rows[i].line_no);
            Assert.Equal(BadLines[i].Reason, rows[i].reason_code);
            Assert.Equal(Encoding.UTF8.GetByteCount(string.Join("\n", lines.Take(3 + i))) + 1, rows[i].byte_offset);
        }

        Assert.Equal("oversized_line", rows[^1].reason_code);
        foreach (var r in rows)
        {
            Assert.DoesNotContain("1999", r.reason, StringComparison.Ordinal);
            Assert.DoesNotContain("Spaceship", r.reason, StringComparison.Ordinal);
            Assert.DoesNotContain("blue", r.reason, StringComparison.Ordinal);
        }

        node.Store.Read(c => c.Execute("PRAGMA wal_checkpoint(TRUNCATE)"));
        var stored = string.Join("\n", Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        foreach (var needle in new[] { "Spaceship", "1999-13-45", "2021-02-30", "colour", "Nobody", "no-type", "trunc" })
        {
            Assert.DoesNotContain(needle, stored, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Ingesting_the_same_export_twice_changes_nothing()
    {
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("twice"));
        var first = DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
        var snapshot = Snapshot(node);
        var second = DataTestSupport.Ingest(node, DataTestSupport.NdjsonSample);
        Assert.Equal(first.Accepted, second.Accepted);
        Assert.Equal(second.Accepted, second.Unchanged);
        Assert.Equal(snapshot, Snapshot(node));
    }

    [Fact]
    public void An_ingest_killed_mid_run_and_run_again_ends_as_an_uninterrupted_one()
    {
        var export = DataTestSupport.TempDir("kill-export");
        PopulationGenerator.Generate(6000, SyntheticProfile.Named("rural-community"), 11, export, badLines: 5);
        var interrupted = DataTestSupport.TempDir("kill-node");
        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true };
        // A small memory limit: batches spill to the store's staging table as they go, so the kill lands after some are committed.
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "ftwin.dll"), "node", "ingest", export, "--node-dir", interrupted, "--json", "--memory-mb", "1" })
        {
            info.ArgumentList.Add(arg);
        }

        using (var process = Process.Start(info)!)
        {
            // Kill once some batches are staged (committed), well before the end.
            Eventually.UntilBlocking(() => process.HasExited || StagedRows(interrupted) >= 3 * 256, TimeSpan.FromSeconds(60), "the ingest to stage three batches",
                () => $"{StagedRows(interrupted)} staged rows");
            Assert.False(process.HasExited, "the ingest finished before it could be interrupted");
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        var (code, output) = DataTestSupport.Ftwin("node", "ingest", export, "--node-dir", interrupted, "--json");
        Assert.True(code == 0, output);
        var uninterrupted = DataTestSupport.TempDir("kill-reference");
        Assert.Equal(0, DataTestSupport.Ftwin("node", "ingest", export, "--node-dir", uninterrupted, "--json").ExitCode);

        var a = DataTestSupport.Ftwin("node", "features", "export", "--node-dir", interrupted).Output;
        var b = DataTestSupport.Ftwin("node", "features", "export", "--node-dir", uninterrupted).Output;
        Assert.True(a.Split('\n').Length > 6000);
        Assert.Equal(Sorted(b), Sorted(a));
        using var n1 = NodeDirectory.OpenOrInitialize(interrupted);
        using var n2 = NodeDirectory.OpenOrInitialize(uninterrupted);
        Assert.Equal(Counts(n2), Counts(n1));
    }

    [Fact]
    public void A_later_export_with_new_data_updates_the_affected_patients_features()
    {
        var export = DataTestSupport.TempDir("since");
        var patient = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1950-03-04\"}";
        var encounter = "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-05-01T10:00:00Z\",\"end\":\"2021-05-01T11:00:00Z\"}}";
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), patient + "\n");
        File.WriteAllText(Path.Combine(export, "Encounter.000.ndjson"), encounter + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("since-node"));
        DataTestSupport.Ingest(node, export);
        var before = new Features.FeatureBuilder(node.Store).All().Single(r => r.Values["year"] == 2021);
        Assert.Equal(0, before.Values["heart_failure"]);

        var since = DataTestSupport.TempDir("since-2");
        File.WriteAllText(Path.Combine(since, "Condition.000.ndjson"), "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\"}]},\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}\n");
        var summary = DataTestSupport.Ingest(node, since);
        Assert.Equal(1, summary.PatientsUpdated);
        var after = new Features.FeatureBuilder(node.Store).All().Single(r => r.Values["year"] == 2021);
        Assert.Equal(1, after.Values["heart_failure"]);
        Assert.Equal(71, after.Values["age"]);
    }

    [Fact]
    public void A_resource_updated_or_moved_to_another_patient_by_a_later_export_is_stored_once_where_it_now_belongs()
    {
        static string Patient(string id) => "{\"resourceType\":\"Patient\",\"id\":\"" + id + "\",\"gender\":\"female\",\"birthDate\":\"1950-03-04\"}";
        static string Condition(string id, string patient, string snomed) => "{\"resourceType\":\"Condition\",\"id\":\"" + id + "\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"" + snomed + "\"}]},\"subject\":{\"reference\":\"Patient/" + patient + "\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}";
        static string Encounter(string id, string patient) => "{\"resourceType\":\"Encounter\",\"id\":\"" + id + "\",\"status\":\"finished\",\"class\":{\"system\":\"http://terminology.hl7.org/CodeSystem/v3-ActCode\",\"code\":\"AMB\"},\"subject\":{\"reference\":\"Patient/" + patient + "\"},\"period\":{\"start\":\"2021-05-01T10:00:00Z\",\"end\":\"2021-05-01T11:00:00Z\"}}";
        const string heartFailure = "88805009", diabetes = "44054006";

        var first = DataTestSupport.TempDir("move-1");
        File.WriteAllText(Path.Combine(first, "Patient.000.ndjson"), Patient("p1") + "\n" + Patient("p2") + "\n");
        File.WriteAllText(Path.Combine(first, "Encounter.000.ndjson"), Encounter("e1", "p1") + "\n" + Encounter("e2", "p2") + "\n");
        File.WriteAllText(Path.Combine(first, "Condition.000.ndjson"), Condition("c1", "p1", heartFailure) + "\n" + Condition("c2", "p1", heartFailure) + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("move-node"));
        DataTestSupport.Ingest(node, first);
        var before = new Features.FeatureBuilder(node.Store).All().Where(r => r.Values["year"] == 2021).Select(r => (r.Values["heart_failure"], r.Values["diabetes"])).Order().ToList();
        Assert.Equal([(0.0, 0.0), (1.0, 0.0)], before);

        // c1 now says diabetes (an update), c2 now belongs to p2 (a correction of the subject).
        var second = DataTestSupport.TempDir("move-2");
        File.WriteAllText(Path.Combine(second, "Condition.000.ndjson"), Condition("c1", "p1", diabetes) + "\n" + Condition("c2", "p2", heartFailure) + "\n");
        var summary = DataTestSupport.Ingest(node, second);
        Assert.Equal(2, summary.PatientsUpdated);
        var after = new Features.FeatureBuilder(node.Store).All().Where(r => r.Values["year"] == 2021).Select(r => (r.Values["heart_failure"], r.Values["diabetes"])).Order().ToList();
        Assert.Equal([(0.0, 1.0), (1.0, 0.0)], after);
        Assert.Equal(6L, node.Store.Read(c => c.ExecuteScalar<long>("SELECT SUM(entries) FROM patient_facts")));

        // And the same again changes nothing.
        var again = DataTestSupport.Ingest(node, second);
        Assert.Equal(2, again.Unchanged);
        Assert.Equal(0, again.PatientsUpdated);
    }

    [Fact]
    public void A_line_with_bytes_that_are_not_UTF8_is_quarantined_and_the_ingest_goes_on()
    {
        // One byte 0xFF in an id, a patient reference, a display the node does not keep, and a Consent (the Firely path):
        // the JSON reader checks UTF-8 only when a value is read, and both parsers threw, stopping the whole run.
        string[] templates =
        [
            "{\"resourceType\":\"Condition\",\"id\":\"c1#\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\"}]},\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}",
            "{\"resourceType\":\"Condition\",\"id\":\"c2\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\"}]},\"subject\":{\"reference\":\"Patient/p1#\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}",
            "{\"resourceType\":\"Condition\",\"id\":\"c3\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\",\"display\":\"heart#\"}]},\"subject\":{\"reference\":\"Patient/p1\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}",
            "{\"resourceType\":\"Consent\",\"id\":\"k1#\",\"status\":\"active\"}",
        ];
        var good = "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1950-03-04\"}";
        var bytes = new List<byte>(Encoding.UTF8.GetBytes(good + "\n"));
        foreach (var t in templates)
        {
            var line = Encoding.UTF8.GetBytes(t);
            line[Array.IndexOf(line, (byte)'#')] = 0xFF;
            bytes.AddRange(line);
            bytes.Add((byte)'\n');
        }

        var export = DataTestSupport.TempDir("utf8");
        File.WriteAllBytes(Path.Combine(export, "Mixed.000.ndjson"), [.. bytes]);
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("utf8-node"));
        var summary = DataTestSupport.Ingest(node, export);
        Assert.Equal(5, summary.LinesRead);
        Assert.Equal(1, summary.Accepted);
        Assert.Equal(4, summary.QuarantineReasons["invalid_utf8"]);
        Assert.Equal([2L, 3L, 4L, 5L], node.Store.Read(c => c.Query<long>("SELECT line_no FROM quarantine WHERE reason_code='invalid_utf8' ORDER BY line_no").ToList()));
    }

    [Fact]
    public void A_resource_given_twice_in_one_export_with_different_content_is_kept_once_and_the_later_one_quarantined_as_a_conflict()
    {
        // Issue 19: which of two different resources with one type and id is right cannot be told, so the later one is
        // flagged (counted and quarantined) instead of silently replacing the first; the same resource twice is no conflict.
        static string Patient(string id, string birthDate = "1950-03-04") => "{\"resourceType\":\"Patient\",\"id\":\"" + id + "\",\"gender\":\"male\",\"birthDate\":\"" + birthDate + "\"}";
        static string Condition(string id, string patient) => "{\"resourceType\":\"Condition\",\"id\":\"" + id + "\",\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\"}]},\"subject\":{\"reference\":\"Patient/" + patient + "\"},\"onsetDateTime\":\"2021-02-01T00:00:00Z\"}";
        var export = DataTestSupport.TempDir("twice-in-run");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), Patient("p1") + "\n" + Patient("p2") + "\n" + Patient("p2") + "\n" + Patient("p1", "1990-01-01") + "\n");
        File.WriteAllText(Path.Combine(export, "Condition.000.ndjson"), Condition("c1", "p1") + "\n" + Condition("c9", "p1") + "\n");
        File.WriteAllText(Path.Combine(export, "Condition.001.ndjson"), Condition("c9", "p2") + "\n");
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("twice-in-run-node"));
        var summary = DataTestSupport.Ingest(node, export);
        Assert.Equal(7, summary.LinesRead);
        Assert.Equal(5, summary.Accepted); // p2 twice with the same content is accepted twice (and stored once)
        Assert.Equal(2, summary.QuarantineReasons["conflicting_duplicate"]);
        var conflicts = node.Store.Read(c => c.Query<(long Line, string Code)>("SELECT line_no, reason_code FROM quarantine ORDER BY source_hash, line_no").ToList());
        Assert.Equal(2, conflicts.Count);
        Assert.All(conflicts, c => Assert.Equal("conflicting_duplicate", c.Code));
        var rows = new Features.FeatureBuilder(node.Store).All().Where(r => r.Values["year"] == 2021).Select(r => (r.Values["heart_failure"], r.Values["age"])).Order().ToList();
        Assert.Equal([(1.0, 71.0)], rows); // p1 keeps its first birth date (1950, not 1990) and both conditions; c9 did not move to p2
        Assert.Equal(4L, node.Store.Read(c => c.ExecuteScalar<long>("SELECT SUM(entries) FROM patient_facts")));
    }

    [Fact]
    public void Entries_staged_by_an_earlier_version_with_the_group_as_text_are_merged_by_the_next_run()
    {
        var export = DataTestSupport.TempDir("staged-text");
        File.WriteAllText(Path.Combine(export, "Patient.000.ndjson"), "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1950-03-04\"}\n");
        File.WriteAllText(Path.Combine(export, "Encounter.000.ndjson"), "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"class\":{\"code\":\"AMB\"},\"subject\":{\"reference\":\"Patient/p1\"},\"period\":{\"start\":\"2021-05-01T10:00:00Z\"}}\n");
        var clock = DataTestSupport.Clock();
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("staged-text-node"), time: clock);
        DataTestSupport.Ingest(node, export, clock);
        Assert.Equal(0, new Features.FeatureBuilder(node.Store).All().Single(r => r.Values["year"] == 2021).Values["ed_visits"]);

        // What a run of the previous version killed after spilling left behind: [length][ASCII pseudonym][entry].
        using var hasher = node.Pseudonymizer.CreateHasher();
        var record = new Ingest.EncounterRecord("e9", "EMER", 2021, 0, []) { PatientId = "p1" };
        var entry = Ingest.ClinicalReduction.Encode(record, hasher.Resource("Encounter", "e9"), 1, true, new Ingest.Reduction(clock.GetUtcNow().Year, Deidentification.CodeList.Sensitive, null), new Ingest.EntryArena()).ToArray();
        var group = node.Pseudonymizer.Patient("p1");
        byte[] staged = [(byte)group.Length, .. System.Text.Encoding.ASCII.GetBytes(group), .. entry];
        node.Store.Write((c, t) => c.Execute("INSERT INTO ingest_staging(part, data) VALUES (@part, @staged)", new { part = Convert.ToInt32(group[..2], 16), staged }, t));

        DataTestSupport.Ingest(node, export, clock);
        Assert.Equal(1, new Features.FeatureBuilder(node.Store).All().Single(r => r.Values["year"] == 2021).Values["ed_visits"]);
        Assert.Equal(0L, node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM ingest_staging")));
    }

    [Theory]
    [InlineData(0, 1L)] // the retention's last tick: kept
    [InlineData(1, 0L)] // one tick later: pruned by the next run, and the pruning audited
    public void A_quarantined_line_is_kept_for_the_policys_retention_and_pruned_by_the_first_run_after_it(long ticksPastRetention, long kept)
    {
        var clock = DataTestSupport.Clock();
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("retention-node"), time: clock);
        var bad = DataTestSupport.TempDir("retention-bad");
        File.WriteAllText(Path.Combine(bad, "Mixed.000.ndjson"), "[1,2,3]\n");
        Assert.Equal(1, DataTestSupport.Ingest(node, bad, clock).Quarantined);

        var retention = node.LoadPolicy().RetentionYears;
        clock.SetUtcNow(DataTestSupport.Epoch.AddYears(retention).AddTicks(ticksPastRetention));
        var good = DataTestSupport.TempDir("retention-good");
        File.WriteAllText(Path.Combine(good, "Patient.000.ndjson"), "{\"resourceType\":\"Patient\",\"id\":\"p1\",\"gender\":\"female\",\"birthDate\":\"1950-03-04\"}\n");
        DataTestSupport.Ingest(node, good, clock);

        Assert.Equal(kept, node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM quarantine")));
        var pruned = node.Store.Read(c => c.Query<string>("SELECT detail FROM audit_log WHERE action=@a", new { a = Protocol.Audit.AuditActions.RecordsPruned }).ToList());
        Assert.Equal(1 - kept, pruned.Count);
        if (pruned.Count == 1)
        {
            var detail = System.Text.Json.Nodes.JsonNode.Parse(pruned[0])!;
            Assert.Equal(("quarantine", 1, retention), (detail["table"]!.GetValue<string>(), detail["rows"]!.GetValue<int>(), detail["retention_years"]!.GetValue<int>()));
        }
    }

    private static long StagedRows(string dir)
    {
        var db = Path.Combine(dir, "node.db");
        if (!File.Exists(db))
        {
            return 0;
        }

        try
        {
            using var c = TestStore.OpenReadOnly(db);
            return c.ExecuteScalar<long>("SELECT COUNT(*) FROM ingest_staging");
        }
        catch (Microsoft.Data.Sqlite.SqliteException)
        {
            return 0;
        }
    }

    /// <summary>Row counts, stored resources and facts, and a digest of every patient's stored value (pseudonyms and content).</summary>
    private static string Snapshot(NodeDirectory node) => Counts(node) + "|" + node.Store.Read(c => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(
        c.Query<(string, byte[])>("SELECT pseudonym, data FROM patient_facts ORDER BY pseudonym").SelectMany(r => System.Text.Encoding.ASCII.GetBytes(r.Item1).Concat(r.Item2)).ToArray())));

    private static string Counts(NodeDirectory node) => node.Store.Read(c => string.Join("|",
        new[] { "patient_facts", "patients", "quarantine", "consent_states", "ingest_staging" }.Select(t => $"{t}:{c.ExecuteScalar<long>($"SELECT COUNT(*) FROM {t}")}")
            .Append($"resources:{c.ExecuteScalar<long>("SELECT COALESCE(SUM(entries), 0) FROM patient_facts")}")
            .Append($"facts:{c.ExecuteScalar<long>("SELECT COALESCE(SUM(facts), 0) FROM patient_facts")}")));

    private static string Sorted(string csv) => string.Join("\n", csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
}

public sealed class IngestApiTests
{
    [Fact]
    public async Task The_node_admin_API_ingests_an_export_behind_its_token()
    {
        var dir = DataTestSupport.TempDir("api");
        string token;
        using (var created = NodeDirectory.OpenOrInitialize(dir))
        {
            token = created.CreatedAdminToken!; // shown once, when the directory is made (admin.token keeps only its hash)
        }

        Assert.DoesNotContain(token, File.ReadAllText(Path.Combine(dir, "admin.token")), StringComparison.Ordinal);
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
            var body = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { path = DataTestSupport.NdjsonSample }), Encoding.UTF8, "application/json");
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.PostAsync("/v1/ingest", body)).StatusCode);

            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            var response = await http.PostAsync("/v1/ingest", new StringContent(System.Text.Json.JsonSerializer.Serialize(new { path = DataTestSupport.NdjsonSample }), Encoding.UTF8, "application/json"));
            var summary = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            Assert.Equal(7160, summary["lines_read"]!.GetValue<long>());
            Assert.Equal(summary["lines_read"]!.GetValue<long>(), summary["accepted"]!.GetValue<long>() + summary["quarantined"]!.GetValue<long>());

            var missing = await http.PostAsync("/v1/ingest", new StringContent("{\"path\":\"/no/such/export\"}", Encoding.UTF8, "application/json"));
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
