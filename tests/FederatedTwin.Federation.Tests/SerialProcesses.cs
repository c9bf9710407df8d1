namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The collection of tests that run alone, after every parallel collection has finished (xunit runs a collection with
/// DisableParallelization by itself). The rest of this assembly runs two collections at a time (xunit.runner.json): most of their
/// time goes to process start-ups, long polls and phase hand-offs, not to the cores. The tests here cannot share the cores: the two
/// `ftwin demo` runs keep both busy for minutes and fail on the demo's own 180 s wait for a GLM when they get half, and the census
/// tests' 10 s phase deadlines are what tell a dead node from a live one that is slow.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialProcesses
{
    public const string Name = "Alone: CPU-bound demos and short phase deadlines";
}
