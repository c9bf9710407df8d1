using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Data.Tests.Sources;

/// <summary>
/// A spec-faithful Bulk Data Access v2 server, a test double (HL7 FHIR Bulk Data Access IG v2.0.0) standing in for an EHR's FHIR
/// server, which cannot run here: real Kestrel on 127.0.0.1, kick-off at system, Patient and Group level with `_type` and `_since`
/// (by a lastUpdated it keeps per resource; <see cref="Update"/> and <see cref="Delete"/> change resources after a transaction
/// time), 202 polling with Retry-After (and 429 to a client that polls sooner), Complete Status manifests with `output` (a type
/// split over several files when <see cref="LinesPerFile"/> says so), `deleted` (transaction Bundles of DELETE entries) and
/// `error` (OperationOutcome lines), gzip when asked, bearer checks through <see cref="TokenValidator"/>
/// (requiresAccessToken true), cancel (DELETE: 202, then the status URL is 404), and injected faults. Counters for the tests.
/// </summary>
internal sealed class BulkDataTestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<(string Type, string Id), Resource> _resources = new();
    private readonly ConcurrentQueue<(string Type, string Id, DateTimeOffset At)> _deleted = new();
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);
    private readonly Lock _clock = new();
    private DateTimeOffset _last = DateTimeOffset.MinValue;
    private int _jobIds;

    private BulkDataTestServer(WebApplication app) => _app = app;

    /// <summary>The FHIR base URL ("http://127.0.0.1:port/fhir/").</summary>
    public Uri FhirBase { get; private set; } = null!;

    // Behaviour.
    /// <summary>In-progress answers (202) before the manifest.</summary>
    public int PollsBeforeReady { get; set; } = 1;

    /// <summary>Retry-After sent with each 202 (seconds; 0: none, the client backs off on its own).</summary>
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>Answer the first N status polls with 429 (Retry-After <see cref="RetryAfterSeconds"/>), as a server under load.</summary>
    public int TooManyRequestsOnPolls { get; set; }

    /// <summary>Lines per output file: a type with more is split over several files.</summary>
    public int LinesPerFile { get; set; } = int.MaxValue;

    /// <summary>Non-null: requiresAccessToken true, and every request must carry a bearer token it accepts (else 401).</summary>
    public Func<string, bool>? TokenValidator { get; set; }

    /// <summary>Gzip a file when the client's Accept-Encoding allows it.</summary>
    public bool Gzip { get; set; } = true;

    /// <summary>The file (by name, e.g. "Condition.000.ndjson") whose first download gets a 500.</summary>
    public string? FailFirstDownloadOf { get; set; }

    /// <summary>The file whose first download sends half its bytes (no compression) and then drops the connection.</summary>
    public string? BreakMidwayOf { get; set; }

    /// <summary>The file that fails (500) on every download.</summary>
    public string? AlwaysFail { get; set; }

    /// <summary>Answers to the next kick-offs instead of a 202: HTTP status and OperationOutcome issue code and diagnostics.</summary>
    public ConcurrentQueue<(int Status, string Code, string Diagnostics)> KickOffFailures { get; } = new();

    /// <summary>Answers to the next status polls instead of the usual one.</summary>
    public ConcurrentQueue<(int Status, string Code, string Diagnostics)> StatusFailures { get; } = new();

    /// <summary>OperationOutcome lines served as the export's `error` file (none: no error file).</summary>
    public List<string> ErrorOutcomes { get; } = [];

    /// <summary>Groups by id: the patients (ids) they hold.</summary>
    public Dictionary<string, List<string>> Groups { get; } = new(StringComparer.Ordinal);

    // Counters.
    public int KickOffs;
    public int Polls;
    public int TooManyRequestsSent;
    public int EarlyPolls;
    public int Cancels;
    public int UnauthorizedSent;
    public int GzipResponses;
    public ConcurrentDictionary<string, int> Downloads { get; } = new(StringComparer.Ordinal);

    /// <summary>The query string of the last kick-off.</summary>
    public string? LastKickOffQuery { get; private set; }

    /// <summary>Authorization headers seen on file requests (null: none).</summary>
    public ConcurrentBag<string?> FileAuthorizations { get; } = [];

    /// <summary>The server's resources now (after updates and deletes).</summary>
    public int ResourceCount => _resources.Count;

    public static async Task<BulkDataTestServer> StartFromFolder(string folder, SmartAuthState? auth = null) =>
        await Start(Directory.GetFiles(folder, "*.ndjson").Where(f => !Path.GetFileName(f).StartsWith("log.", StringComparison.Ordinal)).Order(StringComparer.Ordinal).SelectMany(System.IO.File.ReadLines), auth);

    /// <summary>
    /// Starts the server over these resources; with <paramref name="auth"/>, the SMART Backend Services authorization test double
    /// (<see cref="SmartAuthState"/>) serves discovery and the token endpoint on the same host, and only its tokens are accepted.
    /// </summary>
    public static async Task<BulkDataTestServer> Start(IEnumerable<string> lines, SmartAuthState? auth = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        if (auth is not null)
        {
            SmartAuthEndpoints.MapSmartAuth(app, auth);
        }

        var server = new BulkDataTestServer(app);
        var loaded = server.Now();
        foreach (var line in lines.Where(l => l.Length > 0))
        {
            server.Put(line, loaded);
        }

        app.Run(server.Handle);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.FhirBase = new Uri(address.TrimEnd('/') + "/fhir/");
        if (auth is not null)
        {
            auth.TokenEndpoint ??= new Uri(new Uri(address.TrimEnd('/') + "/"), auth.TokenPath.TrimStart('/'));
            server.TokenValidator = auth.IsValidToken;
        }

        return server;
    }

    /// <summary>Changes (or adds) a resource: its lastUpdated becomes now, after any transaction time handed out so far.</summary>
    public void Update(string json) => Put(json, Now());

    /// <summary>Deletes a resource: a later `_since` export lists it in `deleted`.</summary>
    public void Delete(string type, string id)
    {
        Assert.True(_resources.TryRemove((type, id), out _), $"no {type}/{id} on the test server");
        _deleted.Enqueue((type, id, Now()));
    }

    /// <summary>The resources of a type (their JSON).</summary>
    public List<string> Of(string type) => [.. _resources.Values.Where(r => r.Type == type).OrderBy(r => r.Id, StringComparer.Ordinal).Select(r => r.Json)];

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Resource(string Type, string Id, string? Patient, string Json, DateTimeOffset LastUpdated);

    private sealed class Job
    {
        public required string TransactionTime { get; init; }

        public required string Request { get; init; }

        public Dictionary<string, byte[]> Files { get; } = new(StringComparer.Ordinal);

        public List<(string Type, string Name, int Count)> Output { get; } = [];

        public List<(string Type, string Name, int Count)> DeletedFiles { get; } = [];

        public List<(string Type, string Name, int Count)> ErrorFiles { get; } = [];

        public int Polls;
        public DateTimeOffset NotBefore = DateTimeOffset.MinValue;
    }

    /// <summary>Strictly increasing milliseconds: an update always lands after the transaction time before it.</summary>
    private DateTimeOffset Now()
    {
        lock (_clock)
        {
            var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            _last = now > _last ? now : _last.AddMilliseconds(1);
            return _last;
        }
    }

    private static string Instant(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    private void Put(string line, DateTimeOffset at)
    {
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        var type = root.GetProperty("resourceType").GetString()!;
        var id = root.GetProperty("id").GetString()!;
        string? patient = type == "Patient" ? id : null;
        foreach (var name in new[] { "subject", "patient", "beneficiary" })
        {
            if (patient is null && root.TryGetProperty(name, out var r) && r.ValueKind == JsonValueKind.Object && r.TryGetProperty("reference", out var reference)
                && reference.GetString() is { } text && text.StartsWith("Patient/", StringComparison.Ordinal))
            {
                patient = text["Patient/".Length..];
            }
        }

        _resources[(type, id)] = new Resource(type, id, patient, line, at);
    }

    private async Task Handle(HttpContext context)
    {
        if (context.GetEndpoint()?.RequestDelegate is { } mapped)
        {
            await mapped(context); // the SMART endpoints mapped on the same host (discovery, token)
            return;
        }

        var path = context.Request.Path.Value ?? string.Empty;
        var method = context.Request.Method;
        if (TokenValidator is { } validate)
        {
            var auth = context.Request.Headers.Authorization.ToString();
            if (!auth.StartsWith("Bearer ", StringComparison.Ordinal) || !validate(auth["Bearer ".Length..]))
            {
                Interlocked.Increment(ref UnauthorizedSent);
                await Outcome(context, 401, "login", "a valid bearer token is required");
                return;
            }
        }

        if (method == "GET" && path.StartsWith("/fhir/", StringComparison.Ordinal) && path.EndsWith("/$export", StringComparison.Ordinal) || path == "/fhir/$export")
        {
            await KickOff(context, path["/fhir/".Length..^"$export".Length].TrimEnd('/'));
        }
        else if (path.StartsWith("/status/", StringComparison.Ordinal))
        {
            await Status(context, path["/status/".Length..], method);
        }
        else if (method == "GET" && path.StartsWith("/files/", StringComparison.Ordinal))
        {
            await File(context, path["/files/".Length..]);
        }
        else
        {
            await Outcome(context, 404, "not-found", "no such endpoint");
        }
    }

    private async Task KickOff(HttpContext context, string level)
    {
        Interlocked.Increment(ref KickOffs);
        var query = context.Request.Query;
        LastKickOffQuery = context.Request.QueryString.Value;
        if (KickOffFailures.TryDequeue(out var failure))
        {
            await Outcome(context, failure.Status, failure.Code, failure.Diagnostics);
            return;
        }

        // Kick-off request headers (IG v2.0.0): Prefer respond-async and Accept application/fhir+json are required.
        if (!context.Request.Headers["Prefer"].ToString().Contains("respond-async", StringComparison.Ordinal)
            || !context.Request.Headers.Accept.ToString().Contains("application/fhir+json", StringComparison.Ordinal))
        {
            await Outcome(context, 400, "invalid", "Prefer: respond-async and Accept: application/fhir+json are required");
            return;
        }

        var format = query["_outputFormat"].ToString();
        if (format.Length > 0 && format is not ("application/fhir+ndjson" or "application/ndjson" or "ndjson"))
        {
            await Outcome(context, 400, "invalid", "unsupported _outputFormat");
            return;
        }

        HashSet<string>? patients = null;
        if (level.StartsWith("Group/", StringComparison.Ordinal))
        {
            if (!Groups.TryGetValue(Uri.UnescapeDataString(level["Group/".Length..]), out var members))
            {
                await Outcome(context, 404, "not-found", "no such Group");
                return;
            }

            patients = [.. members];
        }
        else if (level is not ("" or "Patient"))
        {
            await Outcome(context, 404, "not-found", "no such export endpoint");
            return;
        }

        DateTimeOffset? since = null;
        if (query["_since"].ToString() is { Length: > 0 } sinceText)
        {
            if (!DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed) || !sinceText.Contains('T', StringComparison.Ordinal))
            {
                await Outcome(context, 400, "invalid", "_since is not a FHIR instant");
                return;
            }

            since = parsed;
        }

        var types = query["_type"].ToString() is { Length: > 0 } t ? t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal) : null;
        var transaction = Now();
        bool Selected(string type, string? patient) =>
            (types is null || types.Contains(type))
            && (level.Length == 0 || (patient is not null && (patients is null || patients.Contains(patient))));
        var chosen = _resources.Values
            .Where(r => Selected(r.Type, r.Patient) && (since is null || r.LastUpdated > since) && r.LastUpdated <= transaction)
            .OrderBy(r => r.Type, StringComparer.Ordinal).ThenBy(r => r.Id, StringComparer.Ordinal)
            .ToList();

        var id = Interlocked.Increment(ref _jobIds).ToString(CultureInfo.InvariantCulture);
        var job = new Job { TransactionTime = Instant(transaction), Request = $"{Origin}{context.Request.Path}{context.Request.QueryString}" };
        foreach (var group in chosen.GroupBy(r => r.Type))
        {
            var n = 0;
            foreach (var chunk in group.Chunk(LinesPerFile))
            {
                var name = $"{group.Key}.{n++:000}.ndjson";
                job.Files[name] = Encoding.UTF8.GetBytes(string.Concat(chunk.Select(r => r.Json + "\n")));
                job.Output.Add((group.Key, name, chunk.Length));
            }
        }

        // deleted (IG v2.0.0): only for a _since export, resources deleted after it, as transaction Bundles of DELETE entries.
        if (since is not null)
        {
            var gone = _deleted.Where(d => d.At > since && d.At <= transaction && (types is null || types.Contains(d.Type))).ToList();
            if (gone.Count > 0)
            {
                var bundle = new JsonObject
                {
                    ["resourceType"] = "Bundle",
                    ["type"] = "transaction",
                    ["entry"] = new JsonArray([.. gone.Select(d => (JsonNode)new JsonObject { ["request"] = new JsonObject { ["method"] = "DELETE", ["url"] = $"{d.Type}/{d.Id}" } })]),
                };
                job.Files["Bundle.deleted.ndjson"] = Encoding.UTF8.GetBytes(bundle.ToJsonString() + "\n");
                job.DeletedFiles.Add(("Bundle", "Bundle.deleted.ndjson", 1));
            }
        }

        if (ErrorOutcomes.Count > 0)
        {
            job.Files["OperationOutcome.error.ndjson"] = Encoding.UTF8.GetBytes(string.Concat(ErrorOutcomes.Select(o => o + "\n")));
            job.ErrorFiles.Add(("OperationOutcome", "OperationOutcome.error.ndjson", ErrorOutcomes.Count));
        }

        _jobs[id] = job;
        context.Response.StatusCode = 202;
        context.Response.Headers.ContentLocation = $"{Origin}/status/{id}";
        await Outcome(context, 202, "informational", "export accepted", error: false);
    }

    private string Origin => FhirBase.GetLeftPart(UriPartial.Authority);

    private async Task Status(HttpContext context, string id, string method)
    {
        if (!_jobs.TryGetValue(id, out var job))
        {
            await Outcome(context, 404, "not-found", "no such export (finished, cancelled or never started)");
            return;
        }

        if (method == "DELETE")
        {
            // Bulk Data Delete Request: 202, and the status URL then answers 404.
            Interlocked.Increment(ref Cancels);
            _jobs.TryRemove(id, out _);
            await Outcome(context, 202, "informational", "export cancelled", error: false);
            return;
        }

        var now = DateTimeOffset.UtcNow;
        lock (job)
        {
            if (now < job.NotBefore)
            {
                Interlocked.Increment(ref EarlyPolls);
            }
        }

        if (now < job.NotBefore || Interlocked.Increment(ref Polls) <= TooManyRequestsOnPolls)
        {
            Interlocked.Increment(ref TooManyRequestsSent);
            RetryAfter(context, job);
            await Outcome(context, 429, "throttled", "polled too soon");
            return;
        }

        if (StatusFailures.TryDequeue(out var failure))
        {
            await Outcome(context, failure.Status, failure.Code, failure.Diagnostics);
            return;
        }

        if (Interlocked.Increment(ref job.Polls) <= PollsBeforeReady)
        {
            context.Response.Headers["X-Progress"] = $"{100 * job.Polls / (PollsBeforeReady + 1)}% done";
            RetryAfter(context, job);
            context.Response.StatusCode = 202;
            return;
        }

        var manifest = new JsonObject
        {
            ["transactionTime"] = job.TransactionTime,
            ["request"] = job.Request,
            ["requiresAccessToken"] = TokenValidator is not null,
            ["output"] = Items(job.Output),
            ["deleted"] = Items(job.DeletedFiles),
            ["error"] = Items(job.ErrorFiles),
        };
        JsonArray Items(List<(string Type, string Name, int Count)> files) =>
            new([.. files.Select(f => (JsonNode)new JsonObject { ["type"] = f.Type, ["url"] = $"{Origin}/files/{id}/{f.Name}", ["count"] = f.Count })]);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(manifest.ToJsonString());
    }

    private void RetryAfter(HttpContext context, Job job)
    {
        if (RetryAfterSeconds > 0)
        {
            context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            lock (job)
            {
                // A little slack for the timers' granularity: only a client that ignores Retry-After polls sooner.
                job.NotBefore = DateTimeOffset.UtcNow.AddSeconds(RetryAfterSeconds).AddMilliseconds(-100);
            }
        }
    }

    private async Task File(HttpContext context, string rest)
    {
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !_jobs.TryGetValue(rest[..slash], out var job) || !job.Files.TryGetValue(rest[(slash + 1)..], out var content))
        {
            await Outcome(context, 404, "not-found", "no such file");
            return;
        }

        var name = rest[(slash + 1)..];
        FileAuthorizations.Add(context.Request.Headers.Authorization.Count > 0 ? context.Request.Headers.Authorization.ToString() : null);
        var attempt = Downloads.AddOrUpdate(name, 1, (_, n) => n + 1);
        if ((attempt == 1 && name == FailFirstDownloadOf) || name == AlwaysFail)
        {
            await Outcome(context, 500, "exception", "the file store hiccupped");
            return;
        }

        context.Response.ContentType = "application/fhir+ndjson";
        if (attempt == 1 && name == BreakMidwayOf)
        {
            context.Response.ContentLength = content.Length;
            await context.Response.Body.WriteAsync(content.AsMemory(0, content.Length / 2));
            await context.Response.Body.FlushAsync();
            context.Abort();
            return;
        }

        if (Gzip && context.Request.Headers.AcceptEncoding.ToString().Contains("gzip", StringComparison.OrdinalIgnoreCase))
        {
            Interlocked.Increment(ref GzipResponses);
            using var packed = new MemoryStream();
            await using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
            {
                await gzip.WriteAsync(content);
            }

            context.Response.Headers.ContentEncoding = "gzip";
            context.Response.ContentLength = packed.Length;
            await context.Response.Body.WriteAsync(packed.GetBuffer().AsMemory(0, (int)packed.Length));
            return;
        }

        context.Response.ContentLength = content.Length;
        await context.Response.Body.WriteAsync(content);
    }

    /// <summary>An OperationOutcome answer: the IG's error responses (and the body a 202 kick-off or a cancel may carry).</summary>
    private static async Task Outcome(HttpContext context, int status, string code, string diagnostics, bool error = true)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/fhir+json";
        var outcome = new JsonObject
        {
            ["resourceType"] = "OperationOutcome",
            ["issue"] = new JsonArray(new JsonObject { ["severity"] = error ? "error" : "information", ["code"] = code, ["diagnostics"] = diagnostics }),
        };
        await context.Response.WriteAsync(outcome.ToJsonString());
    }
}
