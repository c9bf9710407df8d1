using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>Advances every live study on a timer. Holds no state of its own: a restart loses nothing.</summary>
public sealed partial class StudyOrchestrator(RoundEngine engine, IOptions<CoordinatorOptions> options, ILogger<StudyOrchestrator> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(options.Value.TickMilliseconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                engine.Advance(DateTimeOffset.UtcNow);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A failed transition rolls back and is retried on the next tick; never crash the loop.
                LogFailure(logger, e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Advancing studies failed; retrying on the next tick")]
    private static partial void LogFailure(ILogger logger, Exception e);
}
