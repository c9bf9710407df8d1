using System.Collections.Concurrent;
using FederatedTwin.Coordinator.Registry;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Twin.Scenarios;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>Which twin a dashboard run uses: the coordinator's registry (demo models where it has none), or the demo model set.</summary>
public enum ScenarioTwin
{
    /// <summary><c>models: {registry: coordinator, fallback: demo}</c>: this federation's fitted GLMs and composition release.</summary>
    Registry,

    /// <summary><c>models: demo</c>: the built-in illustrative model set on the demo composition.</summary>
    Demo,
}

/// <summary>Where a run is: waiting for the one before it, running (replicates done of all), finished or failed.</summary>
public enum ScenarioRunState
{
    Queued,
    Running,
    Completed,
    Failed,
}

/// <summary>A scenario run from the dashboard: who started it, when, the file, the twin, its progress and its result.</summary>
public sealed class ScenarioRun(string id, string runBy, DateTimeOffset at, string yaml, ScenarioTwin twin, ScenarioDefinition definition, string? pinnedModel = null)
{
    /// <summary>The registry model whose version this run was pinned to (the model diff page runs a scenario under each of two versions); null: the newest of every lineage.</summary>
    public string? PinnedModel { get; } = pinnedModel;

    /// <summary>The registry models the result used, with their lineage and version (empty until it completes, or when only the demo set was used).</summary>
    public IReadOnlyList<ModelVersionUsed> ModelVersions { get; private set; } = [];

    private int _done;

    public string Id { get; } = id;

    public string RunBy { get; } = runBy;

    public DateTimeOffset At { get; } = at;

    public string Yaml { get; } = yaml;

    public ScenarioTwin Twin { get; } = twin;

    public string Name => Definition.Name;

    public int StartYear => Definition.StartYear;

    /// <summary>Replicates to run (each one a baseline and a scenario on the same draws).</summary>
    public int Replicates => Definition.Replicates;

    /// <summary>Replicates finished so far.</summary>
    public int Done => Volatile.Read(ref _done);

    public ScenarioRunState State { get; private set; } = ScenarioRunState.Queued;

    public string? Failure { get; private set; }

    public ScenarioResult? Result { get; private set; }

    internal ScenarioDefinition Definition { get; } = definition;

    internal void Started() => State = ScenarioRunState.Running;

    internal void Progressed(int done) => Volatile.Write(ref _done, done);

    internal void Completed(ScenarioResult result, IReadOnlyList<ModelVersionUsed> versions)
    {
        Result = result;
        ModelVersions = versions;
        State = ScenarioRunState.Completed;
    }

    internal void Failed(string reason)
    {
        Failure = reason;
        State = ScenarioRunState.Failed;
    }
}

/// <summary>
/// Runs scenario files on the twin in the background, one at a time, through the same code path as
/// <c>POST /v1/admin/scenarios/run</c> (<see cref="RegistryScenarios"/>, <see cref="ScenarioRunner.RunScenario"/>), reporting
/// each replicate as it finishes so the page can show progress; keeps the recent runs in memory for comparison. Results
/// are not persisted: a scenario is reproducible from its file and the registry (seeded common random numbers).
/// </summary>
public sealed class ScenarioRuns(CoordinatorStore store, IHostApplicationLifetime lifetime, ILogger<ScenarioRuns> logger, TimeProvider? clock = null) : IDisposable
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>Bounds on a run started from a browser, so one request cannot occupy the coordinator's cores for long.</summary>
    public const int MaxPopulation = 50_000;
    public const int MaxReplicates = 50;
    public const int MaxHorizon = 10;

    /// <summary>Runs waiting or running at once; more are refused until one finishes.</summary>
    public const int MaxPending = 4;

    private const int Kept = 20;

    private readonly ConcurrentDictionary<string, ScenarioRun> _runs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    /// <summary>Finished runs, newest first: what can be compared.</summary>
    public IReadOnlyList<ScenarioRun> Recent => [.. _runs.Values.Where(r => r.State == ScenarioRunState.Completed).OrderByDescending(r => r.At)];

    public ScenarioRun? Get(string id) => _runs.GetValueOrDefault(id);

    /// <summary>
    /// Parses the file against the chosen twin now (so a bad file is refused at once, with its field and line) and queues
    /// the run. Throws <see cref="ScenarioFileException"/> for a bad or too large file, <see cref="InvalidOperationException"/>
    /// when <see cref="MaxPending"/> runs are already waiting.
    /// </summary>
    public ScenarioRun Start(string yaml, ScenarioTwin twin, string runBy, string? pinnedModel = null)
    {
        var definition = twin == ScenarioTwin.Registry
            ? RegistryScenarios.Parse(store, yaml, RegistryScenarios.RegistryName, "demo", pinnedModel)
            : RegistryScenarios.Parse(store, yaml, "demo");
        if (definition.Population > MaxPopulation || definition.Replicates > MaxReplicates || definition.Horizon > MaxHorizon)
        {
            throw new ScenarioFileException($"from the dashboard a scenario has at most {MaxPopulation:N0} people, {MaxReplicates} replicates and {MaxHorizon} years; run larger ones with ftwin scenario run");
        }

        if (_runs.Values.Count(r => r.State is ScenarioRunState.Queued or ScenarioRunState.Running) >= MaxPending)
        {
            throw new InvalidOperationException($"{MaxPending} scenario runs are already waiting or running; start this one when one of them has finished.");
        }

        var run = new ScenarioRun(Guid.NewGuid().ToString("N")[..12], runBy, _clock.GetUtcNow(), yaml, twin, definition, twin == ScenarioTwin.Registry ? pinnedModel : null);
        _runs[run.Id] = run;
        foreach (var old in _runs.Values.Where(r => r.State is ScenarioRunState.Completed or ScenarioRunState.Failed).OrderByDescending(r => r.At).Skip(Kept))
        {
            _runs.TryRemove(old.Id, out _);
        }

        _ = Task.Run(() => Execute(run));
        return run;
    }

    private async Task Execute(ScenarioRun run)
    {
        try
        {
            await _oneAtATime.WaitAsync(lifetime.ApplicationStopping);
        }
        catch (OperationCanceledException)
        {
            run.Failed("the coordinator stopped before the run started");
            return;
        }

        try
        {
            run.Started();
            var result = ScenarioRunner.RunScenario(run.Definition, progress: new ReplicateProgress(run));
            run.Completed(result, RegistryScenarios.VersionsUsed(store, result));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A background run must end in a state the page can show: the analyst reads why it failed, the log has the trace.
            logger.LogWarning(e, "Scenario run {Run} failed", run.Id);
            run.Failed(e.Message);
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>Records each finished replicate on the run, on the simulating thread (no synchronization context).</summary>
    private sealed class ReplicateProgress(ScenarioRun run) : IProgress<int>
    {
        public void Report(int value) => run.Progressed(value);
    }

    public void Dispose() => _oneAtATime.Dispose();
}
