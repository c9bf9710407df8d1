using FederatedTwin.Analytics.Studies;
using FederatedTwin.Analytics.Census;
using System.Text.Json;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Coordinator.Orchestration;

/// <summary>
/// A federated sum (histogram) of a named vector every node computes from its own data
/// (<see cref="LocalVectors"/>). One round per study round; the result is the last round's sum, as analysts may see it:
/// the vector as a table with its margins, every count under the study's minimum cell size (parameters.min_cell_size,
/// default 11) hidden with its complements (<see cref="CountTableRelease"/>). The sum is exact (this algorithm adds no
/// noise), so the minimum cell size is the only thing between a small count and the analyst (CMS cell size suppression
/// policy); the exact decrypted sum stays in the round results, which nobody but the engine reads.
/// </summary>
public sealed class FederatedSumAlgorithm : IStudyAlgorithm
{
    public const string AlgorithmName = CensusStudy.AlgorithmName;

    public string Name => AlgorithmName;

    public void Validate(StudySpec study)
    {
        try
        {
            _ = LocalVectors.Labels(Vector(study));
        }
        catch (ArgumentException e)
        {
            // Named as the field it is, so the dashboard shows it beside the parameters and the CLI names it.
            throw new StudyFileException("parameters.vector", e.Message);
        }

        _ = CountTableRelease.StudyMinimumCellSize(study.Parameters);
    }

    public RoundRequest ConfigureRound(StudySpec study, int round, IReadOnlyList<long[]> previousSums)
    {
        var basis = CensusStudy.Basis(study);
        return basis.Request(study, LocalVectors.Labels(basis.Vector!).Count);
    }

    public RoundOutcome AggregateRound(StudySpec study, int round, IReadOnlyList<long[]> sums) =>
        round < study.Rounds ? RoundOutcome.NextRound : RoundOutcome.Finish(Publish(study, sums[^1]));

    /// <summary>
    /// The result analysts see of a decrypted sum: the table with its margins and complementary suppression, its interior cells in the
    /// vector's order (null where hidden). Also applied to a result stored before the census was suppressed (its exact sums), so an
    /// upgraded coordinator shows no small count it kept from then.
    /// </summary>
    internal static CountTableStudyResult Publish(StudySpec study, IReadOnlyList<long> counts)
    {
        var vector = Vector(study);
        var minimum = CountTableRelease.StudyMinimumCellSize(study.Parameters);
        if (counts.Any(c => c < 0))
        {
            // Counts of patients are never negative: a participant sent values that are not counts, and nothing is shown.
            throw new StudyAlgorithmException("the decrypted sum has a negative count: a participant submitted values that are not counts; nothing is published");
        }

        var table = CountTableRelease.Publish(vector, LocalVectors.Dimensions(vector), [.. counts], minimum);
        var labels = LocalVectors.Labels(vector);
        // The interior cells in the vector's order; null where suppressed (under the minimum, or hidden so that a margin cannot reveal one).
        return new CountTableStudyResult(AlgorithmName, vector, minimum, labels, InteriorCells(table), table.ToDocument());
    }

    /// <summary>A stored result from before the census was suppressed (exact sums, no table), published as it would be now.</summary>
    internal static string Legacy(StudySpec study, string result)
    {
        if (study.Algorithm != AlgorithmName)
        {
            return result;
        }

        using var document = JsonDocument.Parse(result);
        var r = document.RootElement;
        return r.ValueKind == JsonValueKind.Object && !r.TryGetProperty("table", out _) && r.TryGetProperty("sums", out var sums) && sums.ValueKind == JsonValueKind.Array
            ? Publish(study, [.. sums.EnumerateArray().Select(v => v.GetInt64())]).ToJson()
            : result;
    }

    /// <summary>The interior cells of a published table (every coordinate below its dimension's total), row-major.</summary>
    private static List<long?> InteriorCells(PublishedTable table)
    {
        var cells = new List<long?>();
        var at = new int[table.Shape.Count];
        void Walk(int d)
        {
            if (d == at.Length)
            {
                cells.Add(table.Get(at));
                return;
            }

            for (at[d] = 0; at[d] < table.Shape[d]; at[d]++)
            {
                Walk(d + 1);
            }
        }

        Walk(0);
        return cells;
    }

    private static string Vector(StudySpec study) => CensusStudy.Vector(study);
}
