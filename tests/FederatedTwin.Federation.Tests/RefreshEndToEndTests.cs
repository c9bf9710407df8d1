using System.Text.Json.Nodes;
using Dapper;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Twins;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Synthetic;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Keeping the twin current end to end (docs/models.md, "Refresh" and "Versions"): a coordinator and three node processes on loopback,
/// each with its own ingested synthetic export. A GLM template with <c>min_nodes_with_new_data: 1</c> runs once; nothing happens while
/// no node's data changes; an ingest at one site publishes a new data version, which its signed work poll carries, and the coordinator
/// offers run 2, which every node decides on under its own site policy; its model is version 2 of the same lineage with its training
/// window, the nodes' own registries use it (the newest) and list version 1 as superseded, `ftwin model versions` and `ftwin model diff`
/// show both, and a scenario run records the version it used. Then a site's policy stops allowing GLMs: run 3, triggered by a
/// further ingest, is declined by that node and fails like any study with too few hospitals, and no run starts beside it.
/// </summary>
public sealed class RefreshEndToEndTests
{
    private const string Lineage = "glm/admission_next_year/hf";

    private static string TemplateYaml() => $"""
        {TestFederation.StudyHeader("hf", "federated-glm")}
          family: binomial
          outcome: admission_next_year
          features: age,sex_male,heart_failure,diabetes,condition_count
          max_rows_per_node: "100000"
          max_abs_feature: "1000"
          holdout: "0.25"
        refresh:
          min_nodes_with_new_data: 1
        """;

    /// <summary>Stops a site's node, ingests another generated export into its store (a new data version), and starts it again.</summary>
    private static void IngestMore(FederatedTwin.Cli.Demo.LocalFederation federation, int site, ulong seed)
    {
        federation.KillNode(site);
        var export = TestFederation.TempDir("refresh-more");
        PopulationGenerator.Generate(120, SyntheticProfile.All[0], seed, export);
        using (var node = NodeDirectory.OpenOrInitialize(federation.Nodes[site].Dir))
        {
            new IngestPipeline(node).Run(export);
        }

        federation.StartNode(site, pollWaitSeconds: 1);
    }

    private static List<string> Runs(FederatedTwin.Cli.Demo.LocalFederation federation)
    {
        using var db = TestStore.OpenReadOnly(Path.Combine(federation.CoordinatorDir, "coordinator.db"));
        return [.. db.Query<string>("SELECT study_id FROM template_runs WHERE template_id='hf' ORDER BY seq")];
    }

    [Fact]
    public async Task Refresh_runs_are_decided_by_each_node_and_add_model_versions_the_nodes_and_the_twin_use()
    {
        using var federation = await SyntheticSites.Start("refresh-e2e", i => 260 + (90 * i), firstSeed: 61);
        var created = await federation.CreateStudy(TemplateYaml(), CancellationToken.None);
        Assert.Equal("hf-r1", created["id"]!.ToString());
        var r1 = await federation.WaitForStudy("hf-r1", TimeSpan.FromSeconds(180), null, CancellationToken.None);
        Assert.True(r1["state"]?.ToString() == "completed", $"run 1 {r1["state"]}: {r1["failure_reason"]}");

        // No node's data changed: the rule holds nothing to count (each node reports the version it accepted run 1 with).
        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Equal(["hf-r1"], Runs(federation));

        IngestMore(federation, site: 0, seed: 901);
        var r2 = await WaitForRun(federation, "hf-r2");
        Assert.True(r2["state"]?.ToString() == "completed", $"run 2 {r2["state"]}: {r2["failure_reason"]}");
        Assert.Equal(3, r2["decisions"]!.AsArray().Count(d => d!["accept"]!.GetValue<bool>()));

        // Each node decided on run 2 itself, and audited its decision with the data version it pinned (site-a's is the newer one).
        foreach (var (name, dir, _) in federation.Nodes)
        {
            using var db = TestStore.OpenReadOnly(Path.Combine(dir, "node.db"));
            var pinned = db.Query<(string Study, long Version)>("SELECT study_id, data_version FROM study_snapshots WHERE study_id IN ('hf-r1','hf-r2') ORDER BY study_id").ToList();
            Assert.Equal(["hf-r1", "hf-r2"], pinned.Select(p => p.Study));
            Assert.True(name == "site-a" ? pinned[1].Version > pinned[0].Version : pinned[1].Version == pinned[0].Version, $"{name}: {string.Join(", ", pinned)}");
        }

        // The registry keeps both versions of the lineage, each with its training window.
        var coordinatorStore = CoordinatorStore.Sqlite(federation.CoordinatorDir);
        var versions = ModelVersions.Of(coordinatorStore, Lineage);
        Assert.Equal(["glm/admission_next_year/hf-r1", "glm/admission_next_year/hf-r2"], versions.Select(v => v.Id));
        Assert.Equal([1, 2], versions.Select(v => v.Version));
        Assert.All(versions, v =>
        {
            Assert.Equal(Lineage, v.Lineage);
            Assert.True(v.Released, v.NotReleasedReason);
            Assert.Equal(3, v.TrainingWindow!.Participants);
            Assert.Equal(3, v.TrainingWindow.ParticipantsWithKnownDataVersion);
            Assert.Equal("hf", v.TrainingWindow.Template);
        });
        Assert.Equal([1, 2], versions.Select(v => v.TrainingWindow!.Run!.Value));

        // The nodes' own registries use the newest version and list the older one as superseded by it.
        await Eventually.Until(() => NodeModels(federation.Nodes[1].Dir).Listing.Count(l => l.Id.StartsWith("glm/admission_next_year/hf-", StringComparison.Ordinal)) == 2,
            TimeSpan.FromSeconds(30), "site-b to fetch both versions");
        var released = NodeModels(federation.Nodes[1].Dir);
        Assert.Contains(released.Models, m => m.Id == "glm/admission_next_year/hf-r2");
        Assert.DoesNotContain(released.Models, m => m.Id == "glm/admission_next_year/hf-r1");
        Assert.Equal("glm/admission_next_year/hf-r2", released.Listing.Single(l => l.Id == "glm/admission_next_year/hf-r1").SupersededBy);

        // The CLI lists the versions and compares them through the admin API.
        var listed = TestFederation.Ftwin("model", "versions", "glm/admission_next_year/hf-r1", "--coordinator", federation.CoordinatorAdminUrl.ToString(), "--admin-token", federation.AdminToken, "--json");
        Assert.True(listed.ExitCode == 0, listed.Stderr);
        Assert.Equal(2, JsonNode.Parse(listed.Stdout)!.AsArray().Count);
        var diffed = TestFederation.Ftwin("model", "diff", Lineage, "--from", "1", "--to", "2", "--coordinator", federation.CoordinatorAdminUrl.ToString(), "--admin-token", federation.AdminToken, "--json");
        Assert.True(diffed.ExitCode == 0, diffed.Stderr);
        var diff = JsonNode.Parse(diffed.Stdout)!;
        var v1 = GlmTerms(r1);
        var v2 = GlmTerms(r2);
        var coefficients = diff["coefficients"]!.AsArray();
        Assert.Equal(v1.Keys.Order(StringComparer.Ordinal), coefficients.Select(c => c!["term"]!.ToString()).Order(StringComparer.Ordinal));
        foreach (var c in coefficients)
        {
            var term = c!["term"]!.ToString();
            Assert.Equal(v2[term] - v1[term], c["difference"]!.GetValue<double>(), 12);
            Assert.NotEqual(0, c["difference"]!.GetValue<double>()); // site-a's new patients change every coefficient
            Assert.Equal(Math.Abs(c["difference"]!.GetValue<double>()) > c["combined_std_error"]!.GetValue<double>(), c["exceeds_combined_std_error"]!.GetValue<bool>());
        }

        Assert.Contains(diff["evaluation"]!.AsArray(), e => e!["measure"]!.ToString() == "auc" && e["from"] is not null && e["to"] is not null);
        Assert.NotEmpty(diff["calibration"]!.AsArray());

        // A scenario run on the coordinator's registry records the versions it used: the newest, or the one it was pinned to.
        using (var runs = new ScenarioRuns(coordinatorStore, new ApplicationLifetime(NullLogger<ApplicationLifetime>.Instance), NullLogger<ScenarioRuns>.Instance))
        {
            var newest = runs.Start(ScenarioYaml, ScenarioTwin.Registry, "test");
            var pinned = runs.Start(ScenarioYaml, ScenarioTwin.Registry, "test", "glm/admission_next_year/hf-r1");
            await Eventually.Until(() => newest.State is ScenarioRunState.Completed or ScenarioRunState.Failed && pinned.State is ScenarioRunState.Completed or ScenarioRunState.Failed,
                TimeSpan.FromSeconds(120), "both scenario runs to end");
            Assert.True(newest.State == ScenarioRunState.Completed, newest.Failure);
            Assert.True(pinned.State == ScenarioRunState.Completed, pinned.Failure);
            Assert.Contains(new ModelVersionUsed("glm/admission_next_year/hf-r2", Lineage, 2), newest.ModelVersions);
            Assert.Contains(new ModelVersionUsed("glm/admission_next_year/hf-r1", Lineage, 1), pinned.ModelVersions);
            Assert.DoesNotContain(pinned.ModelVersions, v => v.Id == "glm/admission_next_year/hf-r2");
            Assert.Contains("glm/admission_next_year/hf-r2", newest.Result!.ModelIds);
        }

        // site-c's policy no longer allows the algorithm: run 3 (site-a ingests again) is declined there and fails as any study would.
        var policy = Path.Combine(federation.Nodes[2].Dir, "policy.yaml");
        var changed = System.Text.Encoding.UTF8.GetBytes((await File.ReadAllTextAsync(policy)).Replace("federated-glm, ", string.Empty, StringComparison.Ordinal));
        using (var officer = Ed25519Identity.Import(Convert.FromBase64String((await File.ReadAllTextAsync(Path.Combine(FederatedTwin.Cli.Demo.DemoRoster.OfficersDir(federation.Root), "site-c.key"))).Trim())))
        {
            // A policy change takes effect only with the site's compliance officer's signature (`ftwin policy sign`).
            await File.WriteAllTextAsync(policy + ".sig", FederatedTwin.Node.Policy.PolicySignature.Sign(changed, officer).ToJson());
        }

        await File.WriteAllBytesAsync(policy, changed);
        IngestMore(federation, site: 0, seed: 902);
        var r3 = await WaitForRun(federation, "hf-r3");
        Assert.Equal("failed", r3["state"]?.ToString());
        Assert.True(r3["decisions"]!.AsArray().Count(d => !d!["accept"]!.GetValue<bool>()) == 1, r3.ToJsonString());
        var declined = r3["decisions"]!.AsArray().Single(d => !d!["accept"]!.GetValue<bool>())!;
        Assert.Equal("site-c", declined["name"]!.ToString());
        Assert.Equal("algorithms_allowed", declined["rule"]!.ToString()); // the site policy's own rule
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(["hf-r1", "hf-r2", "hf-r3"], Runs(federation)); // a failed run's participants are its baseline: nothing new since
        Assert.Equal(2, ModelVersions.Of(coordinatorStore, Lineage).Count);
    }

    private const string ScenarioYaml = """
        name: refresh check
        start_year: 2027
        horizon: 2
        population: 1500
        replicates: 3
        seed: 7
        models: demo
        interventions:
          - name: chf-transitional-care
            target:
              condition: heart_failure
            start_year: 2027
            coverage: [0.5]
            cost_pmpm: 150
            effects:
              - outcome: admissions
                relative_risk: { estimate: 0.75, ci95: [0.64, 0.88] }
                source: Phillips CO et al., JAMA 2004;291(11):1358-67.
        """;

    private static ReleasedModels NodeModels(string dir)
    {
        using var node = NodeDirectory.OpenOrInitialize(dir);
        return NodeModelRegistry.Released(node);
    }

    private static Dictionary<string, double> GlmTerms(JsonNode study) =>
        study["result"]!["model"]!["terms"]!.AsArray().ToDictionary(t => t!["name"]!.ToString(), t => t!["coefficient"]!.GetValue<double>(), StringComparer.Ordinal);

    private static async Task<JsonNode> WaitForRun(FederatedTwin.Cli.Demo.LocalFederation federation, string id)
    {
        await Eventually.Until(() => Runs(federation).Contains(id), TimeSpan.FromSeconds(60), $"{id} to be created");
        return await federation.WaitForStudy(id, TimeSpan.FromSeconds(180), null, CancellationToken.None);
    }
}
