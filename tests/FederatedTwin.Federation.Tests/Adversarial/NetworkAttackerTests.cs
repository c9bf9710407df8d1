using System.Globalization;
using System.Net.Http.Headers;
using FederatedTwin.Cli.Commands;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Federation.Tests.Adversarial;

/// <summary>
/// The product's coordinator (in process, on loopback) and a real node process whose traffic passes through an attacker on the path,
/// who also holds an enrolled node key of its own (<see cref="PathAttacker"/>). The coordinator is honest here; the attacker may only
/// read, replay and substitute messages, and make requests as its own node.
/// </summary>
public sealed class NetworkAttackerFederation : IAsyncLifetime
{
    private ChildProcess? _node;

    internal string Root { get; } = TestFederation.TempDir("network-attacker");

    internal WebApplication Coordinator { get; private set; } = null!;

    internal PathAttacker Attacker { get; private set; } = null!;

    internal string NodeDir => Path.Combine(Root, "victim");

    public async Task InitializeAsync()
    {
        var coordinatorUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        var adminUrl = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        Coordinator = CoordinatorHost.Build(["--urls", coordinatorUrl.ToString().TrimEnd('/')], o =>
        {
            o.DataDir = Path.Combine(Root, "coordinator");
            o.AdminUrl = adminUrl.ToString().TrimEnd('/');
        });
        await Coordinator.StartAsync();
        var keys = Coordinator.Services.GetRequiredService<CoordinatorKeys>();
        using var admin = new AdminClient(adminUrl, keys.CreatedAdminToken!);

        // The attacker's own node, enrolled honestly with a token of its own (a member hospital's host it controls, say).
        var attackerNode = NodeDirectory.OpenOrInitialize(Path.Combine(Root, "attacker"));
        await File.WriteAllTextAsync(attackerNode.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
        await Enrollment.Enroll(attackerNode, coordinatorUrl, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "attacker", CancellationToken.None);
        Attacker = await PathAttacker.Start(coordinatorUrl, attackerNode);

        // The victim enrolls (and runs) through the attacker's path.
        using (var victim = NodeDirectory.OpenOrInitialize(NodeDir))
        {
            await File.WriteAllTextAsync(victim.PolicyPath, LocalFederation.DemoPolicy(keys.Identity.PublicKey, "HOPERAT"));
            await Enrollment.Enroll(victim, Attacker.Url, (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString(), "victim", CancellationToken.None);
        }

        var port = ChildProcess.FreeLoopbackPort();
        _node = ChildProcess.StartFtwin(["node", "run", "--node-dir", NodeDir, "--admin-url", $"http://127.0.0.1:{port}", "--poll-wait", "1"], Path.Combine(Root, "victim.log"));
    }

    /// <summary>The victim's audit entries of responses it refused, with their reasons.</summary>
    internal List<string> Rejections()
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(NodeDir, "node.db"));
        return [.. Dapper.SqlMapper.Query<string>(connection, "SELECT detail FROM audit_log WHERE action=@a ORDER BY seq", new { a = AuditActions.CoordinatorResponseRejected })];
    }

    internal async Task<string> NextRejection(int seen, TimeSpan timeout) =>
        (await Eventually.Value(() => Task.FromResult(Rejections()), all => all.Count > seen, timeout,
            "the victim node to reject a response the attacker substituted (a coordinator_response_rejected entry)", all => $"{all.Count} rejection(s)"))[seen];

    public async Task DisposeAsync()
    {
        _node?.Stop(TimeSpan.FromSeconds(10));
        _node?.Dispose();
        await Attacker.DisposeAsync();
        await Coordinator.StopAsync();
        await Coordinator.DisposeAsync();
    }
}

/// <summary>An attacker on the path between a node and the coordinator: forwards, and on command replays or substitutes responses.</summary>
internal sealed class PathAttacker : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HttpClient _upstream;
    private readonly NodeDirectory _ownNode;
    private (int Status, List<KeyValuePair<string, string[]>> Headers, byte[] Body)? _recordedWork;

    private PathAttacker(WebApplication app, Uri url, Uri upstream, NodeDirectory ownNode)
    {
        _app = app;
        Url = url;
        _upstream = new HttpClient { BaseAddress = upstream };
        _ownNode = ownNode;
    }

    public enum Mode
    {
        Forward,

        /// <summary>Answers every work poll with the first work response it recorded (a replay).</summary>
        ReplayWork,

        /// <summary>Answers a work poll with the coordinator's answer to the attacker's own request made with the victim's nonce.</summary>
        StealNonce,
    }

    public Uri Url { get; }

    public Mode Attack { get; set; }

    public int Substituted { get; private set; }

    /// <summary>Work polls forwarded and answered 200 (the victim's view of a normal exchange).</summary>
    public int Forwarded { get; private set; }

    public bool HasRecorded => _recordedWork is not null;

    public static async Task<PathAttacker> Start(Uri upstream, NodeDirectory ownNode)
    {
        var url = new Uri($"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url.ToString().TrimEnd('/'));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var attacker = new PathAttacker(app, url, upstream, ownNode);
        app.Run(attacker.Handle);
        await app.StartAsync();
        return attacker;
    }

    private async Task Handle(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var isWork = context.Request.Path == "/v1/node/work";
        if (isWork && Attack == Mode.ReplayWork && _recordedWork is { } recorded)
        {
            Substituted++;
            await Answer(context, recorded);
            return;
        }

        if (isWork && Attack == Mode.StealNonce)
        {
            var victim = SignatureParameters.Parse(context.Request.Headers[HttpMessageSignatures.SignatureInputHeader].ToString(), out _);
            Substituted++;
            await Answer(context, await Send(OwnRequest(HttpMethod.Get, context.Request.Path + context.Request.QueryString, victim!.Nonce)));
            return;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(context.Request.Method), context.Request.Path + context.Request.QueryString) { Content = new ByteArrayContent(buffer.ToArray()) };
        foreach (var (name, values) in context.Request.Headers)
        {
            if (name is "Host" or "Content-Length" or "Content-Type" or "Content-Digest")
            {
                continue;
            }

            forward.Headers.TryAddWithoutValidation(name, values.ToArray());
        }

        forward.Content.Headers.TryAddWithoutValidation("Content-Type", context.Request.ContentType ?? FederationProtocol.JsonMediaType);
        forward.Content.Headers.TryAddWithoutValidation(ContentDigest.HeaderName, context.Request.Headers[ContentDigest.HeaderName].ToArray());
        var response = await Send(forward);
        if (isWork && response.Status == 200)
        {
            _recordedWork ??= response;
            Forwarded++;
        }

        await Answer(context, response);
    }

    /// <summary>A request signed by the attacker's own enrolled node, with a nonce of its choosing.</summary>
    private HttpRequestMessage OwnRequest(HttpMethod method, string pathAndQuery, string nonce)
    {
        var request = new HttpRequestMessage(method, pathAndQuery) { Content = new ByteArrayContent([]) };
        var version = FederationProtocol.Version.ToString(CultureInfo.InvariantCulture);
        request.Headers.Add(FederationProtocol.VersionHeader, version);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(FederationProtocol.JsonMediaType);
        request.Content.Headers.Add(ContentDigest.HeaderName, ContentDigest.Compute([]));
        var uri = new Uri(_upstream.BaseAddress!, pathAndQuery);
        var parameters = new SignatureParameters(HttpMessageSignatures.RequestComponents, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), _ownNode.Store.GetEnrollment()!.NodeId, nonce, HttpMessageSignatures.Algorithm);
        var (input, signature) = HttpMessageSignatures.Sign(_ownNode.Identity, parameters, c => c switch
        {
            "@method" => method.Method,
            "@path" => uri.AbsolutePath,
            "@query" => uri.Query.Length == 0 ? "?" : uri.Query,
            "content-digest" => ContentDigest.Compute([]),
            "ftwin-protocol" => version,
            _ => null,
        });
        request.Headers.Add(HttpMessageSignatures.SignatureInputHeader, input);
        request.Headers.Add(HttpMessageSignatures.SignatureHeader, signature);
        return request;
    }

    private async Task<(int Status, List<KeyValuePair<string, string[]>> Headers, byte[] Body)> Send(HttpRequestMessage request)
    {
        using var response = await _upstream.SendAsync(request);
        var headers = response.Headers.Concat(response.Content.Headers).Select(h => new KeyValuePair<string, string[]>(h.Key, [.. h.Value])).ToList();
        return ((int)response.StatusCode, headers, await response.Content.ReadAsByteArrayAsync());
    }

    private static async Task Answer(HttpContext context, (int Status, List<KeyValuePair<string, string[]>> Headers, byte[] Body) response)
    {
        context.Response.StatusCode = response.Status;
        foreach (var (name, values) in response.Headers)
        {
            if (name is not ("Transfer-Encoding" or "Content-Length" or "Date" or "Server"))
            {
                context.Response.Headers[name] = values;
            }
        }

        context.Response.ContentLength = response.Body.Length;
        await context.Response.Body.WriteAsync(response.Body);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _upstream.Dispose();
        _ownNode.Dispose();
    }
}

/// <summary>A network attacker on the node's path, with an enrolled node of its own (docs/threat-model.md, "network attacker").</summary>
[Trait("Category", "Adversarial")]
public sealed class NetworkAttackerTests(NetworkAttackerFederation federation) : IClassFixture<NetworkAttackerFederation>
{
    [Fact]
    public async Task A_replayed_coordinator_response_is_refused_by_the_node_and_recorded()
    {
        var rejection = await Mount(PathAttacker.Mode.ReplayWork);
        // Two defences refuse it: the response covers the request's own signature (a replayed one was made for another request),
        // and it must echo this request's fresh nonce. The signature is checked first.
        Assert.True(rejection.Contains("BadSignature", StringComparison.Ordinal) || rejection.Contains("nonce mismatch", StringComparison.Ordinal), rejection);
    }

    [Fact]
    public async Task A_response_the_coordinator_signed_for_another_nodes_request_with_the_victims_nonce_is_refused()
    {
        // The attacker's own node asks the same path with the victim's nonce: the coordinator signs a genuine, fresh answer that
        // echoes that nonce. Only the request's signature, which the response covers, tells the victim it is not the answer to it.
        Assert.Contains("BadSignature", await Mount(PathAttacker.Mode.StealNonce), StringComparison.Ordinal);
    }

    /// <summary>Mounts the attack on the victim's work polls after a normal exchange, and returns the victim's next recorded rejection.</summary>
    private async Task<string> Mount(PathAttacker.Mode attack)
    {
        var attacker = federation.Attacker;
        await QuietExchange(attacker);
        var seen = federation.Rejections().Count;
        attacker.Attack = attack;
        try
        {
            var rejection = await federation.NextRejection(seen, TimeSpan.FromSeconds(30));
            Assert.True(attacker.Substituted > 0);
            return rejection;
        }
        finally
        {
            attacker.Attack = PathAttacker.Mode.Forward;
        }
    }

    /// <summary>
    /// Waits for two normal work polls: the node then has a fresh last exchange, so a new rejection is recorded (it records each
    /// distinct failure once in a row, not once per retry).
    /// </summary>
    private static async Task QuietExchange(PathAttacker attacker)
    {
        var forwarded = attacker.Forwarded;
        await WaitUntil(() => attacker.Forwarded >= forwarded + 2);
    }

    private static Task WaitUntil(Func<bool> condition) =>
        Eventually.Until(condition, TimeSpan.FromSeconds(60), "the victim node to poll through the attacker");
}
