using System.Collections.Concurrent;
using FederatedTwin.Scenarios.Scenarios;
using FederatedTwin.Scenarios.Twin;

namespace FederatedTwin.Coordinator.Dashboard;

/// <summary>A scenario run from the dashboard: who ran it, when, the file and its result.</summary>
public sealed record ScenarioRun(string Id, string RunBy, DateTimeOffset At, string Yaml, ScenarioResult Result);

/// <summary>
/// Runs scenario files on the twin through the Scenarios library (the same <see cref="ScenarioRunner"/> as
/// `ftwin scenario run`) and keeps the recent results in memory for comparison. Results are not persisted: a scenario
/// is reproducible from its file (seeded common random numbers), so re-running it gives the same numbers.
/// </summary>
public sealed class ScenarioRuns : IDisposable
{
    /// <summary>Bounds on a run started from a browser, so one request cannot occupy the coordinator's cores for long.</summary>
    public const int MaxPopulation = 50_000;
    public const int MaxReplicates = 50;
    public const int MaxHorizon = 10;
    private const int Kept = 20;

    private readonly ConcurrentDictionary<string, ScenarioRun> _runs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    public IReadOnlyList<ScenarioRun> Recent => [.. _runs.Values.OrderByDescending(r => r.At)];

    public ScenarioRun? Get(string id) => _runs.GetValueOrDefault(id);

    /// <summary>Parses and runs a scenario file. The models are always the built-in demo set: a file may not name a directory on this host.</summary>
    public async Task<ScenarioRun> Run(string yaml, string runBy, CancellationToken cancellationToken)
    {
        var definition = ScenarioParser.Parse(yaml, new ScenarioParseOptions { ModelsOverride = "demo" });
        if (definition.Population > MaxPopulation || definition.Replicates > MaxReplicates || definition.Horizon > MaxHorizon)
        {
            throw new ScenarioFileException($"from the dashboard a scenario has at most {MaxPopulation:N0} people, {MaxReplicates} replicates and {MaxHorizon} years; run larger ones with ftwin scenario run");
        }

        await _oneAtATime.WaitAsync(cancellationToken);
        try
        {
            // The composition is the demo histogram until the registry's composition release feeds the twin (docs/scenarios.md).
            var result = await Task.Run(() => new ScenarioRunner(DemoModels.Composition()).Run(definition), cancellationToken);
            var run = new ScenarioRun(Guid.NewGuid().ToString("N")[..12], runBy, DateTimeOffset.UtcNow, yaml, result);
            _runs[run.Id] = run;
            foreach (var old in _runs.Values.OrderByDescending(r => r.At).Skip(Kept))
            {
                _runs.TryRemove(old.Id, out _);
            }

            return run;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public void Dispose() => _oneAtATime.Dispose();
}
