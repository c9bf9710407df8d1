using System.Collections.Concurrent;
using System.Globalization;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Crypto;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Federation.Tests.Adversarial;

/// <summary>
/// A coordinator that deviates from the protocol on a test's command: a real HTTP service on loopback speaking the federation protocol
/// (RFC 9421 signed responses under the key the nodes pinned, covering each request's signature and echoing its nonce), whose every
/// answer a test may script per node. It holds the state an ACO's coordinator would (enrolled keys, decisions, attempts, every
/// contribution it received) and can decrypt whatever the nodes' decryption shares let it: what it learns is exactly what the
/// adversarial tests measure. Not the product's coordinator: the attacker, built from the protocol's own messages.
/// </summary>
internal sealed class HostileCoordinator : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HostileCoordinator(WebApplication app, Uri url, Ed25519Identity identity)
    {
        _app = app;
        Url = url;
        Identity = identity;
    }

    public static IAdditiveThresholdScheme Scheme { get; } = RlweThresholdScheme.Default;

    public Uri Url { get; }

    /// <summary>The key the nodes pin (trusted_coordinators): they talk to this coordinator because their policy says so.</summary>
    public Ed25519Identity Identity { get; }

    /// <summary>Every key it enrolled, by node id: the nodes', and any it enrols for itself (a sybil) or for a colluding hospital.</summary>
    public ConcurrentDictionary<string, (string Name, string Key)> Nodes { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<string, StudySpec> Offers { get; } = new(StringComparer.Ordinal);

    public ConcurrentDictionary<(string Study, string Node), StudyDecision> Decisions { get; } = new();

    public ConcurrentDictionary<(string Study, int Round, int Attempt), HostileAttempt> Attempts { get; } = new();

    /// <summary>The roster document it relays (GET /v1/node/roster), and the version it announces with work.</summary>
    public byte[]? RelayedRoster { get; set; }

    public int? RelayedRosterVersion { get; set; }

    /// <summary>The model catalog it serves at /v1/node/models (and names by its digest in every work answer), or null for none.</summary>
    public ModelCatalog? RelayedModels { get; set; }

    /// <summary>Extra work a test hands a node, on top of what the attempts imply.</summary>
    public ConcurrentDictionary<string, ConcurrentQueue<WorkItem>> ExtraWork { get; } = new(StringComparer.Ordinal);

    public static async Task<HostileCoordinator> Start()
    {
        var port = ChildProcess.FreeLoopbackPort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url.ToString().TrimEnd('/'));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var coordinator = new HostileCoordinator(app, url, Ed25519Identity.Generate());
        app.Run(coordinator.Handle);
        await app.StartAsync();
        return coordinator;
    }

    /// <summary>Enrols a key the coordinator controls (a sybil) or a colluding hospital's, as issuing itself a token would.</summary>
    public string EnrolOwn(string name, string publicKey)
    {
        var id = "node-" + name;
        Nodes[id] = (name, publicKey);
        return id;
    }

    public string NodeIdOf(string publicKey) => Nodes.Single(n => n.Value.Key == publicKey).Key;

    public string KeyOf(string nodeId) => Nodes[nodeId].Key;

    /// <summary>Starts an attempt among these nodes (ids), with a fresh CRP seed unless given.</summary>
    public HostileAttempt StartAttempt(StudySpec study, int round, int attempt, IReadOnlyList<string> participants, RoundRequest request, byte[]? seed = null)
    {
        var a = new HostileAttempt(this, study, round, attempt, [.. participants], request, seed ?? Scheme.NewCrpSeed());
        Attempts[(study.Id.Value, round, attempt)] = a;
        return a;
    }

    /// <summary>Waits until every listed node decided the study.</summary>
    public Task WaitForDecisions(StudySpec study, IEnumerable<string> nodes, TimeSpan timeout) =>
        Eventually.Until(() => nodes.All(n => Decisions.ContainsKey((study.Id.Value, n))), timeout, $"every node to decide {study.Id}",
            () => "undecided " + string.Join(", ", nodes.Where(n => !Decisions.ContainsKey((study.Id.Value, n)))), TimeSpan.FromMilliseconds(50));

    private async Task Handle(HttpContext context)
    {
        var request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var path = request.Path.Value ?? "/";
        if (path == "/v1/identity")
        {
            await Write(context, 200, WireJson.Serialize(new CoordinatorIdentity("coordinator", Identity.PublicKey, FederationProtocol.Version, "hostile")), sign: false, nonce: null);
            return;
        }

        var parameters = SignatureParameters.Parse(request.Headers[HttpMessageSignatures.SignatureInputHeader].ToString(), out _);
        var keyId = parameters?.KeyId ?? string.Empty;
        var (status, answer) = Route(context, path, keyId, body);
        if (path == "/v1/node/work" && status == 200 && answer is null)
        {
            // Long poll: hold the request while there is nothing to do (up to the node's wait), re-checking often.
            var wait = int.TryParse(request.Query["wait"], NumberStyles.None, CultureInfo.InvariantCulture, out var w) ? w : 0;
            var until = DateTimeOffset.UtcNow.AddSeconds(Math.Min(wait, 5));
            WorkResponse work;
            while ((work = WorkFor(keyId)).Items.Count == 0 && DateTimeOffset.UtcNow < until && !context.RequestAborted.IsCancellationRequested)
            {
                await Task.Delay(50, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            }

            answer = WireJson.Serialize(work);
        }

        await Write(context, status, answer ?? [], sign: true, nonce: parameters?.Nonce);
    }

    private (int Status, byte[]? Body) Route(HttpContext context, string path, string keyId, byte[] body)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (segments)
        {
            case ["v1", "node", "enroll"]:
            {
                var enroll = WireJson.Deserialize<EnrollRequest>(body);
                var id = "node-" + enroll.NodeName;
                Nodes[id] = (enroll.NodeName, enroll.PublicKey);
                return (200, WireJson.Serialize(new EnrollResponse(new NodeId(id), "coordinator", Identity.PublicKey)));
            }

            case ["v1", "node", "work"]:
                return (200, null);
            case ["v1", "node", "models"]:
                return RelayedModels is { } models ? (200, WireJson.Serialize(models)) : (200, WireJson.Serialize(new ModelCatalog([])));
            case ["v1", "node", "roster"]:
                return RelayedRoster is { } roster ? (200, roster) : (404, Problem("No roster"));
            case ["v1", "node", "studies", var study, "decision"]:
                Decisions[(study, keyId)] = WireJson.Deserialize<StudyDecision>(body);
                return (204, null);
            case ["v1", "node", "attempts", var study, var round, var attempt, ..] when Attempts.TryGetValue((study, int.Parse(round, CultureInfo.InvariantCulture), int.Parse(attempt, CultureInfo.InvariantCulture)), out var a):
            {
                try
                {
                    return context.Request.Method == "POST"
                        ? a.Receive(keyId, segments[^1], WireJson.Deserialize<Contribution>(body))
                        : segments switch
                        {
                            [.., "commitments", var kind] => (200, WireJson.Serialize(a.CommitmentsShownTo(keyId, kind))),
                            [.., "key"] => (200, WireJson.Serialize(a.KeyShownTo(keyId))),
                            [.., "aggregate"] => (200, WireJson.Serialize(a.AggregateShownTo(keyId))),
                            _ => (404, Problem("Unknown")),
                        };
                }
                catch (InvalidOperationException e)
                {
                    return (409, Problem(e.Message));
                }
            }

            default:
                return (404, Problem("Unknown path"));
        }
    }

    private WorkResponse WorkFor(string node)
    {
        var items = new List<WorkItem>();
        items.AddRange(Offers.Values.Where(s => !Decisions.ContainsKey((s.Id.Value, node))).Select(s => new WorkItem(WorkKind.StudyOffer, s)));
        if (ExtraWork.TryGetValue(node, out var extra))
        {
            while (extra.TryDequeue(out var item))
            {
                items.Add(item);
            }
        }

        items.AddRange(Attempts.Values.Select(a => a.WorkFor(node)).OfType<WorkItem>());
        return new WorkResponse(items, RelayedRosterVersion, RelayedRoster is null ? null : SignedStatement.Digest(RelayedRoster),
            RelayedModels is { } catalog ? ModelCatalog.Digest(catalog.Models.Select(m => (m.Id, m.ReleasedAt))) : null);
    }

    private static byte[] Problem(string title) => System.Text.Encoding.UTF8.GetBytes($"{{\"title\":\"{title.Replace("\"", "'", StringComparison.Ordinal)}\"}}");

    /// <summary>Answers as the real coordinator does (SignedNodeRequests): version header, Content-Digest, RFC 9421 signature covering the request's.</summary>
    private async Task Write(HttpContext context, int status, byte[] body, bool sign, string? nonce)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = FederationProtocol.JsonMediaType;
        response.Headers[FederationProtocol.VersionHeader] = FederationProtocol.Version.ToString(CultureInfo.InvariantCulture);
        response.Headers[ContentDigest.HeaderName] = ContentDigest.Compute(body);
        if (sign && nonce is not null)
        {
            var parameters = new SignatureParameters(HttpMessageSignatures.ResponseComponents, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), "coordinator", nonce, HttpMessageSignatures.Algorithm);
            var (input, signature) = HttpMessageSignatures.Sign(Identity, parameters, HttpMessageSignatures.ResponseResolver(
                status, context.Request.Method, context.Request.Path.Value ?? "/", context.Request.Headers[HttpMessageSignatures.SignatureHeader].ToString(), c => response.Headers[c].ToString()));
            response.Headers[HttpMessageSignatures.SignatureInputHeader] = input;
            response.Headers[HttpMessageSignatures.SignatureHeader] = signature;
        }

        response.ContentLength = body.Length;
        await response.Body.WriteAsync(body);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Identity.Dispose();
    }
}
