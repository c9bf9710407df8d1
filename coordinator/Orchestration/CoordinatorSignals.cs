namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// Wakes whoever waits for the next change, at once, instead of on the next timer tick: a pulse completes every wait that began before
/// it. The state itself is always in the store; a missed pulse only costs the timer's latency, never correctness.
/// </summary>
public sealed class AsyncPulse
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Wakes every wait in this process, and tells whoever listens (<see cref="Pulsed"/>: the other replicas, through ReplicaSignals).</summary>
    public void Pulse()
    {
        PulseLocally();
        Pulsed?.Invoke();
    }

    /// <summary>Wakes every wait in this process only (a pulse another replica sent).</summary>
    public void PulseLocally() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Raised by <see cref="Pulse"/> after the local wake-up.</summary>
    public event Action? Pulsed;

    /// <summary>
    /// A task that completes at the next pulse. Take it before looking at the state, then wait on it: a pulse that comes while the
    /// state is being looked at is then not missed.
    /// </summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Completes when <paramref name="next"/> does, after <paramref name="timeout"/>, or when cancelled (without throwing), whichever is first.</summary>
    public static Task WaitAsync(Task next, TimeSpan timeout, CancellationToken cancellationToken) =>
        Task.WhenAny(next, Task.Delay(timeout, cancellationToken).ContinueWith(_ => { }, TaskScheduler.Default));
}

/// <summary>
/// The coordinator's two wake-ups: a contribution arrived (the orchestrator may complete a phase now rather than on its next tick), and
/// a phase changed (nodes long-polling for work get their next item now rather than on the poll's next check). With five phases per
/// attempt (commit, then reveal) these save most of a round's waiting.
/// </summary>
public sealed class CoordinatorSignals
{
    public AsyncPulse ContributionArrived { get; } = new();

    public AsyncPulse PhaseChanged { get; } = new();
}
