using FederatedTwin.Cli.Demo;

namespace FederatedTwin.Federation.Tests;

/// <summary>Real ftwin processes on loopback: the ftwin.dll built beside this test assembly, run with dotnet.</summary>
internal static class TestFederation
{
    private static readonly string[] DefaultSites = ["site-a", "site-b", "site-c"];

    static TestFederation()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "ftwin.dll");
        ChildProcess.FtwinCommand = ("dotnet", [dll]);
    }

    /// <summary>
    /// Each node's privacy ledger for a DP study: the plan charged in full (<paramref name="total"/>), and one entry per
    /// round saying which study, purpose and algorithm spent what.
    /// </summary>
    public static void AssertRoundLedger(LocalFederation federation, string study, double total, double perRound, int rounds, string algorithm, string purpose = "HOPERAT")
    {
        foreach (var n in federation.Nodes)
        {
            using var dir = Node.NodeDirectory.OpenOrInitialize(n.Dir);
            Assert.Equal(total, dir.Store.Read(c => Dapper.SqlMapper.ExecuteScalar<double>(c, "SELECT SUM(rho) FROM privacy_ledger WHERE study_id=@study", new { study })), 12);
            var entries = Node.Policy.PrivacyLedgerReport.Rounds(dir.Store, study);
            Assert.Equal(Enumerable.Range(1, rounds), entries.Select(r => r.Round).Order());
            Assert.All(entries, r =>
            {
                Assert.Equal(perRound, r.Rho, 12);
                Assert.Equal(purpose, r.Purpose);
                Assert.Equal(algorithm, r.Algorithm);
            });
            Assert.Equal(total, entries.Sum(r => r.Rho), 12);
        }
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-test-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static Task<LocalFederation> Start(string name, int nodes = 3, string purposes = "HOPERAT") =>
        LocalFederation.Start(TempDir(name), nodes == 3 ? DefaultSites : [.. Enumerable.Range(0, nodes).Select(i => $"site-{(char)('a' + i)}")], purposes, pollWaitSeconds: 1, CancellationToken.None);

    public static string StudyYaml(string id, string purpose = "HOPERAT", int min = 3, int max = 3, int deadline = 20) => $"""
        id: {id}
        algorithm: federated-sum
        purpose_of_use: {purpose}
        min_nodes: {min}
        max_nodes: {max}
        rounds: 1
        phase_deadline_seconds: {deadline}
        parameters:
          vector: patients_by_age_band_and_sex
        """;

    public static long[] SiteVector(string nodeDir) =>
        System.Text.Json.JsonSerializer.Deserialize<FederatedTwin.Node.SiteInput>(File.ReadAllText(Path.Combine(nodeDir, "site-input.json")), FederatedTwin.Protocol.Federation.WireJson.Options)!
            .Vectors["patients_by_age_band_and_sex"];

    public static long[] Sum(IEnumerable<long[]> vectors) => vectors.Aggregate((a, b) => a.Zip(b, (x, y) => x + y).ToArray());

    public static long[] Sums(System.Text.Json.Nodes.JsonNode study) => study["result"]!["sums"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();

    /// <summary>Runs `dotnet ftwin.dll args` as a real process to its end and returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Ftwin(params string[] args)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ftwin {string.Join(' ', args)} did not finish within 120 s.");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
