using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// Advances every live study on a timer, and at once when a contribution arrives (a phase may be complete). Holds no state of its own:
/// a restart loses nothing. Each pass also runs the study templates' refresh rules (<see cref="StudyRefresh"/>), after the studies
/// advanced, so a run that just ended lets its template's next run be created in the same pass. With replicas on one PostgreSQL store,
/// only the holder of the round engine's lease runs the passes (<see cref="LeaderLease"/>); a pass whose write the lease's fence refuses
/// rolls back and ends this replica's leadership.
/// </summary>
public sealed partial class StudyOrchestrator(RoundEngine engine, StudyRefresh refresh, CoordinatorSignals signals, LeaderLease lease, IOptions<CoordinatorOptions> options, TimeProvider time, ILogger<StudyOrchestrator> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var tick = TimeSpan.FromMilliseconds(options.Value.TickMilliseconds);
        var full = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var contribution = Task.WhenAny(signals.ContributionArrived.Next, lease.Acquired.Next);
            if (!lease.IsLeader)
            {
                await AsyncPulse.WaitAsync(contribution, tick, stoppingToken);
                continue;
            }

            try
            {
                engine.Advance(time.GetUtcNow());
                refresh.Advance(time.GetUtcNow());
                full = false;
            }
            catch (Exception e) when (Hosting.Storage.StoreSizeCap.IsFull(e))
            {
                // coordinator.db at its size cap (or the disk full): the transition rolled back; said once, in one line, until it passes.
                if (!full)
                {
                    LogStoreFull(logger, Hosting.Storage.StoreSizeCap.Message("the coordinator's store (coordinator.db)", "--max-store-mb", "Coordinator:MaxStoreMegabytes", options.Value.MaxStoreMegabytes * 1024L * 1024L));
                    full = true;
                }

                await AsyncPulse.WaitAsync(contribution, tick, stoppingToken);
                continue;
            }
            catch (LeaseLostException e)
            {
                // Another replica leads now (or this one's lease ran out while it was paused): the transition rolled back.
                LogFenced(logger, e.Message);
                lease.Lost(e.Message, fenced: true);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A failed transition rolls back and is retried on the next tick; never crash the loop.
                LogFailure(logger, e);
            }

            await AsyncPulse.WaitAsync(contribution, tick, stoppingToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Advancing studies failed, retrying on each tick: {Reason}")]
    private static partial void LogStoreFull(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A transition was refused by the lease's fence and rolled back: {Reason}")]
    private static partial void LogFenced(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Advancing studies failed; retrying on the next tick")]
    private static partial void LogFailure(ILogger logger, Exception e);
}
