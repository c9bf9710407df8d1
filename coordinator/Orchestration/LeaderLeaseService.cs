using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// Keeps <see cref="LeaderLease"/> current: renews it every third of its duration while this replica leads, tries to take it as often
/// while another does, and gives it up on a clean stop. A renewal that fails (the store unreachable, a serialization conflict) is tried
/// again at the next step; once the lease's duration has passed since the last good one, this replica stops leading (the fence would
/// refuse its writes anyway). Does nothing with SQLite.
/// </summary>
public sealed partial class LeaderLeaseService(LeaderLease lease, ILogger<LeaderLeaseService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!lease.Contended)
        {
            return;
        }

        var failing = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                lease.Step();
                failing = false;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (!failing)
                {
                    LogStepFailed(logger, e);
                    failing = true;
                }

                if (lease.PastValidity())
                {
                    lease.Lost($"renewal failed for longer than the lease ({e.GetType().Name})");
                }
            }

            try
            {
                await Task.Delay(lease.RenewInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            lease.Release();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogReleaseFailed(logger, e); // the lease then runs out by itself
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The round engine's lease could not be renewed or taken; trying again every third of the lease")]
    private static partial void LogStepFailed(ILogger logger, Exception e);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The round engine's lease could not be released at stop; it runs out by itself")]
    private static partial void LogReleaseFailed(ILogger logger, Exception e);
}
