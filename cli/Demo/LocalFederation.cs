using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// A coordinator and N nodes as separate OS processes on loopback, each with its own directory,
/// enrolled, with the federation roster approved by each hospital's compliance officer and pinned on
/// every node (<see cref="DemoRoster"/>), and ready: what `ftwin demo` runs and what the end-to-end tests drive.
/// </summary>
internal sealed class LocalFederation : IDisposable
{
    private readonly List<ChildProcess> _nodes = [];
    private ChildProcess? _coordinator;

    private string? _adminToken;

    private LocalFederation(string root, int coordinatorPort, int adminPort, LocalTls? tls, string? postgres)
    {
        Root = root;
        Tls = tls;
        Postgres = postgres;
        CoordinatorUrl = new Uri($"{(tls is null ? "http" : "https")}://127.0.0.1:{coordinatorPort}");
        CoordinatorAdminUrl = new Uri($"http://127.0.0.1:{adminPort}");
    }

    /// <summary>The TLS set-up when the node listener is https (tests), or null: plain http on loopback (the demo).</summary>
    public LocalTls? Tls { get; }

    /// <summary>The coordinator's PostgreSQL database (a connection string without password), or null: coordinator.db in its directory.</summary>
    public string? Postgres { get; }

    /// <summary>The coordinator's store, opened as `ftwin coordinator` commands open it (the caller disposes it).</summary>
    public FederatedTwin.Coordinator.Storage.CoordinatorStore OpenCoordinatorStore() =>
        Postgres is { } connectionString ? FederatedTwin.Coordinator.Storage.CoordinatorStore.Postgres(connectionString) : FederatedTwin.Coordinator.Storage.CoordinatorStore.Sqlite(CoordinatorDir);

    public string Root { get; }

    /// <summary>Where nodes (and the dashboard) reach the coordinator.</summary>
    public Uri CoordinatorUrl { get; }

    /// <summary>The coordinator's admin listener, apart from the nodes' address.</summary>
    public Uri CoordinatorAdminUrl { get; }

    public string CoordinatorDir => Path.Combine(Root, "coordinator");

    public List<(string Name, string Dir, int AdminPort)> Nodes { get; } = [];

    /// <summary>The coordinator's admin token: made when the coordinator first starts and kept only here (admin.token holds its hash).</summary>
    public string AdminToken => _adminToken ?? throw new InvalidOperationException("The coordinator has not been started.");

    public AdminClient Admin => new(CoordinatorAdminUrl, AdminToken);

    /// <summary>
    /// Starts the coordinator, prepares and enrolls each node, then starts the nodes. prepare gives a
    /// node its data (default: a seeded census file; the demo generates and ingests FHIR instead).
    /// </summary>
    /// <param name="tls">Serve the node listener over https with this certificate (nodes pin its CA; mutual TLS if asked); null: http on loopback.</param>
    /// <param name="postgres">Keep the coordinator's state in this PostgreSQL database (`--store postgres`); null: coordinator.db.</param>
    /// <param name="policyExtra">Lines appended to a node's site policy, by the node's index (the committee tests' min_committee_threshold).</param>
    public static async Task<LocalFederation> Start(string root, IReadOnlyList<string> nodeNames, string policyPurposes, int pollWaitSeconds, CancellationToken cancellationToken, Action<int, NodeDirectory>? prepare = null, double privacyBudget = 1.0, int? maxSitesPerPerson = null, LocalTls? tls = null, string? postgres = null, Func<int, string>? policyExtra = null)
    {
        var federation = new LocalFederation(root, ChildProcess.FreeLoopbackPort(), ChildProcess.FreeLoopbackPort(), tls, postgres);
        try
        {
            await federation.StartCoordinator(cancellationToken);
            var coordinatorKey = await federation.CoordinatorKey(cancellationToken);
            using var admin = federation.Admin;
            for (var i = 0; i < nodeNames.Count; i++)
            {
                var dir = Path.Combine(root, "nodes", nodeNames[i]);
                using (var node = NodeDirectory.OpenOrInitialize(dir))
                {
                    if (prepare is null)
                    {
                        node.WriteSiteInput(SiteInput.Synthetic(i + 1));
                    }
                    else
                    {
                        prepare(i, node);
                    }

                    await File.WriteAllTextAsync(node.PolicyPath, DemoPolicy(coordinatorKey, policyPurposes, privacyBudget, maxSitesPerPerson: maxSitesPerPerson) + (policyExtra is null ? string.Empty : "\n" + policyExtra(i)), cancellationToken);
                    var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens", cancellationToken: cancellationToken))!["token"]!.ToString();
                    await Enrollment.Enroll(node, federation.CoordinatorUrl, token, nodeNames[i], tls?.CaFile, TimeProvider.System, cancellationToken);
                }

                federation.Nodes.Add((nodeNames[i], dir, ChildProcess.FreeLoopbackPort()));
            }

            // The federation's membership, pinned on every node out of band (officer-approved), and relayed by the coordinator.
            var roster = DemoRoster.Establish(root, [.. federation.Nodes.Select(n => (n.Name, n.Dir))]);
            await admin.Send(HttpMethod.Post, "/v1/admin/roster", new ByteArrayContent(roster.ToJson()), cancellationToken);

            for (var i = 0; i < federation.Nodes.Count; i++)
            {
                federation.StartNode(i, pollWaitSeconds);
            }

            // Studies are offered only once every node is up: an offer deadline must not run out while a node starts.
            for (var i = 0; i < federation.Nodes.Count; i++)
            {
                await WaitReady(new Uri($"http://127.0.0.1:{federation.Nodes[i].AdminPort}/health/ready"), federation._nodes[i], cancellationToken);
            }

            return federation;
        }
        catch
        {
            federation.Dispose();
            throw;
        }
    }

    /// <param name="cancellationToken">Cancels the wait for readiness.</param>
    /// <param name="extraArguments">Further options of `ftwin coordinator run` (the fault-injection tests' store size cap).</param>
    public async Task StartCoordinator(CancellationToken cancellationToken, params string[] extraArguments)
    {
        _coordinator?.Dispose();
        if (_adminToken is null)
        {
            using var store = OpenCoordinatorStore();
            _adminToken = CoordinatorCommands.IssueAdminToken(CoordinatorDir, store, "ftwin demo (" + Environment.UserName + ")");
        }

        List<string> arguments = ["coordinator", "run", "--data-dir", CoordinatorDir, "--urls", CoordinatorUrl.ToString().TrimEnd('/'), "--admin-url", CoordinatorAdminUrl.ToString().TrimEnd('/'), .. extraArguments];
        if (Postgres is { } connectionString)
        {
            arguments.AddRange(["--store", "postgres", "--postgres", connectionString]);
        }

        if (Tls is { } tls)
        {
            arguments.AddRange(["--tls-certificate", tls.CertificateFile, "--tls-key", tls.KeyFile]);
            if (tls.RequireClientCertificates)
            {
                arguments.Add("--require-client-certificates");
            }
        }

        _coordinator = ChildProcess.StartFtwin([.. arguments], Path.Combine(Root, "logs", "coordinator.log"));
        // Over TLS, readiness is asked on the admin listener (it serves /health too, on loopback http).
        await WaitReady(new Uri(Tls is null ? CoordinatorUrl : CoordinatorAdminUrl, "/health/ready"), _coordinator, cancellationToken);
    }

    /// <summary>The coordinator's public key, which every node pins: from its identity endpoint, or over TLS from its data directory on this host.</summary>
    private async Task<string> CoordinatorKey(CancellationToken cancellationToken)
    {
        if (Tls is not null)
        {
            return FederatedTwin.Coordinator.Security.CoordinatorKeys.ReadPublicKey(CoordinatorDir);
        }

        using var http = new HttpClient { BaseAddress = CoordinatorUrl };
        var identity = await http.GetFromJsonAsync<JsonObject>("/v1/identity", cancellationToken) ?? throw new InvalidOperationException("The coordinator has no identity.");
        return $"{identity["public_key"]}";
    }

    public void KillCoordinator() => _coordinator?.Kill();

    /// <summary>The coordinator's process id (the fault-injection tests pause and kill it by its id).</summary>
    public int CoordinatorProcessId => _coordinator?.Id ?? throw new InvalidOperationException("The coordinator has not been started.");

    /// <summary>A node's process id.</summary>
    public int NodeProcessId(int index) => _nodes[index].Id;

    /// <summary>Whether a node's process has ended.</summary>
    public bool NodeExited(int index) => _nodes[index].HasExited;

    /// <summary>Whether the coordinator's process has ended (crashed or stopped from outside).</summary>
    public bool CoordinatorExited => _coordinator is null || _coordinator.HasExited;

    /// <summary>Stops the nodes, then the coordinator, each cleanly (SIGTERM), killing what has not exited within <paramref name="grace"/>.</summary>
    public void Stop(TimeSpan grace)
    {
        Parallel.ForEach(_nodes, n => n.Stop(grace));
        _coordinator?.Stop(grace);
    }

    /// <param name="index">Which node.</param>
    /// <param name="pollWaitSeconds">Its long-poll wait.</param>
    /// <param name="extraArguments">Further options of `ftwin node run` (the fault-injection tests' store size cap).</param>
    public void StartNode(int index, int pollWaitSeconds, params string[] extraArguments)
    {
        var (name, dir, port) = Nodes[index];
        var process = ChildProcess.StartFtwin(["node", "run", "--node-dir", dir, "--admin-url", $"http://127.0.0.1:{port}", "--poll-wait", pollWaitSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extraArguments], Path.Combine(Root, "logs", $"{name}.log"));
        if (index < _nodes.Count)
        {
            _nodes[index].Dispose();
            _nodes[index] = process;
        }
        else
        {
            _nodes.Add(process);
        }
    }

    public void KillNode(int index) => _nodes[index].Kill();

    public async Task<JsonNode> CreateStudy(string yaml, CancellationToken cancellationToken)
    {
        using var admin = Admin;
        var created = await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(yaml, Encoding.UTF8, "application/yaml"), cancellationToken);
        return created!;
    }

    /// <summary>Polls a study until it ends (or the timeout passes) and returns its detail.</summary>
    public async Task<JsonNode> WaitForStudy(string id, TimeSpan timeout, Func<JsonNode, bool>? until, CancellationToken cancellationToken)
    {
        using var admin = Admin;
        var deadline = TimeProvider.System.GetUtcNow() + timeout;
        while (true)
        {
            JsonNode? study = null;
            try
            {
                study = await admin.Send(HttpMethod.Get, $"/v1/admin/studies/{id}", cancellationToken: cancellationToken);
            }
            catch (HttpRequestException) when (TimeProvider.System.GetUtcNow() < deadline)
            {
                // the coordinator may be restarting
            }

            var state = study?["state"]?.ToString();
            if (study is not null && ((until?.Invoke(study) ?? false) || state is "completed" or "failed" or "cancelled"))
            {
                return study;
            }

            if (TimeProvider.System.GetUtcNow() > deadline)
            {
                throw new TimeoutException($"Study {id} did not end within {timeout.TotalSeconds:F0} s (state {state ?? "unknown"}).");
            }

            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>
    /// The demo sites' lifetime privacy budget (zCDP ρ, all purposes and years). `ftwin demo` charges each node 21.5 with --dp on
    /// (DemoCommand: the composition's 0.5, five GLMs at 2 and eleven onset GLMs at 1), once per run on fresh node directories;
    /// 30 leaves room for re-run noise draws and a somewhat larger ρ per study. About ε 69 at δ = 10⁻⁶: a demonstration on
    /// synthetic patients, not a figure for a real site (docs/privacy.md, "The lifetime budget").
    /// </summary>
    public const double DemoLifetimeBudget = 30;

    /// <summary>
    /// The demo's site policy. Its guarantee is per hospital record (no max_sites_per_person: the demo's hospitals generate their
    /// patients independently) unless <paramref name="maxSitesPerPerson"/> is given.
    /// </summary>
    public static string DemoPolicy(string coordinatorKey, string purposes, double privacyBudget = 1.0, double lifetimeBudget = DemoLifetimeBudget, int? maxSitesPerPerson = null) => $"""
        # Demo site policy: joins federated sums and GLMs for the listed purposes from the demo's own coordinator, with at least 3 hospitals.
        version: 1
        trusted_coordinators:
          - name: demo-coordinator
            public_key: {coordinatorKey}
        purposes_allowed: [{purposes}]
        algorithms_allowed: [federated-sum, federated-glm, federated-composition, federated-fedavg, federated-outcomes]
        minimum_nodes: 3
        dp_may_be_off: true      # the demo's census is exact (it shows that decryption returns exactly the sum); with --dp off so are its GLMs and composition
        dp_colluding_nodes: 1    # a DP study's noise must survive one hospital colluding with the coordinator
        exact_small_counts: true # its 600 patients a site have age bands under 11: the coordinator sees them exact and suppresses them for analysts
        privacy_budgets:
          HOPERAT: {privacyBudget.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}
        lifetime_privacy_budget: {lifetimeBudget.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}   # all purposes and years
        {(maxSitesPerPerson is { } k ? $"max_sites_per_person: {k}" : "# no max_sites_per_person: budgets and reports are per hospital record")}
        """;

    internal static async Task WaitReady(Uri health, ChildProcess process, CancellationToken cancellationToken)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = TimeProvider.System.GetUtcNow().AddSeconds(60);
        while (TimeProvider.System.GetUtcNow() < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"The process serving {health} exited during start-up; see its log.");
            }

            try
            {
                if ((await http.GetAsync(health, cancellationToken)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // slow start
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"{health} was not ready within 60 s.");
    }

    public void Dispose()
    {
        foreach (var n in _nodes)
        {
            n.Dispose();
        }

        _coordinator?.Dispose();
    }
}

/// <summary>A local federation's TLS: the CA the nodes pin, the coordinator's certificate and key (PEM files), and whether nodes must present their client certificates.</summary>
internal sealed record LocalTls(string CaFile, string CertificateFile, string KeyFile, bool RequireClientCertificates);
