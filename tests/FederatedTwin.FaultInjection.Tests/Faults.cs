using System.Diagnostics;
using System.Runtime.InteropServices;
using Dapper;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Synthetic;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>The phases of a round at which a process is killed (docs/protocol.md): what the coordinator's store says of the current attempt.</summary>
public enum RoundPhase
{
    /// <summary>key_commit: the victim has made (or is making) its key share and not yet committed to it.</summary>
    Keygen,

    /// <summary>update_commit: the collective key is announced; the victim has not committed to its update.</summary>
    Commit,

    /// <summary>update_open: the update commitments are complete; the victim has not sent its encrypted update.</summary>
    Submit,

    /// <summary>decrypt, before any decryption share: the coordinator has summed the updates into the aggregate.</summary>
    Aggregate,

    /// <summary>decrypt with at least one share in and the victim's missing.</summary>
    Decrypt,
}

/// <summary>
/// Real ftwin processes on loopback (the ftwin.dll built beside this assembly, run with dotnet), and the means to fault them: kill -9,
/// and SIGSTOP/SIGCONT to hold a process still while the test reads which phase the round is in (a paused node cannot contribute, so
/// the phase it owes stays open: a kill then lands in that phase, found from the coordinator's store, never by sleeping).
/// </summary>
internal static class Faults
{
    public static readonly string[] Sites = ["site-a", "site-b", "site-c"];

    private const int SigStop = 19, SigCont = 18;

    static Faults()
    {
        ChildProcess.FtwinCommand = ("dotnet", [Path.Combine(AppContext.BaseDirectory, "ftwin.dll")]);
    }

    /// <summary>Makes sure the static constructor has pointed <see cref="ChildProcess"/> at this build's ftwin.dll.</summary>
    public static void Init()
    {
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Pauses a process (SIGSTOP): it keeps its sockets and files but does nothing until <see cref="Resume"/>.</summary>
    public static void Pause(int pid) => Assert.Equal(0, SendSignal(pid, SigStop));

    /// <summary>Resumes a paused process (SIGCONT); a process that has gone is ignored.</summary>
    public static void Resume(int pid) => _ = SendSignal(pid, SigCont);

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-faults-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Three node processes, each with its own generated population ingested through the real pipeline, and a coordinator.</summary>
    public static Task<LocalFederation> StartSynthetic(string name, int patients, ulong firstSeed) =>
        LocalFederation.Start(TempDir(name), Sites, "HOPERAT", pollWaitSeconds: 1, CancellationToken.None, (i, node) =>
        {
            var export = TempDir(name + "-export");
            PopulationGenerator.Generate(patients, SyntheticProfile.All[i % SyntheticProfile.All.Count], firstSeed + (ulong)i, export);
            new IngestPipeline(node).Run(export);
        });

    /// <summary>Three nodes with a seeded census (site-input.json) and a coordinator: the cheapest federation that runs a round.</summary>
    public static Task<LocalFederation> StartCensus(string name) =>
        LocalFederation.Start(TempDir(name), Sites, "HOPERAT", pollWaitSeconds: 1, CancellationToken.None);

    public static string CensusYaml(string id, int deadline) => $"""
        id: {id}
        algorithm: federated-sum
        purpose_of_use: HOPERAT
        min_nodes: 3
        max_nodes: 3
        rounds: 1
        phase_deadline_seconds: {deadline}
        parameters:
          vector: patients_by_age_band_and_sex
        """;

    public static long[] SiteVector(string nodeDir) =>
        System.Text.Json.JsonSerializer.Deserialize<FederatedTwin.Node.SiteInput>(File.ReadAllText(Path.Combine(nodeDir, "site-input.json")), WireJson.Options)!
            .Vectors["patients_by_age_band_and_sex"];

    public static long[] CensusTruth(LocalFederation federation) =>
        federation.Nodes.Select(n => SiteVector(n.Dir)).Aggregate((a, b) => a.Zip(b, (x, y) => x + y).ToArray());

    public static long[] Sums(System.Text.Json.Nodes.JsonNode study) => study["result"]!["sums"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray();

    /// <summary>Runs `dotnet ftwin.dll args` to its end; returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Ftwin(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(180_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ftwin {string.Join(' ', args)} did not finish within 180 s.");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Every audit chain of the federation verifies: each node's and the coordinator's, under the key in its own directory.</summary>
    public static void AssertAuditChainsVerify(LocalFederation federation)
    {
        foreach (var (name, dir, _) in federation.Nodes)
        {
            AssertAuditVerifies(AuditService.Node, dir, name);
        }

        AssertAuditVerifies(AuditService.Coordinator, federation.CoordinatorDir, "coordinator");
    }

    public static void AssertAuditVerifies(AuditService service, string dir, string name)
    {
        var source = AuditSource.Open(service, dir);
        var result = source.Verify(source.ServicePublicKey());
        Assert.True(result.Ok, $"{name}'s audit chain: {string.Join("; ", result.Problems.Select(p => p.ToString()))}");
    }

    /// <summary>PRAGMA integrity_check of a store, read on the test's own connection.</summary>
    public static void AssertIntact(string dbPath)
    {
        using var c = TestStore.OpenReadOnly(dbPath);
        Assert.Equal("ok", c.ExecuteScalar<string>("PRAGMA integrity_check"));
    }

    /// <summary>Restarts whatever of the federation is not running (a test that failed half-way leaves the next one a whole federation).</summary>
    public static async Task Heal(LocalFederation federation)
    {
        foreach (var pid in federation.Nodes.Select((_, i) => i).Where(i => !federation.NodeExited(i)).Select(federation.NodeProcessId))
        {
            Resume(pid);
        }

        if (federation.CoordinatorExited)
        {
            await Eventually.Until(() => NothingListensOn(federation.CoordinatorUrl), TimeSpan.FromSeconds(30), "the coordinator's port to be free");
            await federation.StartCoordinator(CancellationToken.None);
        }
        else
        {
            Resume(federation.CoordinatorProcessId);
        }

        for (var i = 0; i < federation.Nodes.Count; i++)
        {
            if (federation.NodeExited(i))
            {
                federation.StartNode(i, 1);
            }
        }
    }

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

    /// <summary>Kills the coordinator (kill -9) and starts it again on the same port and store, with <paramref name="arguments"/>.</summary>
    public static async Task RestartCoordinator(LocalFederation federation, params string[] arguments)
    {
        federation.KillCoordinator();
        await Eventually.Until(() => federation.CoordinatorExited && NothingListensOn(federation.CoordinatorUrl), TimeSpan.FromSeconds(30), "the killed coordinator to let its port go");
        await federation.StartCoordinator(CancellationToken.None, arguments);
    }

    /// <summary>A study's detail once it has ended.</summary>
    public static async Task<System.Text.Json.Nodes.JsonNode> Ended(LocalFederation federation, string id, int seconds = 180) =>
        await federation.WaitForStudy(id, TimeSpan.FromSeconds(seconds), null, CancellationToken.None);

    public static void AssertCompleted(System.Text.Json.Nodes.JsonNode study) =>
        Assert.True(study["state"]?.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}; attempts {study["attempts"]?.ToJsonString()}");

    /// <summary>The last lines of a process's log (for a failure message).</summary>
    public static string LogTail(LocalFederation federation, string name, int lines = 30)
    {
        var path = Path.Combine(federation.Root, "logs", name + ".log");
        return File.Exists(path) ? string.Join('\n', ReadShared(path).Split('\n').TakeLast(lines)) : "(no log)";
    }

    /// <summary>A log file the process still writes to.</summary>
    public static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
