namespace FederatedTwin.Scenarios.Twin;

/// <summary>An inclusive age band in years.</summary>
public readonly record struct AgeBand(int Low, int High)
{
    /// <summary>True if age is inside.</summary>
    public bool Contains(int age) => age >= Low && age <= High;
}

/// <summary>One cell of the aggregated composition histogram; Count is null when the cell was suppressed (small cell).</summary>
public sealed record CompositionCell(AgeBand Band, bool Male, int ConditionCount, long? Count);

/// <summary>
/// The aggregated (DP-noised) composition the twin is drawn from: age band x sex x condition count, plus marginal
/// prevalence per condition (bit order of <see cref="ChronicCondition"/>).
/// Suppressed cells: a cell released as suppressed has a true count in [1, threshold-1]. If the total is known, the
/// remainder (total minus released cells) is spread equally over suppressed cells, clamped to [1, threshold-1];
/// otherwise each suppressed cell gets the midpoint threshold/2. Either way the choice is explicit and deterministic.
/// </summary>
public sealed record Composition(IReadOnlyList<CompositionCell> Cells, int SuppressionThreshold, long? KnownTotal, IReadOnlyList<double> Prevalence)
{
    /// <summary>Cell counts with suppressed cells imputed as documented above.</summary>
    public double[] ImputedCounts()
    {
        var suppressed = Cells.Count(c => c.Count is null);
        var released = Cells.Sum(c => (double)(c.Count ?? 0));
        var max = SuppressionThreshold - 1.0;
        var fill = KnownTotal is { } total && suppressed > 0
            ? Math.Clamp((total - released) / suppressed, 1.0, max)
            : SuppressionThreshold / 2.0;
        return [.. Cells.Select(c => c.Count is { } n ? Math.Max(0, n) : fill)];
    }
}
