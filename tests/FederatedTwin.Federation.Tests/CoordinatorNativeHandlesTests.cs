using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Text;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Xunit.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// Rounds leave nothing for the finalizer (a trace of a federation showed the finalizer thread busy releasing SafeHandles): a real
/// coordinator and three real nodes (the node service, what `ftwin node run` starts), all in this process on loopback, run whole
/// studies, and the runtime's own FinalizeObject events (ClrEtwAll event 29, GC keyword, verbose) name every object the finalizer
/// ran on, by type (the event's TypeID is the method table, resolved in-process). A finalizable type of our own, allocated and
/// dropped during the measurement, shows that the listener sees them. The listener hears the whole process, so the test runs alone
/// (<see cref="SerialProcesses"/>): a CI run in parallel with the PostgreSQL tests saw Npgsql's GSS contexts and other classes'
/// certificates and keys finalized during its window.
/// </summary>
[Collection(SerialProcesses.Name)]
public sealed class CoordinatorNativeHandlesTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int ControlObjects = 25;

    private InProcessCoordinator _coordinator = null!;
    private readonly List<WebApplication> _nodes = [];

    public async Task InitializeAsync()
    {
        _coordinator = await InProcessCoordinator.Start("native-handles");
        var coordinatorKey = ((CoordinatorKeys)_coordinator.App.Services.GetService(typeof(CoordinatorKeys))!).Identity.PublicKey;
        var root = Path.GetDirectoryName(_coordinator.DataDir)!;
        using var admin = _coordinator.Admin();
        List<(string Name, string Dir)> members = [];
        for (var i = 0; i < 3; i++)
        {
            var dir = Path.Combine(root, "nodes", $"site-{i}");
            using var node = NodeDirectory.OpenOrInitialize(dir);
            node.WriteSiteInput(SiteInput.Synthetic(i + 1));
            await File.WriteAllTextAsync(node.PolicyPath, LocalFederation.DemoPolicy(coordinatorKey, "HOPERAT"));
            var token = (await admin.Send(HttpMethod.Post, "/v1/admin/tokens"))!["token"]!.ToString();
            await Enrollment.Enroll(node, _coordinator.Url, token, $"site-{i}", TimeProvider.System, CancellationToken.None);
            members.Add(($"site-{i}", dir));
        }

        await admin.Send(HttpMethod.Post, "/v1/admin/roster", new ByteArrayContent(DemoRoster.Establish(root, members).ToJson()));
        foreach (var (_, dir) in members)
        {
            var app = FederatedTwin.Node.NodeHost.Build([], o =>
            {
                o.NodeDir = dir;
                o.AdminUrl = $"http://127.0.0.1:{ChildProcess.FreeLoopbackPort()}";
                o.PollWaitSeconds = 2;
            });
            await app.StartAsync();
            _nodes.Add(app);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.StopAsync();
            await node.DisposeAsync();
        }

        await _coordinator.DisposeAsync();
    }

    [Fact]
    public async Task Rounds_and_signed_requests_leave_nothing_for_the_finalizer()
    {
        await RunCensus("warm-up"); // pools, caches and JIT, once per process
        Settle();
        using var listener = new FinalizerListener();
        for (var i = 0; i < 3; i++)
        {
            await RunCensus($"measured-{i}");
        }

        DropControls();
        Settle();
        await Task.Delay(TimeSpan.FromSeconds(3)); // runtime events reach an EventListener through EventPipe, in batches
        var finalized = listener.Finalized.GroupBy(t => t.Name).Select(g => (Type: g.Key, Count: g.Count(), Handle: g.First().SafeHandle)).OrderByDescending(g => g.Count).ToList();
        foreach (var (type, count, _) in finalized)
        {
            output.WriteLine($"{count,6} {type}");
        }

        Assert.Equal(ControlObjects, finalized.SingleOrDefault(f => f.Type == typeof(FinalizableControl).FullName).Count); // the instrument works

        // No native handle is left to the finalizer (crypto contexts, keys, certificates, sockets, statements, connections), and nothing
        // of ours, but one: SQLitePCLRaw's hook_handle. Microsoft.Data.Sqlite registers a rollback hook when a transaction begins and
        // clears it when it ends; clearing makes a hook_handle around no object (invalid, so never released: nothing native behind it)
        // that the driver drops undisposed (SQLitePCLRaw 2.1.11 provider, sqlite3_rollback_hook with a null callback). One per
        // transaction, it cannot be reached from here; it costs the finalizer an empty call.
        var leaks = finalized.Where(f => (f.Handle && f.Type != "SQLitePCL.hook_handle") || f.Type.StartsWith("FederatedTwin.", StringComparison.Ordinal) && f.Type != typeof(FinalizableControl).FullName).ToList();
        Assert.True(leaks.Count == 0, "left to the finalizer during 3 studies: " + string.Join(", ", leaks.Select(f => $"{f.Count} {f.Type}")));
    }

    private async Task RunCensus(string id)
    {
        var spec = DemoStudies.Census() with { Id = new StudyId("census-" + id) };
        using var admin = _coordinator.Admin();
        await admin.Send(HttpMethod.Post, "/v1/admin/studies", new StringContent(StudyYaml.Write(spec), Encoding.UTF8, "application/yaml"));
        var deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            var state = (await admin.Send(HttpMethod.Get, $"/v1/admin/studies/{spec.Id}"))!["state"]!.ToString();
            if (state is "completed")
            {
                return;
            }

            Assert.False(state is "failed" or "cancelled" || DateTimeOffset.UtcNow > deadline, $"study {spec.Id} is {state}");
            await Task.Delay(100);
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void DropControls()
    {
        for (var i = 0; i < ControlObjects; i++)
        {
            _ = new FinalizableControl();
        }
    }

    private static void Settle()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    /// <summary>The control: a type with a finalizer, dropped undisposed.</summary>
    private sealed class FinalizableControl
    {
        private static int _finalized;

        ~FinalizableControl() => Interlocked.Increment(ref _finalized);
    }

    /// <summary>The runtime's FinalizeObject events, by type name.</summary>
    private sealed class FinalizerListener : EventListener
    {
        public ConcurrentBag<(string Name, bool SafeHandle)> Finalized { get; } = [];

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName != "FinalizeObject" || e.Payload is null)
            {
                return;
            }

            var typeId = e.Payload[e.PayloadNames!.IndexOf("TypeID")] switch
            {
                nint pointer => (ulong)pointer,
                var value => Convert.ToUInt64(value, System.Globalization.CultureInfo.InvariantCulture),
            };
            var type = Type.GetTypeFromHandle(RuntimeTypeHandle.FromIntPtr((nint)typeId));
            Finalized.Add((type?.FullName ?? $"0x{typeId:x}", type is not null && typeof(System.Runtime.InteropServices.SafeHandle).IsAssignableFrom(type)));
        }
    }
}
