using System.Diagnostics;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Dashboard.Tests;

/// <summary>
/// One local federation for all the dashboard tests: a coordinator and three nodes as real `ftwin` processes on
/// loopback (the Federation tests' harness), each node with a census input and a small synthetic FHIR export
/// ingested through the real pipeline, dashboard accounts made with `ftwin coordinator user add`, and a federated
/// GLM trained in the background so the model pages have a model with its evaluation.
/// </summary>
public sealed class DashboardFederation : IAsyncLifetime
{
    public const string Password = "correct-horse-battery";
    public const string GlmStudy = "readmission-glm";

    /// <summary>The staffed beds each node declares (node-config.json), which the twins page's census chart draws.</summary>
    public const int StaffedBeds = 3;

    private static readonly string[] Features = ["age", "sex_male", "heart_failure", "diabetes", "copd", "condition_count", "inpatient_admissions", "ed_visits"];

    private LocalFederation? _federation;
    private OpenQA.Selenium.Chrome.ChromeDriver? _browser;
    private Task<JsonNode>? _glm;

    static DashboardFederation()
    {
        ChildProcess.FtwinCommand = ("dotnet", [Path.Combine(AppContext.BaseDirectory, "ftwin.dll")]);
    }

    internal LocalFederation Federation => _federation ?? throw new InvalidOperationException("The federation did not start.");

    public Uri Url => Federation.CoordinatorUrl;

    /// <summary>The browser as a new visitor to the coordinator, or to another site of the federation (a node's status page).</summary>
    internal DashboardSession Browser(Uri? site = null) => new(_browser ??= Chromium.Start(), site ?? Url);

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-dashboard-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            return; // every test here is skipped: start nothing
        }

        var profiles = SyntheticProfile.All;
        _federation = await LocalFederation.Start(TempDir("federation"), ["st-marys", "riverside", "lakeview"], "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, (i, node) =>
        {
            node.WriteSiteInput(SiteInput.Synthetic(i + 1));
            var export = TempDir("export");
            PopulationGenerator.Generate(200 + (60 * i), profiles[i % profiles.Count], (ulong)(21 + i), export);
            new IngestPipeline(node).Run(export);
            new NodeConfiguration(StaffedBeds).Save(node.Path);
        });
        foreach (var (name, role) in new[] { ("ada", "admin"), ("ana", "analyst"), ("otto", "auditor"), ("lou", "analyst") })
        {
            await AddUser(name, role);
        }

        await Federation.CreateStudy($"""
            id: {GlmStudy}
            algorithm: federated-glm
            purpose_of_use: HOPERAT
            description: Admission next year by age, sex and chronic conditions
            min_nodes: 3
            max_nodes: 3
            phase_deadline_seconds: 40
            parameters:
              family: binomial
              outcome: admission_next_year
              features: {string.Join(",", Features)}
              max_rows_per_node: "100000"
              max_abs_feature: "1000"
              holdout: "0.25"
            """, CancellationToken.None);
        _glm = Federation.WaitForStudy(GlmStudy, TimeSpan.FromSeconds(150), null, CancellationToken.None);
    }

    /// <summary>The GLM study once it has ended (it trains while the first tests run).</summary>
    public Task<JsonNode> Glm => _glm ?? throw new InvalidOperationException("The federation did not start.");

    /// <summary>Creates a dashboard account the way an operator does: `ftwin coordinator user add`, password on standard input.</summary>
    private async Task AddUser(string name, string role)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "ftwin.dll"), "coordinator", "user", "add", "--data-dir", Federation.CoordinatorDir, name, "--role", role, "--password-stdin" })
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteLineAsync(Password);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"ftwin coordinator user add {name}: {output}");
    }

    public Task DisposeAsync()
    {
        _browser?.Quit();
        _browser?.Dispose();
        _federation?.Dispose();
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardFederation>
{
    public const string Name = "dashboard";
}
