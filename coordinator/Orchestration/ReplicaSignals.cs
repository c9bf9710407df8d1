using FederatedTwin.Coordinator.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// Carries <see cref="CoordinatorSignals"/> between replicas on PostgreSQL: a contribution stored through replica B wakes the leader's
/// orchestrator on A, and a phase changed by A wakes the long polls B holds. Each local pulse is sent as a NOTIFY after the change
/// committed (coalesced: one notification per kind for any number of pulses while one is being sent), on a pooled connection; one
/// connection per replica LISTENs, and pulses the local signal for what another replica sent. A notification lost (a connection
/// dropped, the listener reconnecting) costs only latency: the orchestrator's tick and the long poll's re-check still run.
/// </summary>
public sealed partial class ReplicaSignals(CoordinatorSignals signals, LeaderLease lease, CoordinatorStore store, ILogger<ReplicaSignals> logger) : BackgroundService
{
    private const string Contribution = "contribution", Phase = "phase";

    private readonly SemaphoreSlim _pending = new(0);
    private int _contribution, _phase;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!lease.Contended)
        {
            return Task.CompletedTask; // SQLite: one process, nothing to carry
        }

        signals.ContributionArrived.Pulsed += () => Queue(ref _contribution);
        signals.PhaseChanged.Pulsed += () => Queue(ref _phase);
        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Task.Run(() => ListenAsync(stoppingToken), stoppingToken), Task.Run(() => SendAsync(stoppingToken), stoppingToken));

    private void Queue(ref int flag)
    {
        if (Interlocked.Exchange(ref flag, 1) == 0)
        {
            _pending.Release();
        }
    }

    private async Task SendAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await _pending.WaitAsync(stoppingToken);
            foreach (var (kind, take) in new (string, Func<bool>)[] { (Contribution, () => Interlocked.Exchange(ref _contribution, 0) == 1), (Phase, () => Interlocked.Exchange(ref _phase, 0) == 1) })
            {
                if (!take())
                {
                    continue;
                }

                try
                {
                    await using var c = Npgsql(store);
                    NotifyQueries.Notify(c, $"{kind} {lease.ReplicaId}");
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogSendFailed(logger, kind, e); // the other replicas fall back on their ticks
                }
            }
        }
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var c = Npgsql(store); // held while it listens (a pooled connection is reset, UNLISTEN included, when returned)
                c.Notification += (_, e) => Received(e.Payload);
                NotifyQueries.Listen(c);
                // Anything sent while no connection listened is lost: look at the store now rather than at the next tick.
                signals.ContributionArrived.PulseLocally();
                signals.PhaseChanged.PulseLocally();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await c.WaitAsync(stoppingToken);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogListenFailed(logger, e);
                await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
            }
        }
    }

    private static NpgsqlConnection Npgsql(CoordinatorStore store) =>
        (object)store.Open() as NpgsqlConnection ?? throw new InvalidOperationException("Replica notifications need the PostgreSQL store.");

    private void Received(string payload)
    {
        var space = payload.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || payload.AsSpan(space + 1).SequenceEqual(lease.ReplicaId))
        {
            return; // this replica's own notification: its local pulse already went out
        }

        switch (payload[..space])
        {
            case Contribution:
                signals.ContributionArrived.PulseLocally();
                break;
            case Phase:
                signals.PhaseChanged.PulseLocally();
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A {Kind} notification to the other replicas could not be sent; they see the change on their next tick")]
    private static partial void LogSendFailed(ILogger logger, string kind, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Listening for the other replicas' notifications failed; reconnecting in 1 s (their changes are seen on the ticks meanwhile)")]
    private static partial void LogListenFailed(ILogger logger, Exception e);
}
