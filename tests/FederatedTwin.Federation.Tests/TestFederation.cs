using FederatedTwin.Cli.Demo;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Federation.Tests;

/// <summary>Real ftwin processes on loopback: the ftwin.dll built beside this test assembly, run with dotnet.</summary>
internal static class TestFederation
{
    /// <summary>The first lines of a study.yaml for three HOPERAT nodes, up to "parameters:" (the caller adds them, indented by two).</summary>
    public static string StudyHeader(string id, string algorithm, int? rounds = 1) =>
        $"id: {id}\nalgorithm: {algorithm}\npurpose_of_use: HOPERAT\nmin_nodes: 3\nmax_nodes: 3\n"
        + (rounds is { } r ? $"rounds: {r}\n" : string.Empty)
        + "phase_deadline_seconds: 30\nparameters:";

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

    /// <summary>
    /// A roster change as a federation makes it: the next version with the members <paramref name="change"/> gives, approved by every
    /// site's compliance officer (their keys are where the local federation's set-up left them), published by the ACO for the nodes to
    /// fetch; returns once every node has pinned it.
    /// </summary>
    public static async Task<SignedRoster> UpdateRoster(LocalFederation federation, Func<IReadOnlyList<RosterMember>, IReadOnlyList<RosterMember>> change)
    {
        var current = SignedRoster.Parse(File.ReadAllBytes(DemoRoster.RosterPath(federation.Root)));
        var next = new SignedRoster(current.Roster with { Version = current.Roster.Version + 1, Members = change(current.Roster.Members) }, []);
        foreach (var key in Directory.GetFiles(DemoRoster.OfficersDir(federation.Root), "*.key"))
        {
            using var officer = Ed25519Identity.Import(Convert.FromBase64String(File.ReadAllText(key).Trim()));
            next = next.Approve(officer);
        }

        File.WriteAllBytes(DemoRoster.RosterPath(federation.Root), next.ToJson());
        using (var admin = federation.Admin)
        {
            await admin.Send(HttpMethod.Post, "/v1/admin/roster", new ByteArrayContent(next.ToJson()));
        }

        foreach (var (_, dir, _) in federation.Nodes)
        {
            await Eventually.Until(() => ReadPinnedVersion(dir) >= next.Roster.Version, TimeSpan.FromSeconds(60), $"{dir} to pin roster version {next.Roster.Version}",
                () => $"version {ReadPinnedVersion(dir)}");
        }

        return next;
    }

    private static long ReadPinnedVersion(string nodeDir)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return Dapper.SqlMapper.ExecuteScalar<long?>(connection, "SELECT MAX(version) FROM rosters") ?? 0;
    }

    /// <summary>Whether nothing accepts connections on the loopback port of <paramref name="url"/> (a killed service has let it go).</summary>
    public static bool NothingListensOn(Uri url)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            client.Connect(System.Net.IPAddress.Loopback, url.Port);
            return false;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return true;
        }
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-test-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <param name="postgres">The coordinator's PostgreSQL database (null: coordinator.db).</param>
    public static Task<LocalFederation> Start(string name, int nodes = 3, string purposes = "HOPERAT", string? postgres = null) =>
        LocalFederation.Start(TempDir(name), nodes == 3 ? DefaultSites : [.. Enumerable.Range(0, nodes).Select(i => $"site-{(char)('a' + i)}")], purposes, pollWaitSeconds: 1, CancellationToken.None, postgres: postgres);

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
    public static (int ExitCode, string Stdout, string Stderr) Ftwin(params string[] args) => Ftwin(TimeSpan.FromSeconds(120), args);

    /// <summary>Runs `dotnet ftwin.dll args` as a real process, given up to <paramref name="timeout"/>.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Ftwin(TimeSpan timeout, params string[] args)
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
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ftwin {string.Join(' ', args)} did not finish within {timeout.TotalSeconds} s.");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
