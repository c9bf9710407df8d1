using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Audit;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;
using Hl7.Fhir.Validation;

namespace FederatedTwin.Audit.Tests;

/// <summary>
/// One real federation, run once for the class: a coordinator and three nodes as separate ftwin
/// processes on loopback; site-a ingests the Synthea sample first; a HOPERAT census study completes
/// and a HRESCH study is refused by every site's policy. Then the processes are killed and the tests
/// read (and tamper with copies of) what the services left on disk.
/// </summary>
public sealed class FederationRun : IAsyncLifetime
{
    public const string CensusStudy = "audit-census";
    public const string RefusedStudy = "audit-research";

    public string Root { get; } = AuditTestSupport.TempDir("federation");

    public string CoordinatorDir => Path.Combine(Root, "coordinator");

    public List<string> NodeDirs { get; } = [];

    public IngestSummary Ingested { get; private set; } = null!;

    public JsonNode Census { get; private set; } = null!;

    public JsonNode Refused { get; private set; } = null!;

    public async System.Threading.Tasks.Task InitializeAsync()
    {
        ChildProcess.FtwinCommand = ("dotnet", [AuditTestSupport.FtwinDll]);
        using var federation = await LocalFederation.Start(Root, ["site-a", "site-b", "site-c"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, (i, node) =>
        {
            node.WriteSiteInput(SiteInput.Synthetic(i + 1));
            if (i == 0)
            {
                Ingested = new IngestPipeline(node).Run(AuditTestSupport.NdjsonSample);
            }
        });
        NodeDirs.AddRange(federation.Nodes.Select(n => n.Dir));
        await federation.CreateStudy($"""
            id: {CensusStudy}
            algorithm: federated-sum
            purpose_of_use: HOPERAT
            min_nodes: 3
            max_nodes: 3
            rounds: 1
            phase_deadline_seconds: 30
            parameters:
              vector: patients_by_age_band_and_sex
              year: "2020"
            """, CancellationToken.None);
        Census = await federation.WaitForStudy(CensusStudy, TimeSpan.FromSeconds(120), null, CancellationToken.None);
        await federation.CreateStudy($"""
            id: {RefusedStudy}
            algorithm: federated-sum
            purpose_of_use: HRESCH
            min_nodes: 3
            max_nodes: 3
            rounds: 1
            phase_deadline_seconds: 4
            parameters:
              vector: patients_by_age_band_and_sex
            """, CancellationToken.None);
        Refused = await federation.WaitForStudy(RefusedStudy, TimeSpan.FromSeconds(120), null, CancellationToken.None);
    }

    public System.Threading.Tasks.Task DisposeAsync() => System.Threading.Tasks.Task.CompletedTask;
}

public sealed class FederationAuditTests(FederationRun run) : IClassFixture<FederationRun>
{
    private string SiteA => run.NodeDirs[0];

    private static JsonObject Detail(AuditEntry e) => JsonNode.Parse(e.Detail)!.AsObject();

    private static string CopyOf(string dir)
    {
        var copy = AuditTestSupport.TempDir("copy");
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(dir, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return copy;
    }

    [Fact]
    public void The_study_completed_and_the_research_study_was_refused()
    {
        Assert.Equal("completed", run.Census["state"]!.ToString());
        Assert.Equal("failed", run.Refused["state"]!.ToString());
    }

    [Fact]
    public void A_node_that_ingested_and_took_part_in_a_study_has_the_expected_entries_and_a_valid_chain()
    {
        var entries = AuditTestSupport.NodeEntries(SiteA);
        var actions = entries.Select(e => e.Action).ToList();
        foreach (var expected in new[]
        {
            AuditActions.AuditTrailStarted, AuditActions.IdentityKeyCreated, AuditActions.PseudonymKeyCreated, AuditActions.IngestRun, AuditActions.ExclusionsCounted,
            AuditActions.PolicyLoaded, AuditActions.Enrolled, AuditActions.ServiceStarted, AuditActions.StudyDecision, AuditActions.KeyShareGenerated,
            AuditActions.Submission, AuditActions.DecryptionShareIssued,
        })
        {
            Assert.Contains(expected, actions);
        }

        // In the order things happened.
        Assert.True(actions.IndexOf(AuditActions.IngestRun) < actions.IndexOf(AuditActions.Enrolled));
        Assert.True(actions.IndexOf(AuditActions.Enrolled) < actions.IndexOf(AuditActions.StudyDecision));
        Assert.True(actions.IndexOf(AuditActions.Submission) < actions.IndexOf(AuditActions.DecryptionShareIssued));

        var ingest = Detail(entries.Single(e => e.Action == AuditActions.IngestRun));
        Assert.Equal(run.Ingested.LinesRead, ingest["lines_read"]!.GetValue<long>());
        Assert.Equal(run.Ingested.Accepted, ingest["accepted"]!.GetValue<long>());
        Assert.Equal(run.Ingested.Quarantined, ingest["quarantined"]!.GetValue<long>());

        var nodeId = entries.Single(e => e.Action == AuditActions.Enrolled) is { } enrolled ? Detail(enrolled)["node_id"]!.GetValue<string>() : null;
        var decision = entries.Single(e => e.Action == AuditActions.StudyDecision && e.StudyId == FederationRun.CensusStudy);
        Assert.Equal(nodeId, decision.Actor);
        Assert.Equal("HOPERAT", decision.PurposeOfUse);
        Assert.Equal("accept", Detail(decision)["decision"]!.GetValue<string>());
        Assert.Equal("all_rules_passed", Detail(decision)["rule"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(Path.Combine(SiteA, "policy.yaml")))), Detail(decision)["policy_sha256"]!.GetValue<string>());

        // The submission is named by the SHA-256 of exactly the ciphertext the node stored and sent.
        var submission = entries.Single(e => e.Action == AuditActions.Submission && e.StudyId == FederationRun.CensusStudy);
        using var connection = TestStore.OpenReadOnly(Path.Combine(SiteA, "node.db"));
        var stored = connection.QuerySingle<string>("SELECT digest FROM submissions WHERE study_id=@s", new { s = FederationRun.CensusStudy });
        Assert.Equal(stored, Detail(submission)["ciphertext_sha256"]!.GetValue<string>());
        Assert.Equal(1, Detail(submission)["round"]!.GetValue<int>());

        var v = AuditTestSupport.VerifyNode(SiteA, NodeDirectory.ReadPublicKey(SiteA));
        Assert.True(v.Ok, string.Join("; ", v.Problems));
        var source = AuditSource.Open(AuditService.Node, SiteA);
        var shareSeq = entries.Single(e => e.Action == AuditActions.DecryptionShareIssued && e.StudyId == FederationRun.CensusStudy).Seq;
        Assert.Contains(source.Checkpoints, c => c.Seq == shareSeq && c.Reason == CheckpointReasons.Round);
        Assert.Contains(source.Checkpoints, c => c.Reason == CheckpointReasons.Ingest);
    }

    [Fact]
    public void Every_node_records_the_study_its_policy_refuses_with_the_rule()
    {
        foreach (var dir in run.NodeDirs)
        {
            var refusal = AuditTestSupport.NodeEntries(dir).Single(e => e.Action == AuditActions.StudyDecision && e.StudyId == FederationRun.RefusedStudy);
            Assert.Equal(AuditOutcome.MinorFailure, refusal.Outcome);
            Assert.Equal("HRESCH", refusal.PurposeOfUse);
            Assert.Equal("refuse", Detail(refusal)["decision"]!.GetValue<string>());
            Assert.Equal("purposes_allowed", Detail(refusal)["rule"]!.GetValue<string>());
            Assert.DoesNotContain(AuditTestSupport.NodeEntries(dir), e => e.Action == AuditActions.Submission && e.StudyId == FederationRun.RefusedStudy);
        }
    }

    [Fact]
    public void The_coordinator_records_the_study_and_names_each_submission_by_the_digest_its_node_recorded()
    {
        var entries = AuditTestSupport.CoordinatorEntries(run.CoordinatorDir);
        var census = entries.Where(e => e.StudyId == FederationRun.CensusStudy).Select(e => e.Action).ToList();
        Assert.Equal(AuditActions.StudyCreated, census[0]);
        Assert.Equal(3, census.Count(a => a == AuditActions.StudyDecisionReceived));
        foreach (var expected in new[] { AuditActions.StudyStarted, AuditActions.AttemptStarted, AuditActions.CollectiveKeyFormed, AuditActions.RoundAggregated, AuditActions.ResultDecrypted })
        {
            Assert.Contains(expected, census);
        }

        Assert.Equal(AuditActions.StudyCompleted, census[^1]);
        Assert.Equal(15, census.Count(a => a == AuditActions.ContributionReceived)); // 3 nodes × key-share commitment and opening, update commitment and opening, decryption share

        var aggregated = Detail(entries.Single(e => e.Action == AuditActions.RoundAggregated && e.StudyId == FederationRun.CensusStudy));
        var listed = aggregated["submission_sha256"]!.AsArray().Select(d => d!.GetValue<string>()).ToHashSet();
        foreach (var dir in run.NodeDirs)
        {
            var nodeEntries = AuditTestSupport.NodeEntries(dir);
            var nodeId = Detail(nodeEntries.Single(e => e.Action == AuditActions.Enrolled))["node_id"]!.GetValue<string>();
            var sent = Detail(nodeEntries.Single(e => e.Action == AuditActions.Submission && e.StudyId == FederationRun.CensusStudy))["ciphertext_sha256"]!.GetValue<string>();
            Assert.Contains(entries, e => e.Action == AuditActions.ContributionReceived && Detail(e)["node_id"]!.GetValue<string>() == nodeId && Detail(e)["kind"]!.GetValue<string>() == "update" && Detail(e)["sha256"]!.GetValue<string>() == sent);
            Assert.Contains(sent, listed);
        }

        var failed = entries.Single(e => e.Action == AuditActions.StudyFailed && e.StudyId == FederationRun.RefusedStudy);
        Assert.Contains("only 0 node(s) accepted", Detail(failed)["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(3, entries.Count(e => e.Action == AuditActions.StudyDecisionReceived && e.StudyId == FederationRun.RefusedStudy && Detail(e)["decision"]!.GetValue<string>() == "refuse"));

        var v = AuditSource.Open(AuditService.Coordinator, run.CoordinatorDir).Verify(CoordinatorKeys.ReadPublicKey(run.CoordinatorDir));
        Assert.True(v.Ok, string.Join("; ", v.Problems));
    }

    [Fact]
    public void Ftwin_audit_verify_exits_0_on_intact_trails_and_1_naming_the_entry_after_tampering()
    {
        var node = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", SiteA);
        Assert.True(node.ExitCode == 0, node.Stdout + node.Stderr);
        Assert.Contains("audit trail OK", node.Stdout, StringComparison.Ordinal);
        var coordinator = AuditTestSupport.Ftwin("audit", "verify", "--data-dir", run.CoordinatorDir);
        Assert.True(coordinator.ExitCode == 0, coordinator.Stdout + coordinator.Stderr);

        var copy = CopyOf(SiteA);
        var target = AuditTestSupport.NodeEntries(copy).First(e => e.Action == AuditActions.StudyDecision).Seq;
        using (var c = AuditTestSupport.OpenWithoutTriggers(Path.Combine(copy, "node.db")))
        {
            c.Execute("UPDATE audit_log SET detail = replace(detail, '\"accept\"', '\"refuse\"') WHERE seq = @target", new { target });
        }

        var tampered = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", copy);
        Assert.Equal(1, tampered.ExitCode);
        Assert.Contains($"FAILED at entry {target} (altered)", tampered.Stdout, StringComparison.Ordinal);

        var json = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", copy, "--json");
        Assert.Equal(1, json.ExitCode);
        var result = JsonNode.Parse(json.Stdout)!;
        Assert.False(result["ok"]!.GetValue<bool>());
        Assert.Equal("altered", result["first_problem"]!["kind"]!.GetValue<string>());
        Assert.Equal(target, result["first_problem"]!["seq"]!.GetValue<long>());
    }

    [Fact]
    public void The_coordinator_holds_each_nodes_audit_heads_so_a_truncated_node_trail_is_caught_from_outside()
    {
        // The heads site-a's signed requests carried, as the coordinator recorded them.
        var listed = AuditTestSupport.Ftwin("audit", "heads", "--data-dir", run.CoordinatorDir);
        Assert.True(listed.ExitCode == 0, listed.Stderr);
        string nodeId;
        using (var db = TestStore.OpenReadOnly(Path.Combine(SiteA, "node.db")))
        {
            nodeId = db.ExecuteScalar<string>("SELECT node_id FROM enrollment")!;
        }

        var heads = listed.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith(nodeId + " ", StringComparison.Ordinal)).Select(l => l.Split(' ')[1]).ToList();
        Assert.NotEmpty(heads);
        var args = heads.SelectMany(h => new[] { "--head", h }).ToArray();
        var intact = AuditTestSupport.Ftwin(["audit", "verify", "--node-dir", SiteA, .. args]);
        Assert.True(intact.ExitCode == 0, intact.Stdout + intact.Stderr);

        // Cut the trail back below the last head the coordinator saw: the chain itself still verifies, the head does not.
        var copy = CopyOf(SiteA);
        var last = heads.Select(h => long.Parse(h.Split(':')[0], System.Globalization.CultureInfo.InvariantCulture)).Max();
        using (var c = AuditTestSupport.OpenWithoutTriggers(Path.Combine(copy, "node.db")))
        {
            c.Execute("DELETE FROM audit_log WHERE seq >= @last", new { last });
            c.Execute("DELETE FROM audit_checkpoints WHERE seq >= @last", new { last });
        }

        var truncated = AuditTestSupport.Ftwin(["audit", "verify", "--node-dir", copy, .. args]);
        Assert.Equal(1, truncated.ExitCode);
        Assert.Contains($"no longer holds entry {last}", truncated.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Ftwin_audit_verify_exits_2_when_there_is_no_trail_to_read()
    {
        var empty = AuditTestSupport.TempDir("empty");
        var missing = AuditTestSupport.Ftwin("audit", "verify", "--node-dir", empty);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("node.db does not exist", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal(2, AuditTestSupport.Ftwin("audit", "verify", "--node-dir", SiteA, "--data-dir", run.CoordinatorDir).ExitCode);
    }

    [Theory]
    [InlineData("node")]
    [InlineData("coordinator")]
    public void Exported_AuditEvents_parse_with_Firely_and_carry_the_spec_fields(string side)
    {
        var service = side == "node" ? AuditService.Node : AuditService.Coordinator;
        var dir = service == AuditService.Node ? SiteA : run.CoordinatorDir;
        var output = Path.Combine(AuditTestSupport.TempDir("export"), "audit.ndjson");
        var result = AuditTestSupport.Ftwin("audit", "export", service == AuditService.Node ? "--node-dir" : "--data-dir", dir, "--out", output);
        Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);

        var entries = AuditSource.Open(service, dir).Entries;
        var lines = File.ReadAllLines(output);
        Assert.Equal(entries.Count, lines.Length);
        var deserializer = new BaseFhirJsonDeserializer(ModelInfo.ModelInspector, new DeserializerSettings().UsingMode(DeserializationMode.Strict));
        var events = new List<AuditEvent>();
        foreach (var line in lines)
        {
            var reader = new System.Text.Json.Utf8JsonReader(System.Text.Encoding.UTF8.GetBytes(line));
            Assert.True(deserializer.TryDeserializeResource(ref reader, out var resource, out var issues), string.Join("; ", issues.Select(i => i.Message)) + " in " + line);
            var audit = Assert.IsType<AuditEvent>(resource);
            Assert.Empty(audit.Validate(ModelInfo.ModelInspector, NarrativeValidationKind.FhirXhtml, null, validateRecursively: true));
            events.Add(audit);
        }

        Assert.All(events, e =>
        {
            Assert.Equal("http://dicom.nema.org/resources/ontology/DCM", e.Type?.System);
            Assert.NotNull(e.Action);
            Assert.NotNull(e.Recorded);
            Assert.NotNull(e.Outcome);
            Assert.Contains(e.Agent, a => a.Requestor == true);
            Assert.NotNull(e.Source?.Observer?.Identifier);
            Assert.Contains(e.Entity, x => x.What?.Identifier?.System == "https://federatedtwin.example/fhir/sid/audit-entry");
        });
        Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());

        var decision = events.First(e => e.Subtype.Any(s => s.Code == (service == AuditService.Node ? AuditActions.StudyDecision : AuditActions.StudyCreated))
            && e.Entity.Any(x => x.What?.Identifier?.Value == FederationRun.CensusStudy));
        var purpose = Assert.Single(decision.PurposeOfEvent).Coding.Single();
        Assert.Equal(("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HOPERAT"), (purpose.System, purpose.Code));
        var study = decision.Entity.Single(x => x.What?.Identifier?.System == "https://federatedtwin.example/fhir/sid/study-id");
        Assert.Equal(FederationRun.CensusStudy, study.What!.Identifier!.Value);
        Assert.Equal(AuditEvent.AuditEventOutcome.N0, decision.Outcome);

        if (service == AuditService.Node)
        {
            // The refused study: outcome 4 (minor failure) with the reason; the share left the node: DICOM Export, action R.
            var refused = events.Single(e => e.Subtype.Any(s => s.Code == AuditActions.StudyDecision) && e.Entity.Any(x => x.What?.Identifier?.Value == FederationRun.RefusedStudy));
            Assert.Equal(AuditEvent.AuditEventOutcome.N4, refused.Outcome);
            Assert.Contains("purpose of use HRESCH", refused.OutcomeDesc, StringComparison.Ordinal);
            var share = events.First(e => e.Subtype.Any(s => s.Code == AuditActions.DecryptionShareIssued));
            Assert.Equal(("110106", AuditEvent.AuditEventAction.R), (share.Type!.Code, share.Action));

            // Never patient data: no source patient id and no pseudonym appears anywhere in the export.
            var text = File.ReadAllText(output);
            var patientIds = File.ReadLines(Path.Combine(AuditTestSupport.NdjsonSample, "Patient.000.ndjson"))
                .Select(l => JsonNode.Parse(l)!["id"]!.GetValue<string>()).ToList();
            Assert.Equal(13, patientIds.Count);
            Assert.All(patientIds, id => Assert.DoesNotContain(id, text, StringComparison.Ordinal));
            using var connection = TestStore.OpenReadOnly(Path.Combine(SiteA, "node.db"));
            var pseudonyms = connection.Query<string>("SELECT pseudonym FROM patients").ToList();
            Assert.NotEmpty(pseudonyms);
            Assert.All(pseudonyms, p => Assert.DoesNotContain(p, text, StringComparison.Ordinal));
        }
        else
        {
            // A node's contribution: the node is the requestor, the coordinator the observer.
            var received = events.First(e => e.Subtype.Any(s => s.Code == AuditActions.ContributionReceived));
            var requestor = Assert.Single(received.Agent, a => a.Requestor == true);
            Assert.Equal("https://federatedtwin.example/fhir/sid/node-id", requestor.Who!.Identifier!.System);
            Assert.Equal("coordinator", received.Source!.Observer!.Identifier!.Value);
        }
    }

    [Fact]
    public void Export_keeps_only_the_entries_recorded_in_the_given_days()
    {
        var dir = AuditTestSupport.TempDir("range");
        var all = AuditSource.Open(AuditService.Node, SiteA).Entries;
        var lastDay = all.Max(e => e.At)![..10]; // the day of the newest entry, as the node's (real, wall-clock) processes dated it

        var inRange = AuditTestSupport.Ftwin("audit", "export", "--node-dir", SiteA, "--out", Path.Combine(dir, "today.ndjson"), "--from", "2000-01-01", "--to", lastDay);
        Assert.Equal(0, inRange.ExitCode);
        Assert.Equal(all.Count, File.ReadAllLines(Path.Combine(dir, "today.ndjson")).Length);

        var before = AuditTestSupport.Ftwin("audit", "export", "--node-dir", SiteA, "--out", Path.Combine(dir, "before.ndjson"), "--to", "2000-01-01");
        Assert.Equal(0, before.ExitCode);
        Assert.Empty(File.ReadAllLines(Path.Combine(dir, "before.ndjson")));

        Assert.Equal(2, AuditTestSupport.Ftwin("audit", "export", "--node-dir", SiteA, "--out", Path.Combine(dir, "x.ndjson"), "--from", "last tuesday").ExitCode);
    }
}
