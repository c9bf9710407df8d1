using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.Audit.Tests;

/// <summary>What a node writes to its audit trail, from a real node directory and real components.</summary>
public sealed class NodeAuditTests
{
    private static readonly StudySpec Census = new(new StudyId("census"), "federated-sum", new PurposeOfUse("HOPERAT"), 3, 5, 1, 30);

    private static JsonObject Detail(AuditEntry e) => JsonNode.Parse(e.Detail)!.AsObject();

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    [Fact]
    public void A_new_node_directory_records_its_keys_and_token_and_opening_it_again_records_nothing()
    {
        var dir = AuditTestSupport.TempDir("init");
        string publicKey;
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            publicKey = node.Identity.PublicKey;
        }

        using (NodeDirectory.OpenOrInitialize(dir))
        {
        }

        var entries = AuditTestSupport.NodeEntries(dir);
        Assert.Equal([AuditActions.AuditTrailStarted, AuditActions.IdentityKeyCreated, AuditActions.AdminTokenCreated, AuditActions.PseudonymKeyCreated], entries.Select(e => e.Action));
        Assert.Equal(publicKey, Detail(entries[0])["public_key"]!.GetValue<string>());
        Assert.Equal(publicKey, Detail(entries[1])["public_key"]!.GetValue<string>());
        Assert.All(entries, e => Assert.Equal("node-unenrolled", e.Actor));
        Assert.True(AuditTestSupport.VerifyNode(dir, publicKey).Ok);
    }

    [Fact]
    public void Ingest_records_counts_quarantine_reasons_and_exclusions_and_signs_a_checkpoint()
    {
        var export = AuditTestSupport.TempDir("export");
        File.WriteAllLines(Path.Combine(export, "Patient.000.ndjson"),
        [
            """{"resourceType":"Patient","id":"p-audit-1","gender":"female","birthDate":"1960-04-02","name":[{"family":"Quarantinesen"}]}""",
            """{"resourceType":"Patient","id":"p-audit-2","gender":"male","birthDate":"1950-01-01"}""",
            """{"resourceType":"Patient", this line is broken""",
        ]);
        File.WriteAllLines(Path.Combine(export, "Condition.000.ndjson"),
        [
            """{"resourceType":"Condition","id":"c-sud","subject":{"reference":"Patient/p-audit-1"},"code":{"coding":[{"system":"http://snomed.info/sct","code":"6525002"}]},"onsetDateTime":"2021-05-01"}""",
        ]);
        File.WriteAllLines(Path.Combine(export, "Consent.000.ndjson"),
        [
            """{"resourceType":"Consent","id":"k1","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"research"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"57016-8"}]}],"patient":{"reference":"Patient/p-audit-2"},"dateTime":"2021-01-01T00:00:00Z","provision":{"type":"deny","period":{"start":"2021-01-01T00:00:00Z"},"purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"HRESCH"}]}}""",
        ]);
        var dir = AuditTestSupport.TempDir("ingest");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        var summary = new IngestPipeline(node).Run(export);
        Assert.Equal(1, summary.Quarantined);

        var entries = AuditTestSupport.NodeEntries(dir);
        var ingest = Detail(entries.Single(e => e.Action == AuditActions.IngestRun));
        Assert.Equal(5, ingest["lines_read"]!.GetValue<long>());
        Assert.Equal(4, ingest["accepted"]!.GetValue<long>());
        Assert.Equal(1, ingest["quarantined"]!.GetValue<long>());
        Assert.Equal(1, ingest["quarantine_reasons"]!["invalid_json"]!.GetValue<long>());
        Assert.Equal(3, ingest["files"]!.GetValue<long>());
        var exclusions = Detail(entries.Single(e => e.Action == AuditActions.ExclusionsCounted));
        Assert.Equal(1, exclusions["sensitive_records_excluded"]!["sud"]!.GetValue<long>());
        Assert.True(exclusions["consent_denied_patient_years"]!["HRESCH"]!.GetValue<long>() > 0);

        // Counts, never who: no pseudonym, source id, name or file name is in any entry.
        var pseudonyms = node.Store.Read(c => c.Query<string>("SELECT pseudonym FROM patients").ToList());
        Assert.Equal(2, pseudonyms.Count);
        var all = string.Join("\n", entries.Select(e => e.Detail + e.Actor + e.StudyId));
        Assert.All(pseudonyms, p => Assert.DoesNotContain(p, all, StringComparison.Ordinal));
        Assert.DoesNotContain("p-audit", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Quarantinesen", all, StringComparison.Ordinal);
        Assert.DoesNotContain("Patient.000", all, StringComparison.Ordinal);

        var v = AuditTestSupport.VerifyNode(dir, node.Identity.PublicKey);
        Assert.True(v.Ok, string.Join("; ", v.Problems));
        Assert.Equal(v.LastSeq, v.LastCheckpointSeq); // the run ends with a signed checkpoint
    }

    [Fact]
    public void A_policy_is_recorded_when_it_is_new_or_changed_and_an_invalid_one_once()
    {
        var dir = AuditTestSupport.TempDir("policy");
        using var node = NodeDirectory.OpenOrInitialize(dir);
        var first = Sha256(node.PolicyPath);
        node.LoadPolicy();
        node.LoadPolicy();
        File.WriteAllText(node.PolicyPath, LocalFederation.DemoPolicy(Ed25519Identity.Generate().PublicKey, "HOPERAT"));
        var second = Sha256(node.PolicyPath);
        node.LoadPolicy();
        File.WriteAllText(node.PolicyPath, "version: 1\nminimum_nodes: 1\n");
        Assert.Throws<SitePolicyException>(node.LoadPolicy);
        Assert.Throws<SitePolicyException>(node.LoadPolicy);

        var policy = AuditTestSupport.NodeEntries(dir).Where(e => e.Action is AuditActions.PolicyLoaded or AuditActions.PolicyRejected).ToList();
        Assert.Equal([AuditActions.PolicyLoaded, AuditActions.PolicyLoaded, AuditActions.PolicyRejected], policy.Select(e => e.Action));
        Assert.Equal(first, Detail(policy[0])["sha256"]!.GetValue<string>());
        Assert.Equal(second, Detail(policy[1])["sha256"]!.GetValue<string>());
        Assert.Equal(first, Detail(policy[1])["previous_sha256"]!.GetValue<string>());
        Assert.Equal(["HOPERAT"], Detail(policy[1])["purposes_allowed"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(AuditOutcome.SeriousFailure, policy[2].Outcome);
        Assert.Contains("minimum_nodes", Detail(policy[2])["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(second, Detail(policy[2])["policy_in_force_sha256"]!.GetValue<string>());
    }

    [Fact]
    public void A_refused_decryption_share_is_recorded_with_its_reason_at_the_time_of_the_nodes_clock()
    {
        var dir = AuditTestSupport.TempDir("refusal");
        var clock = AuditTestSupport.Clock();
        using var node = NodeDirectory.OpenOrInitialize(dir, time: clock);
        var participant = new RoundParticipant(node, RlweThresholdScheme.Default, [new LocalFederatedSum()], NullLogger<RoundParticipant>.Instance, clock);
        clock.Advance(TimeSpan.FromMinutes(5));
        var announced = clock.GetUtcNow().AddMinutes(-1); // the deadline the coordinator announces; the node keeps its own
        var work = new WorkItem(WorkKind.Decrypt, Census, 2, 3, announced);
        var aggregate = new AggregateAnnouncement(Census.Id, 2, 3, [], new CommitmentSet(Census.Id, 2, 3, ContributionKind.Update, new byte[32], []), [], announced);

        var e = Assert.Throws<ParticipationRefusedException>(() => participant.DecryptionShare(work, aggregate));

        var entries = AuditTestSupport.NodeEntries(dir);
        var refusal = entries.Single(x => x.Action == AuditActions.DecryptionShareRefused);
        Assert.Equal(AuditOutcome.MinorFailure, refusal.Outcome);
        Assert.Equal("census", refusal.StudyId);
        Assert.Equal("HOPERAT", refusal.PurposeOfUse);
        Assert.Equal(2, Detail(refusal)["round"]!.GetValue<int>());
        Assert.Equal(3, Detail(refusal)["attempt"]!.GetValue<int>());
        Assert.Equal(e.Message, Detail(refusal)["reason"]!.GetValue<string>());
        Assert.Equal(AuditChain.Timestamp(clock.GetUtcNow()), refusal.At);
        Assert.Equal(AuditChain.Timestamp(AuditTestSupport.Epoch), entries[0].At); // the directory's keys, created five minutes before
    }

    [Fact]
    public async Task The_node_service_records_its_start_stop_and_admin_authentication_failures()
    {
        var dir = AuditTestSupport.TempDir("service");
        string publicKey;
        using (var init = NodeDirectory.OpenOrInitialize(dir))
        {
            publicKey = init.Identity.PublicKey;
        }

        var url = $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}";
        var app = NodeHost.Build([], o =>
        {
            o.NodeDir = dir;
            o.AdminUrl = url;
            o.RetryDelayMilliseconds = 60_000;
        });
        await app.StartAsync();
        using (var http = new HttpClient { BaseAddress = new Uri(url) })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("/v1/status", UriKind.Relative))).StatusCode);
        }

        await app.StopAsync();
        await app.DisposeAsync();

        var entries = AuditTestSupport.NodeEntries(dir);
        var actions = entries.Select(e => e.Action).ToList();
        Assert.Contains(AuditActions.ServiceStarted, actions);
        Assert.Contains(AuditActions.PolicyLoaded, actions);
        var failure = entries.Single(e => e.Action == AuditActions.AdminAuthenticationFailure);
        Assert.Equal(AuditOutcome.SeriousFailure, failure.Outcome);
        Assert.Equal("/v1/status", Detail(failure)["path"]!.GetValue<string>());
        Assert.Equal(AuditActions.ServiceStopped, actions[^1]);
        var v = AuditTestSupport.VerifyNode(dir, publicKey);
        Assert.True(v.Ok, string.Join("; ", v.Problems));
        Assert.Equal(0, v.UnsignedTail); // signed at shutdown
    }
}
