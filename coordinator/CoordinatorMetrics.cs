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
        FencedWrites = _meter.CreateCounter<long>("ftwin.coordinator.fenced_writes", description: "Transitions refused because this replica no longer held the round engine's lease under its token.");
        _meter.CreateObservableGauge("ftwin.coordinator.leader", () => Volatile.Read(ref _leader), description: "1 while this replica holds the round engine's lease (always 1 with SQLite), else 0.");
        _meter.CreateObservableGauge("ftwin.coordinator.lease_token", () => Volatile.Read(ref _leaseToken), description: "The fencing token this replica holds the lease under (0 when none).");
    }

    public Counter<long> AuthenticationFailures { get; }

    public Counter<long> RequestsRefused { get; }

    public Counter<long> Contributions { get; }

    public Counter<long> RoundsCompleted { get; }

    public Counter<long> AttemptsRestarted { get; }

    public Counter<long> FencedWrites { get; }

    private int _leader;
    private long _leaseToken;

    /// <summary>What the leader and lease-token gauges report.</summary>
    public void SetLease(bool leader, long token)
    {
        Volatile.Write(ref _leader, leader ? 1 : 0);
        Volatile.Write(ref _leaseToken, token);
    }

    public void Dispose() => _meter.Dispose();
}
