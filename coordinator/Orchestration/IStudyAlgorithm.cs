using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// A study's algorithm, behind the orchestration seam (after Flower's Strategy): what to ask the
/// nodes in a round, and how the decrypted sum moves the study on. Rounds, keys, attempts, deadlines
/// and persistence live once, in <see cref="RoundEngine"/>; an algorithm never sees a ciphertext.
/// </summary>
public interface IStudyAlgorithm
{
    string Name { get; }

    /// <summary>Refuses a study whose parameters this algorithm cannot run, with a reason naming the field.</summary>
    void Validate(StudySpec study);

    /// <summary>What every participant computes in round r, given the decrypted sums of earlier rounds.</summary>
    RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums);

    /// <summary>After round r's sum is decrypted: <see cref="RoundOutcome.NextRound"/>, or the study's final result.</summary>
    RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums);
}

/// <summary>How a decrypted round moves a study on: another round, or finished with its typed result.</summary>
public abstract record RoundOutcome
{
    private RoundOutcome()
    {
    }

    /// <summary>Another round follows (more IRLS steps, the evaluation round, more FedAvg rounds).</summary>
    public static RoundOutcome NextRound { get; } = new Continue();

    /// <summary>The study is complete with <paramref name="result"/>.</summary>
    public static RoundOutcome Finish(StudyResult result) => new Finished(result ?? throw new ArgumentNullException(nameof(result)));

    /// <summary>Another round follows.</summary>
    public sealed record Continue : RoundOutcome;

    /// <summary>The study is complete; <see cref="Result"/> is stored, and its model (if any) registered.</summary>
    public sealed record Finished(StudyResult Result) : RoundOutcome;
}

/// <summary>The algorithms the coordinator knows, by name.</summary>
public sealed class AlgorithmCatalog(IEnumerable<IStudyAlgorithm> algorithms)
{
    private readonly Dictionary<string, IStudyAlgorithm> _byName = algorithms.ToDictionary(a => a.Name, StringComparer.Ordinal);

    public IEnumerable<string> Names => _byName.Keys.Order(StringComparer.Ordinal);

    public IStudyAlgorithm Get(string name) =>
        _byName.TryGetValue(name, out var a) ? a : throw new StudyFileException("algorithm", $"unknown algorithm '{name}'; known: {string.Join(", ", _byName.Keys)}");
}
