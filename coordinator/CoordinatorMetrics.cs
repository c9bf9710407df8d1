using System.Diagnostics.Metrics;

namespace FederatedTwin.Coordinator;

/// <summary>OpenTelemetry metrics of the coordinator (meter "FederatedTwin.Coordinator").</summary>
public sealed class CoordinatorMetrics : IDisposable
{
    public const string MeterName = "FederatedTwin.Coordinator";
    private readonly Meter _meter = new(MeterName);

    public CoordinatorMetrics()
    {
        AuthenticationFailures = _meter.CreateCounter<long>("ftwin.coordinator.auth_failures", description: "Node requests refused for their signature.");
        RequestsRefused = _meter.CreateCounter<long>("ftwin.coordinator.requests_refused", description: "Requests refused before they were served (body too large or too slow, rate limits, wrong listener), by rule.");
        Contributions = _meter.CreateCounter<long>("ftwin.coordinator.contributions", description: "Key shares, updates and decryption shares accepted.");
        RoundsCompleted = _meter.CreateCounter<long>("ftwin.coordinator.rounds_completed", description: "Rounds whose sum was decrypted.");
        AttemptsRestarted = _meter.CreateCounter<long>("ftwin.coordinator.attempts_restarted", description: "Attempts abandoned because a participant missed a deadline.");
    }

    public Counter<long> AuthenticationFailures { get; }

    public Counter<long> RequestsRefused { get; }

    public Counter<long> Contributions { get; }

    public Counter<long> RoundsCompleted { get; }

    public Counter<long> AttemptsRestarted { get; }

    public void Dispose() => _meter.Dispose();
}
