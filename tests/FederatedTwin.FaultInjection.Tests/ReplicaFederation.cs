using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Synthetic;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>
/// Two coordinator replicas (real `ftwin coordinator run` processes) on one throwaway PostgreSQL cluster, a <see cref="LoadBalancer"/>
/// in front of them, and three real node processes enrolled through it, each with its own generated population ingested through the
/// real pipeline (docs/operations.md, "Running replicas"). The second replica's data directory is a copy of the first's keys and admin
/// token, so both sign as the same coordinator and accept the same admin token; the store they share is the PostgreSQL database.
/// </summary>
internal sealed class ReplicaFederation : IDisposable
{
    private readonly ChildProcess?[] _replicas = new ChildProcess?[2];
    private readonly List<ChildProcess> _nodes = [];

    private ReplicaFederation(string root, PostgresCluster cluster, string connectionString)
    {
        Root = root;
        Cluster = cluster;
        ConnectionString = connectionString;
        Ports = [ChildProcess.FreeLoopbackPort(), ChildProcess.FreeLoopbackPort()];
        AdminPorts = [ChildProcess.FreeLoopbackPort(), ChildProcess.FreeLoopbackPort()];
        Balancer = new LoadBalancer(Ports);
    }

    public string Root { get; }

    public PostgresCluster Cluster { get; }

    /// <summary>The coordinator's database, which both replicas share.</summary>
    public string ConnectionString { get; }

    public int[] Ports { get; }

    public int[] AdminPorts { get; }

    public LoadBalancer Balancer { get; }

    public string AdminToken { get; private set; } = string.Empty;

    public List<(string Name, string Dir, int AdminPort)> Nodes { get; } = [];

    public string ReplicaDir(int i) => Path.Combine(Root, "coordinator-" + (char)('a' + i));

    public AdminClient Admin(int replica) => new(new Uri($"http://127.0.0.1:{AdminPorts[replica]}"), AdminToken);

    public int ReplicaProcessId(int i) => _replicas[i]?.Id ?? throw new InvalidOperationException($"Replica {i} is not running.");

    public bool ReplicaRunning(int i) => _replicas[i] is { HasExited: false };

    public static async Task<ReplicaFederation> Start(string name, int patients, ulong firstSeed)
    {
        Faults.Init();
        var cluster = PostgresCluster.Start();
        ReplicaFederation? federation = null;
        try
        {
            federation = new ReplicaFederation(Faults.TempDir(name), cluster, cluster.CreateDatabase("coordinator"));
            await federation.Build(patients, firstSeed);
            return federation;
        }
        catch
        {
            if (federation is null)
            {
                cluster.Dispose();
            }

            federation?.Dispose();
            throw;
        }
    }

    private async Task Build(int patients, ulong firstSeed)
    {
        var ct = CancellationToken.None;
        using (var store = FederatedTwin.Coordinator.Storage.CoordinatorStore.Postgres(ConnectionString))
        {
            AdminToken = CoordinatorCommands.IssueAdminToken(ReplicaDir(0), store, "failover test");
        }

        await StartReplica(0);
        // The second replica: the same identity (sealed key and its key ring) and admin token, copied from the first's directory.
        CopyDirectory(ReplicaDir(0), ReplicaDir(1));
        await StartReplica(1);

        using var http = new HttpClient { BaseAddress = Balancer.Url };
        var identity = await http.GetFromJsonAsync<JsonObject>("/v1/identity", ct) ?? throw new InvalidOperationException("no identity");
        var coordinatorKey = $"{identity["public_key"]}";
        using var admin = Admin(0);
        for (var i = 0; i < Faults.Sites.Length; i++)
        {
            var dir = Path.Combine(Root, "nodes", Faults.Sites[i]);
            using (var node = NodeDirectory.OpenOrInitialize(dir))
            {
                var export = Faults.TempDir("replicas-export");
                PopulationGenerator.Generate(patients, SyntheticProfile.All[i % SyntheticProfile.All.Count], firstSeed + (ulong)i, export);
                new IngestPipeline(node).Run(export);
                await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(coordinatorKey, "HOPERAT"), ct);
                var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens", cancellationToken: ct))!["token"]!.ToString();
                await Enrollment.Enroll(node, Balancer.Url, token, Faults.Sites[i], null, TimeProvider.System, ct);
            }

            Nodes.Add((Faults.Sites[i], dir, ChildProcess.FreeLoopbackPort()));
        }

        var roster = DemoRoster.Establish(Root, [.. Nodes.Select(n => (n.Name, n.Dir))]);
        await admin.Send(HttpMethod.Post, "/v1/admin/roster", new ByteArrayContent(roster.ToJson()), ct);
        for (var i = 0; i < Nodes.Count; i++)
        {
            var (nodeName, dir, port) = Nodes[i];
            _nodes.Add(ChildProcess.StartFtwin(["node", "run", "--node-dir", dir, "--admin-url", $"http://127.0.0.1:{port}", "--poll-wait", "1"], Path.Combine(Root, "logs", nodeName + ".log")));
        }

        for (var i = 0; i < Nodes.Count; i++)
        {
            var health = new Uri($"http://127.0.0.1:{Nodes[i].AdminPort}/health/ready");
            await Eventually.Until(() => Ready(health), TimeSpan.FromSeconds(60), $"node {Nodes[i].Name} to be ready");
        }
    }

    /// <summary>Starts replica <paramref name="i"/> (again) on its ports, its own data directory and the shared database.</summary>
    public async Task StartReplica(int i)
    {
        _replicas[i]?.Dispose();
        _replicas[i] = ChildProcess.StartFtwin(
            ["coordinator", "run", "--data-dir", ReplicaDir(i), "--urls", $"http://127.0.0.1:{Ports[i]}", "--admin-url", $"http://127.0.0.1:{AdminPorts[i]}",
             "--store", "postgres", "--postgres", ConnectionString],
            Path.Combine(Root, "logs", $"coordinator-{(char)('a' + i)}.log"));
        var health = new Uri($"http://127.0.0.1:{AdminPorts[i]}/health/ready");
        await Eventually.Until(() => _replicas[i]!.HasExited ? throw new InvalidOperationException($"replica {i} exited at start: {Faults.ReadShared(LogPath(i))}") : Ready(health), TimeSpan.FromSeconds(60), $"replica {i} to be ready");
    }

    public string LogPath(int i) => Path.Combine(Root, "logs", $"coordinator-{(char)('a' + i)}.log");

    /// <summary>kill -9 of a replica.</summary>
    public void KillReplica(int i) => _replicas[i]?.Kill();

    /// <summary>GET /v1/admin/replica of a replica (null when it does not answer).</summary>
    public async Task<JsonNode?> ReplicaStatus(int i)
    {
        try
        {
            using var admin = Admin(i);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            return await admin.Send(HttpMethod.Get, "/v1/admin/replica", cancellationToken: timeout.Token);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Which replica leads now (by its own account), waiting for one to.</summary>
    public async Task<int> Leader(TimeSpan timeout)
    {
        var found = -1;
        await Eventually.Until(async () =>
        {
            for (var i = 0; i < 2; i++)
            {
                if (ReplicaRunning(i) && (await ReplicaStatus(i))?["leader"]?.GetValue<bool>() == true)
                {
                    found = i;
                    return true;
                }
            }

            return false;
        }, timeout, "a replica to lead");
        return found;
    }

    public async Task<JsonNode> CreateStudy(int replica, string yaml)
    {
        using var admin = Admin(replica);
        return (await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, Encoding.UTF8, "application/yaml")))!;
    }

    /// <summary>A study's detail from whichever replica answers.</summary>
    public async Task<JsonNode?> Study(string id)
    {
        for (var i = 0; i < 2; i++)
        {
            if (!ReplicaRunning(i))
            {
                continue;
            }

            try
            {
                using var admin = Admin(i);
                return await admin.Send(HttpMethod.Get, $"/v1/admin/studies/{id}");
            }
            catch (HttpRequestException)
            {
                // that replica is going down: the other
            }
        }

        return null;
    }

    public async Task<JsonNode> Ended(string id, TimeSpan timeout)
    {
        JsonNode? study = null;
        await Eventually.Until(async () => (study = await Study(id))?["state"]?.ToString() is "completed" or "failed" or "cancelled", timeout, $"study {id} to end");
        return study!;
    }

    /// <summary>A registry document through a replica's admin API.</summary>
    public async Task<JsonNode> Model(string id)
    {
        for (var i = 0; i < 2; i++)
        {
            if (ReplicaRunning(i))
            {
                using var admin = Admin(i);
                return (await admin.Send(HttpMethod.Get, "/v1/admin/models/" + id))!;
            }
        }

        throw new InvalidOperationException("No replica runs.");
    }

    private static async Task<bool> Ready(Uri health)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            return (await http.GetAsync(health)).IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static void CopyDirectory(string from, string to)
    {
        FederatedTwin.Hosting.Files.OwnerOnly.CreateDirectory(to);
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            FederatedTwin.Hosting.Files.OwnerOnly.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        }

        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories).Where(f => !Path.GetFileName(f).StartsWith("coordinator.db", StringComparison.Ordinal)))
        {
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
        }
    }

    public void Dispose()
    {
        foreach (var n in _nodes)
        {
            n.Stop(TimeSpan.FromSeconds(5));
            n.Dispose();
        }

        foreach (var r in _replicas)
        {
            r?.Stop(TimeSpan.FromSeconds(5));
            r?.Dispose();
        }

        Balancer.Dispose();
        Cluster.Dispose();
    }
}
