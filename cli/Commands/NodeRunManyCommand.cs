using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using FederatedTwin.Node;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node run-many` (hidden): several nodes in one process, for `ftwin bench federation` at sizes where one .NET process
/// per node does not fit the cores (50 processes on 2 cores spend their time in 50 runtimes, JITs and garbage collectors, not in
/// the protocol). Each node is a whole <see cref="NodeHost"/>: its own directory, node.db, keys, policy, roster, audit trail,
/// "coordinator" HttpClient (own connection pool) and admin listener, exactly as `ftwin node run` builds it; they share only the
/// process (thread pool, runtime). A hospital never runs this: one node is one hospital's service.
/// Each node's bytes to and from the coordinator (HTTP bodies) are counted on its HttpClient and written to --traffic-file.
/// </summary>
internal static class NodeRunManyCommand
{
    public static Command Create()
    {
        var dirsFile = new Option<FileInfo>("--node-dirs-file") { Description = "A file with one node per line: its directory, a tab, its loopback admin URL.", Required = true };
        var pollWait = new Option<int>("--poll-wait") { Description = "Seconds a long-poll for work may wait.", DefaultValueFactory = _ => 10 };
        var trafficFile = new Option<FileInfo?>("--traffic-file") { Description = "Where to write the nodes' HTTP body bytes to and from the coordinator (JSON, rewritten every 250 ms and at exit)." };
        var command = new Command("run-many", "Run several nodes in one process, each its own NodeHost (the federation bench's large sizes).")
        {
            dirsFile, pollWait, trafficFile,
        };
        command.Hidden = true;
        command.SetAction(async (parse, cancellationToken) =>
        {
            var lines = (await File.ReadAllLinesAsync(parse.GetValue(dirsFile)!.FullName, cancellationToken)).Where(l => l.Trim().Length > 0).ToList();
            var nodes = new List<(string Dir, string AdminUrl)>();
            foreach (var line in lines)
            {
                var parts = line.Split('\t');
                if (parts.Length != 2)
                {
                    Console.Error.WriteLine("error: every line of --node-dirs-file is a node directory, a tab and an admin URL");
                    return 2;
                }

                FederatedTwin.Hosting.Files.OwnerOnly.Require(parts[0]);
                nodes.Add((parts[0], parts[1]));
            }

            var counters = nodes.Select(_ => new TrafficCounter()).ToList();
            var apps = new List<WebApplication>();
            try
            {
                for (var i = 0; i < nodes.Count; i++)
                {
                    var (dir, admin) = nodes[i];
                    var counter = counters[i];
                    apps.Add(NodeHost.Build([], o =>
                    {
                        o.NodeDir = dir;
                        o.AdminUrl = admin;
                        o.PollWaitSeconds = parse.GetValue(pollWait);
                    }, services => services.AddHttpClient("coordinator").AddHttpMessageHandler(() => new CountingHandler(counter))));
                }

                foreach (var app in apps)
                {
                    await app.StartAsync(cancellationToken);
                }

                var traffic = parse.GetValue(trafficFile)?.FullName;
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var writer = traffic is null ? Task.CompletedTask : WriteTraffic(traffic, counters, stop.Token);
                await Task.WhenAll(apps.Select(a => a.WaitForShutdownAsync(cancellationToken)));
                await stop.CancelAsync();
                await writer;
                if (traffic is not null)
                {
                    Write(traffic, counters);
                }

                return 0;
            }
            finally
            {
                foreach (var app in apps)
                {
                    await app.DisposeAsync();
                }
            }
        });
        return command;
    }

    private static async Task WriteTraffic(string path, List<TrafficCounter> counters, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                Write(path, counters);
                await Task.Delay(250, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            // the nodes stopped
        }
    }

    /// <summary>Replaces the file atomically (a reader never sees half of it).</summary>
    private static void Write(string path, List<TrafficCounter> counters)
    {
        var json = new JsonObject
        {
            ["nodes"] = new JsonArray([.. counters.Select(c => (JsonNode)new JsonObject
            {
                ["requests"] = Interlocked.Read(ref c.Requests),
                ["sent"] = Interlocked.Read(ref c.Sent),
                ["received"] = Interlocked.Read(ref c.Received),
            })]),
        };
        var temporary = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        File.WriteAllText(temporary, json.ToJsonString());
        File.Move(temporary, path, overwrite: true);
    }
}

/// <summary>One node's HTTP body bytes to and from the coordinator, and its requests.</summary>
internal sealed class TrafficCounter
{
    public long Requests;
    public long Sent;
    public long Received;
}

/// <summary>
/// Counts a node's request bodies as sent and its response bodies as read (headers are not counted: a few hundred bytes a
/// request, against bodies of megabytes at scale). The response keeps its headers and streams as before.
/// </summary>
internal sealed class CountingHandler(TrafficCounter counter) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counter.Requests);
        if (request.Content is { } content)
        {
            await content.LoadIntoBufferAsync(cancellationToken);
            Interlocked.Add(ref counter.Sent, content.Headers.ContentLength ?? 0);
        }

        var response = await base.SendAsync(request, cancellationToken);
        var inner = response.Content;
        var counted = new StreamContent(new CountingStream(await inner.ReadAsStreamAsync(cancellationToken), counter));
        foreach (var header in inner.Headers)
        {
            counted.Headers.TryAddWithoutValidation(header.Key, header.Value);
        }

        response.Content = counted;
        return response;
    }

    private sealed class CountingStream(Stream inner, TrafficCounter counter) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Count(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        private int Count(int read)
        {
            Interlocked.Add(ref counter.Received, read);
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
