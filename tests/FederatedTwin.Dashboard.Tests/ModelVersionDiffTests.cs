using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Synthetic;
using OpenQA.Selenium;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>
/// A federation of its own (the shared one's registry must keep one admission model for the scenario tests): three node processes
/// with ingested synthetic exports, an analyst account, and a GLM study template refreshed once after one site ingests more patients,
/// so the registry holds versions 1 and 2 of one lineage.
/// </summary>
public sealed class VersionedFederation : IAsyncLifetime
{
    public const string Template = "admission-refresh";
    public const string Lineage = "glm/admission_next_year/" + Template;

    private LocalFederation? _federation;
    private OpenQA.Selenium.Chrome.ChromeDriver? _browser;

    internal LocalFederation Federation => _federation ?? throw new InvalidOperationException("The federation did not start.");

    internal DashboardSession Browser() => new(_browser ??= Chromium.Start(), Federation.CoordinatorUrl);

    public JsonNode? Run1 { get; private set; }

    public JsonNode? Run2 { get; private set; }

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            return;
        }

        _federation = await LocalFederation.Start(DashboardFederation.TempDir("versions"), ["north", "south", "east"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, (i, node) =>
        {
            node.WriteSiteInput(SiteInput.Synthetic(i + 1));
            Ingest(node, 260 + (80 * i), (ulong)(71 + i));
        });
        await AddAnalyst();
        await Federation.CreateStudy($"""
            id: {Template}
            algorithm: federated-glm
            purpose_of_use: HOPERAT
            min_nodes: 3
            max_nodes: 3
            phase_deadline_seconds: 40
            parameters:
              family: binomial
              outcome: admission_next_year
              features: age,sex_male,heart_failure,diabetes,condition_count
              max_rows_per_node: "100000"
              max_abs_feature: "1000"
              holdout: "0.25"
            refresh:
              min_nodes_with_new_data: 1
            """, CancellationToken.None);
        Run1 = await Federation.WaitForStudy(Template + "-r1", TimeSpan.FromSeconds(180), null, CancellationToken.None);

        // One site publishes a new data version (more patients); its next work poll says so and the template runs again.
        Federation.KillNode(0);
        using (var node = NodeDirectory.OpenOrInitialize(Federation.Nodes[0].Dir))
        {
            Ingest(node, 150, 977);
        }

        Federation.StartNode(0, pollWaitSeconds: 1);
        var deadline = DateTimeOffset.UtcNow.AddSeconds(240);
        using var admin = Federation.Admin;
        while (Run2 is null && DateTimeOffset.UtcNow < deadline)
        {
            await Task.Delay(500);
            var studies = (await admin.Send(HttpMethod.Get, "/v1/admin/studies"))!.AsArray();
            if (studies.Any(s => s!["id"]!.ToString() == Template + "-r2"))
            {
                Run2 = await Federation.WaitForStudy(Template + "-r2", TimeSpan.FromSeconds(180), null, CancellationToken.None);
            }
        }

        await admin.Send(HttpMethod.Post, $"/v1/admin/templates/{Template}/stop");
    }

    private static void Ingest(NodeDirectory node, int patients, ulong seed)
    {
        var export = DashboardFederation.TempDir("versions-export");
        PopulationGenerator.Generate(patients, SyntheticProfile.All[(int)(seed % (ulong)SyntheticProfile.All.Count)], seed, export);
        new IngestPipeline(node).Run(export);
    }

    private async Task AddAnalyst()
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ftwin.dll"), "coordinator", "user", "add", "--data-dir", Federation.CoordinatorDir, "ana", "--role", "analyst", "--password-stdin" })
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteLineAsync(DashboardFederation.Password);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"ftwin coordinator user add ana: {output}");
    }

    public Task DisposeAsync()
    {
        _browser?.Quit();
        _browser?.Dispose();
        _federation?.Dispose();
        return Task.CompletedTask;
    }
}

/// <summary>The model diff page: two versions of a refreshed lineage, their coefficients, evaluation and calibration, and a scenario under each.</summary>
public sealed class ModelVersionDiffTests(VersionedFederation federation) : IClassFixture<VersionedFederation>
{
    [BrowserFact]
    public void The_diff_page_shows_each_coefficient_in_both_versions_and_a_scenario_under_each()
    {
        Assert.True(federation.Run1?["state"]?.ToString() == "completed", $"run 1: {federation.Run1}");
        Assert.True(federation.Run2?["state"]?.ToString() == "completed", $"run 2: {federation.Run2}");
        var v1 = Terms(federation.Run1!);
        var v2 = Terms(federation.Run2!);

        using var browser = federation.Browser();
        browser.SignIn("ana");
        browser.Go("/models/view?id=" + Uri.EscapeDataString(VersionedFederation.Lineage.Replace(VersionedFederation.Template, VersionedFederation.Template + "-r2", StringComparison.Ordinal)));
        Assert.Equal(2, browser.FindAll("#versions tbody tr").Count);
        Assert.Contains("2 of " + VersionedFederation.Lineage, browser.Find("#model-version").Text, StringComparison.Ordinal);
        Assert.Contains("run 2 of template " + VersionedFederation.Template, browser.Find("#training-window").Text, StringComparison.Ordinal);
        browser.Find("#versions a[href^='/models/diff']").Click();
        browser.Until(() => browser.Path == "/models/diff", TimeSpan.FromSeconds(15), "the diff page");

        // One row per coefficient, with both values and their difference as the registry documents give them.
        var rows = browser.FindAll("#coefficient-diff tbody tr");
        Assert.Equal(v1.Count, rows.Count);
        foreach (var row in rows)
        {
            var cells = row.FindElements(By.CssSelector("td"));
            var term = row.FindElement(By.CssSelector("th")).Text;
            Assert.Equal(Round(v1[term]), cells[0].Text);
            Assert.Equal(Round(v2[term]), cells[1].Text);
            Assert.Equal(Round(v2[term] - v1[term]), cells[2].Text);
            Assert.Contains(cells[4].Text, new[] { "yes", "no" });
        }

        Assert.Contains(browser.FindAll("#evaluation-diff tbody tr"), r => r.FindElement(By.CssSelector("th")).Text == "auc");
        Assert.NotEmpty(browser.FindAll("#calibration-diff tbody tr"));

        // The same scenario under each version: both results with their intervals, and the models each run used.
        var yaml = browser.Find("#diff-yaml");
        yaml.Clear();
        yaml.SendKeys(Scenario);
        browser.Find("#run-diff-scenario").Click();
        browser.Until(() => browser.Driver.Url.Contains("runTo=", StringComparison.Ordinal), TimeSpan.FromSeconds(15), "the runs to start");
        var url = new Uri(browser.Driver.Url).PathAndQuery;
        browser.Until(() =>
        {
            browser.Go(url);
            return browser.FindAll("#scenario-diff").Count > 0 || browser.FindAll("#scenario-diff-failed").Count > 0;
        }, TimeSpan.FromSeconds(120), "both scenario runs to finish");
        Assert.Empty(browser.FindAll("#scenario-diff-failed"));
        Assert.Equal(3, browser.FindAll("#scenario-diff tbody tr").Count);
        var used = browser.Find(".model-versions").Text;
        Assert.Contains(VersionedFederation.Template + "-r1 (v1)", used, StringComparison.Ordinal);
        Assert.Contains(VersionedFederation.Template + "-r2 (v2)", used, StringComparison.Ordinal);
        browser.Screenshot("model-diff");
    }

    private const string Scenario = """
        name: Transitional care under two model versions
        start_year: 2027
        horizon: 2
        population: 2000
        replicates: 3
        seed: 11
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

    private static string Round(double value) => value.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture);

    private static Dictionary<string, double> Terms(JsonNode study) =>
        study["result"]!["model"]!["terms"]!.AsArray().ToDictionary(t => t!["name"]!.ToString(), t => t!["coefficient"]!.GetValue<double>(), StringComparer.Ordinal);
}
