using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Cli.Bench;

/// <summary>What `ftwin bench federation` runs.</summary>
/// <param name="Nodes">Nodes in the federation (at least 3: the bench's site policy's minimum_nodes, as the demo's).</param>
/// <param name="Store">The coordinator's store: sqlite, or postgres (a throwaway cluster the bench starts).</param>
/// <param name="Rounds">Rounds of the measured study (1 moments round + rounds − 1 Newton rounds); null: until the fit converges.</param>
/// <param name="PatientsPerNode">Generated patients per node.</param>
/// <param name="NodeProcesses">Processes the nodes are spread over (each `ftwin node run-many`); N: one process per node.</param>
internal sealed record FederationBenchOptions(int Nodes, string Store, int? Rounds, int PatientsPerNode, int NodeProcesses, bool Json);

/// <summary>
/// `ftwin bench federation`: the protocol's cost as the federation grows. A coordinator as its own process (real HTTP on loopback,
/// its own store) and N nodes, each a whole NodeHost with its own directory, node.db, keys, site policy, pinned N-member roster
/// (approved by N compliance officers) and HttpClient, enrolled as a hospital enrolls, spread over k `ftwin node run-many`
/// processes (k = N: one process per node; on 2 cores N .NET processes do not fit beyond a few, so by default k = 1 above 3
/// nodes). Each node has a few hundred generated patients ingested through the real pipeline: the point is the protocol's cost
/// (key shares, commitments, openings, ciphertexts, announcements and their checks, all O(N) per node and O(N²) in all), which
/// does not depend on the patients, not the local GLM's (a few milliseconds on 300 patients).
///
/// The model is a 5-feature binomial GLM (exact, no DP), preceded by an unreported 2-round warm-up study (JIT, connection pools).
/// Figures of the measured study: seconds per round from the coordinator's own round timings (attempt start to decrypted sum);
/// coordinator CPU (user and system) from /proc/PID/stat before the study starts running and after it completes, over its
/// rounds; node CPU likewise over the node processes; bytes per node per round: the nodes' HTTP bodies to and from the
/// coordinator (counted on each node's HttpClient) over the same span, divided by nodes and rounds; the per-phase split from the
/// coordinator's audit trail (attempt started, key commitments complete, collective key formed, update commitments complete,
/// aggregated, decrypted).
/// All nodes connect from 127.0.0.1, so the coordinator's per-address limit (Coordinator:NodeRequestsPerMinutePerAddress, 6,000 a
/// minute, which a real federation's hospitals, each at its own address, never share) is raised for the bench through its
/// configuration (FTWIN_Coordinator__NodeRequestsPerMinutePerAddress); the per-node limit stays as configured.
/// </summary>
internal static class FederationBenchmark
{
    internal const string Features = RoundsBenchmark.Features5;

    /// <summary>The raised per-address limit (CoordinatorOptions' largest): N nodes on one address.</summary>
    private const int PerAddressLimit = 1_000_000;

    public static async Task<int> Run(FederationBenchOptions o, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken)
    {
        if (o.Nodes is < 3 or > 1000)
        {
            await stderr.WriteLineAsync("error: --nodes must be between 3 (the site policies' minimum_nodes) and 1000");
            return 2;
        }

        if (o.Rounds is < 2)
        {
            await stderr.WriteLineAsync("error: --rounds must be at least 2 (the GLM's moments round and one Newton round)");
            return 2;
        }

        if (o.NodeProcesses < 1 || o.NodeProcesses > o.Nodes)
        {
            await stderr.WriteLineAsync("error: --node-processes must be between 1 and --nodes");
            return 2;
        }

        if (o.Store is not ("sqlite" or "postgres"))
        {
            await stderr.WriteLineAsync("error: --store is sqlite or postgres");
            return 2;
        }

        if (!OperatingSystem.IsLinux())
        {
            await stderr.WriteLineAsync("error: bench federation reads process CPU times from /proc (Linux only)");
            return 2;
        }

        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        var root = Path.Combine(Path.GetTempPath(), "ftwin-bench-federation-" + Guid.NewGuid().ToString("N")[..8]);
        OwnerOnly.CreateDirectory(root);
        var children = new List<ChildProcess>();
        BenchPostgres? postgres = null;
        var keep = false;
        try
        {
            List<string> storeArguments = [];
            if (o.Store == "postgres")
            {
                try
                {
                    postgres = BenchPostgres.Start(Path.Combine(root, "postgres"));
                }
                catch (BenchPostgresMissingException e)
                {
                    await stderr.WriteLineAsync($"error: {e.Message}");
                    return 2;
                }

                storeArguments = ["--store", "postgres", "--postgres", postgres.ConnectionString];
            }

            var setup = Stopwatch.StartNew();
            var coordinatorDir = Path.Combine(root, "coordinator");
            OwnerOnly.CreateDirectory(coordinatorDir);
            var (port, adminPort) = (ChildProcess.FreeLoopbackPort(), ChildProcess.FreeLoopbackPort());
            var coordinatorUrl = new Uri($"http://127.0.0.1:{port}");
            var adminUrl = new Uri($"http://127.0.0.1:{adminPort}");
            string adminToken;
            using (var store = postgres is null ? FederatedTwin.Coordinator.Storage.CoordinatorStore.Sqlite(coordinatorDir) : FederatedTwin.Coordinator.Storage.CoordinatorStore.Postgres(postgres.ConnectionString))
            {
                adminToken = CoordinatorCommands.IssueAdminToken(coordinatorDir, store, "ftwin bench federation (" + Environment.UserName + ")");
            }

            var coordinator = ChildProcess.StartFtwin(
                ["coordinator", "run", "--data-dir", coordinatorDir, "--urls", coordinatorUrl.ToString().TrimEnd('/'), "--admin-url", adminUrl.ToString().TrimEnd('/'), .. storeArguments],
                Path.Combine(root, "logs", "coordinator.log"),
                new Dictionary<string, string> { ["FTWIN_Coordinator__NodeRequestsPerMinutePerAddress"] = PerAddressLimit.ToString(CultureInfo.InvariantCulture) });
            children.Add(coordinator);
            await LocalFederation.WaitReady(new Uri(coordinatorUrl, "/health/ready"), coordinator, cancellationToken);
            using var admin = new AdminClient(adminUrl, adminToken);
            string coordinatorKey;
            using (var http = new HttpClient { BaseAddress = coordinatorUrl })
            {
                coordinatorKey = $"{(await http.GetFromJsonAsync<JsonObject>("/v1/identity", cancellationToken))!["public_key"]}";
            }

            var nodes = new List<(string Name, string Dir, int AdminPort)>();
            for (var i = 0; i < o.Nodes; i++)
            {
                var name = $"hospital-{i + 1:D3}";
                var dir = Path.Combine(root, "nodes", name);
                var export = Path.Combine(root, "exports", name);
                using (var node = NodeDirectory.OpenOrInitialize(dir))
                {
                    PopulationGenerator.Generate(o.PatientsPerNode, SyntheticProfile.All[i % SyntheticProfile.All.Count], (ulong)(i + 1), export);
                    new IngestPipeline(node).Run(export, cancellationToken: cancellationToken);
                    await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(coordinatorKey, "HOPERAT"), cancellationToken);
                    var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens", cancellationToken: cancellationToken))!["token"]!.ToString();
                    await Enrollment.Enroll(node, coordinatorUrl, token, name, null, TimeProvider.System, cancellationToken);
                }

                Directory.Delete(export, recursive: true);
                nodes.Add((name, dir, ChildProcess.FreeLoopbackPort()));
                if ((i + 1) % 10 == 0)
                {
                    await stderr.WriteLineAsync($"bench federation: {i + 1} of {o.Nodes} nodes ingested and enrolled");
                }
            }

            var roster = DemoRoster.Establish(root, [.. nodes.Select(n => (n.Name, n.Dir))]);
            await admin.Send(HttpMethod.Post, "/v1/admin/roster", new ByteArrayContent(roster.ToJson()), cancellationToken);

            // The node processes: nodes dealt round-robin over k `node run-many` processes.
            var nodeProcesses = new List<(ChildProcess Process, string TrafficFile)>();
            for (var k = 0; k < o.NodeProcesses; k++)
            {
                var mine = nodes.Where((_, i) => i % o.NodeProcesses == k).ToList();
                var list = Path.Combine(root, $"nodes-{k}.txt");
                await File.WriteAllLinesAsync(list, mine.Select(n => $"{n.Dir}\thttp://127.0.0.1:{n.AdminPort}"), cancellationToken);
                var traffic = Path.Combine(root, $"traffic-{k}.json");
                var process = ChildProcess.StartFtwin(["node", "run-many", "--node-dirs-file", list, "--poll-wait", "10", "--traffic-file", traffic], Path.Combine(root, "logs", $"nodes-{k}.log"));
                children.Add(process);
                nodeProcesses.Add((process, traffic));
            }

            for (var i = 0; i < nodes.Count; i++)
            {
                await LocalFederation.WaitReady(new Uri($"http://127.0.0.1:{nodes[i].AdminPort}/health/ready"), nodeProcesses[i % o.NodeProcesses].Process, cancellationToken);
            }

            var setupSeconds = setup.Elapsed.TotalSeconds;
            await stderr.WriteLineAsync($"bench federation: {o.Nodes} nodes ready in {setupSeconds:F0} s ({o.NodeProcesses} node process(es)); warm-up study");

            var deadline = PhaseDeadlineSeconds(o.Nodes);
            var warmUp = await RunStudy(admin, "bench-federation-warm-up", GlmYaml("bench-federation-warm-up", o.Nodes, 2, deadline), null, null, cancellationToken);
            if (warmUp.Study["state"]?.ToString() != "completed")
            {
                await stderr.WriteLineAsync($"error: the warm-up study ended {warmUp.Study["state"]}: {warmUp.Study["failure_reason"]} (logs kept: {Keep(root)})");
                keep = true;
                return 1;
            }

            await stderr.WriteLineAsync("bench federation: measured study");
            int[] pids = [.. nodeProcesses.Select(p => p.Process.Id)];
            var measured = await RunStudy(admin, "bench-federation", GlmYaml("bench-federation", o.Nodes, o.Rounds, deadline), coordinator.Id, (pids, [.. nodeProcesses.Select(p => p.TrafficFile)], coordinatorDir), cancellationToken);
            if (measured.Study["state"]?.ToString() != "completed")
            {
                await stderr.WriteLineAsync($"error: the measured study ended {measured.Study["state"]}: {measured.Study["failure_reason"]} (logs kept: {Keep(root)})");
                keep = true;
                return 1;
            }

            var phases = o.Store == "sqlite" ? PhaseSplit(coordinatorDir, "bench-federation") : null;
            var result = Report(o, measured, phases, load, setupSeconds);
            await stdout.WriteLineAsync(o.Json ? result.ToJsonString() : string.Join(Environment.NewLine, result.Select(p => $"{p.Key}: {p.Value?.ToJsonString()}")));

            // Clean stops: the nodes, then the coordinator (their audit trails sign their heads).
            Parallel.ForEach(nodeProcesses, p => p.Process.Stop(TimeSpan.FromSeconds(20)));
            coordinator.Stop(TimeSpan.FromSeconds(20));
            return 0;
        }
        finally
        {
            children.ForEach(c => c.Dispose());
            postgres?.Dispose();
            if (!keep)
            {
                try
                {
                    Directory.Delete(root, recursive: true);
                }
                catch (IOException)
                {
                    // best effort: a temp folder
                }
            }
        }
    }

    private static string Keep(string root) => Path.Combine(root, "logs");

    /// <summary>Per phase: generous at scale (a phase's deadline supersedes the attempt; the bench wants none).</summary>
    private static int PhaseDeadlineSeconds(int nodes) => Math.Max(60, nodes * 4);

    internal static string GlmYaml(string id, int nodes, int? rounds, int phaseDeadlineSeconds) => $"""
        id: {id}
        algorithm: federated-glm
        purpose_of_use: HOPERAT
        min_nodes: {nodes}
        max_nodes: {nodes}
        phase_deadline_seconds: {phaseDeadlineSeconds}
        parameters:
          family: binomial
          outcome: admission_next_year
          features: {Features}
          max_rows_per_node: "100000"
          max_abs_feature: "2100"
        {(rounds is { } r ? $"  max_iterations: \"{r - 1}\"" : string.Empty)}
        """;

    private sealed record Sample(double CoordinatorUser, double CoordinatorSystem, double NodesUser, double NodesSystem, long Sent, long Received, long Requests, long StoreBytes, DateTimeOffset At);

    private sealed record StudyRun(JsonNode Study, Sample? Before, Sample? After);

    /// <summary>Creates the study and waits for its end; with pids, samples CPU and traffic once it runs and once it completed.</summary>
    private static async Task<StudyRun> RunStudy(AdminClient admin, string id, string yaml, int? coordinatorPid, (int[] Pids, string[] TrafficFiles, string CoordinatorDir)? nodes, CancellationToken cancellationToken)
    {
        await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, Encoding.UTF8, "application/yaml"), cancellationToken);
        Sample? before = null;
        var timeout = Stopwatch.StartNew();
        while (true)
        {
            var study = (await admin.Send(HttpMethod.Get, $"/v1/admin/studies/{id}", cancellationToken: cancellationToken))!;
            var state = study["state"]?.ToString();
            if (before is null && coordinatorPid is { } pid && state is not "offered")
            {
                before = Take(pid, nodes!.Value);
            }

            if (state is "completed" or "failed" or "cancelled")
            {
                Sample? after = null;
                if (coordinatorPid is { } p)
                {
                    await Task.Delay(600, cancellationToken); // the traffic files are rewritten every 250 ms
                    after = Take(p, nodes!.Value);
                }

                return new StudyRun(study, before, after);
            }

            if (timeout.Elapsed > TimeSpan.FromHours(1))
            {
                throw new TimeoutException($"Study {id} did not end within an hour (state {state}).");
            }

            await Task.Delay(before is null ? 20 : 250, cancellationToken);
        }
    }

    private static readonly string[] StoreFiles = ["coordinator.db", "coordinator.db-wal"];

    /// <summary>The coordinator's SQLite files (database and write-ahead log); 0 for a store elsewhere.</summary>
    private static long StoreBytes(string coordinatorDir) =>
        StoreFiles.Select(f => new FileInfo(Path.Combine(coordinatorDir, f))).Where(f => f.Exists).Sum(f => f.Length);

    private static Sample Take(int coordinatorPid, (int[] Pids, string[] TrafficFiles, string CoordinatorDir) nodes)
    {
        var (cu, cs) = Cpu(coordinatorPid);
        double nu = 0, ns = 0;
        foreach (var pid in nodes.Pids)
        {
            var (u, s) = Cpu(pid);
            (nu, ns) = (nu + u, ns + s);
        }

        long sent = 0, received = 0, requests = 0;
        foreach (var file in nodes.TrafficFiles)
        {
            foreach (var n in JsonNode.Parse(File.ReadAllText(file))!["nodes"]!.AsArray())
            {
                sent += n!["sent"]!.GetValue<long>();
                received += n["received"]!.GetValue<long>();
                requests += n["requests"]!.GetValue<long>();
            }
        }

        return new Sample(cu, cs, nu, ns, sent, received, requests, StoreBytes(nodes.CoordinatorDir), TimeProvider.System.GetUtcNow());
    }

    /// <summary>A process's user and system CPU seconds (proc(5): fields 14 and 15 of /proc/PID/stat, in clock ticks).</summary>
    internal static (double User, double System) Cpu(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after "pid (comm) ": field 3 is fields[0]
        double ticks = ClockTicks;
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) / ticks, long.Parse(fields[12], CultureInfo.InvariantCulture) / ticks);
    }

    private static readonly long ClockTicks = SysConf(2) is var t and > 0 ? t : 100; // _SC_CLK_TCK

    [DllImport("libc", EntryPoint = "sysconf")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern long SysConf(int name);

    private static JsonObject Report(FederationBenchOptions o, StudyRun measured, JsonObject? phases, string load, double setupSeconds)
    {
        var study = measured.Study;
        var rounds = study["rounds"]!.AsArray().Select(r => r!["latency_ms"]!.GetValue<double>() / 1000).ToList();
        var attempts = study["attempts"]?.AsArray().Count ?? rounds.Count;
        var (before, after) = (measured.Before!, measured.After!);
        var n = rounds.Count;
        double PerRound(double x) => Math.Round(x / n, 4);
        var model = study["result"]?["model"];
        return new JsonObject
        {
            ["nodes"] = o.Nodes,
            ["rounds"] = n,
            ["seconds_per_round"] = Math.Round(rounds.Average(), 3),
            ["p95_seconds_per_round"] = Math.Round(Percentile(rounds, 0.95), 3),
            ["median_seconds_per_round"] = Math.Round(Percentile(rounds, 0.5), 3),
            ["round_seconds"] = new JsonArray([.. rounds.Select(x => (JsonNode)Math.Round(x, 3))]),
            ["coordinator_cpu_s_per_round"] = PerRound(after.CoordinatorUser + after.CoordinatorSystem - before.CoordinatorUser - before.CoordinatorSystem),
            ["coordinator_user_cpu_s_per_round"] = PerRound(after.CoordinatorUser - before.CoordinatorUser),
            ["coordinator_system_cpu_s_per_round"] = PerRound(after.CoordinatorSystem - before.CoordinatorSystem),
            ["node_cpu_s_per_round"] = PerRound(after.NodesUser + after.NodesSystem - before.NodesUser - before.NodesSystem),
            ["node_cpu_s_per_node_per_round"] = Math.Round((after.NodesUser + after.NodesSystem - before.NodesUser - before.NodesSystem) / n / o.Nodes, 4),
            ["bytes_per_node_per_round"] = Math.Round((double)(after.Sent + after.Received - before.Sent - before.Received) / n / o.Nodes),
            ["bytes_sent_per_node_per_round"] = Math.Round((double)(after.Sent - before.Sent) / n / o.Nodes),
            ["bytes_received_per_node_per_round"] = Math.Round((double)(after.Received - before.Received) / n / o.Nodes),
            ["requests_per_node_per_round"] = Math.Round((double)(after.Requests - before.Requests) / n / o.Nodes, 1),
            ["phase_seconds_per_round"] = phases,
            ["coordinator_store_growth_bytes_per_round"] = o.Store == "sqlite" ? Math.Round((double)(after.StoreBytes - before.StoreBytes) / n) : null,
            ["attempts"] = attempts,
            ["store"] = o.Store,
            ["node_processes"] = o.NodeProcesses,
            ["patients_per_node"] = o.PatientsPerNode,
            ["patient_years"] = model?["rows"]?.GetValue<long>(),
            ["model"] = $"federated-glm binomial admission_next_year, {Features.Split(',').Length} features, exact",
            ["converged"] = model?["converged"]?.GetValue<bool>(),
            ["measured_span_seconds"] = Math.Round((after.At - before.At).TotalSeconds, 2),
            ["setup_seconds"] = Math.Round(setupSeconds, 1),
            ["bytes_measured_as"] = "HTTP bodies to and from the coordinator, counted on each node's HttpClient (headers not counted)",
            ["rate_limit"] = $"Coordinator:NodeRequestsPerMinutePerAddress raised to {PerAddressLimit} (every node on 127.0.0.1)",
            ["cores"] = Environment.ProcessorCount,
            ["load_average_1m_at_start"] = double.Parse(load, CultureInfo.InvariantCulture),
        };
    }

    private static double Percentile(List<double> values, double p)
    {
        // Nearest rank on the sorted values, interpolated (R's type 7, as numpy's default).
        var sorted = values.Order().ToList();
        var h = (sorted.Count - 1) * p;
        var lo = (int)Math.Floor(h);
        return lo + 1 < sorted.Count ? sorted[lo] + ((h - lo) * (sorted[lo + 1] - sorted[lo])) : sorted[lo];
    }

    /// <summary>
    /// Mean seconds per round of each phase, from the coordinator's audit trail (read-only): key_commit (attempt started to the
    /// key-share commitments complete), key_open (to the collective key), update_commit (to the update commitments complete),
    /// update_open (to the aggregate), decrypt (to the decrypted sum).
    /// </summary>
    private static JsonObject PhaseSplit(string coordinatorDir, string study)
    {
        var entries = AuditSource.Open(AuditService.Coordinator, coordinatorDir).Entries.Where(e => e.StudyId == study).ToList();
        var marks = new Dictionary<(long Round, long Attempt), Dictionary<string, DateTimeOffset>>();
        foreach (var e in entries)
        {
            using var detail = JsonDocument.Parse(e.Detail);
            if (!detail.RootElement.TryGetProperty("round", out var round) || !detail.RootElement.TryGetProperty("attempt", out var attempt))
            {
                continue;
            }

            var mark = e.Action switch
            {
                AuditActions.AttemptStarted => "start",
                AuditActions.CommitmentsComplete when detail.RootElement.GetProperty("kind").GetString() == ContributionKind.KeyShare => "key_commit",
                AuditActions.CommitmentsComplete => "update_commit",
                AuditActions.CollectiveKeyFormed => "key_open",
                AuditActions.RoundAggregated => "update_open",
                AuditActions.ResultDecrypted => "decrypt",
                _ => null,
            };
            if (mark is not null)
            {
                var key = (round.GetInt64(), attempt.GetInt64());
                marks.TryAdd(key, []);
                marks[key][mark] = DateTimeOffset.Parse(e.At, CultureInfo.InvariantCulture);
            }
        }

        string[] order = ["start", "key_commit", "key_open", "update_commit", "update_open", "decrypt"];
        var complete = marks.Values.Where(m => order.All(m.ContainsKey)).ToList();
        var split = new JsonObject();
        for (var i = 1; i < order.Length; i++)
        {
            split[order[i]] = complete.Count == 0 ? null : Math.Round(complete.Average(m => (m[order[i]] - m[order[i - 1]]).TotalSeconds), 3);
        }

        return split;
    }
}
