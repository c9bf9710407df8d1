using System.Globalization;

namespace FederatedTwin.Twin.Simulation;

/// <summary>An inclusive age band in years.</summary>
public readonly record struct AgeBand(int Low, int High)
{
    /// <summary>
    /// The oldest age the twin draws for the open top band "90+". ASSUMPTION: the schema caps ages at 90 (Safe Harbor),
    /// so the spread above 90 is unknown; 90-99 is used and the models see 90 for all of them.
    /// </summary>
    public const int TopBandHigh = 99;

    /// <summary>True if age is inside.</summary>
    public bool Contains(int age) => age >= Low && age <= High;

    /// <summary>Parses a feature-schema age band label: "65-74" or "90+".</summary>
    public static AgeBand Parse(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        if (label.EndsWith('+'))
        {
            return new AgeBand(int.Parse(label[..^1], CultureInfo.InvariantCulture), TopBandHigh);
        }

        var parts = label.Split('-');
        return parts.Length == 2
            ? new AgeBand(int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture))
            : throw new FormatException($"'{label}' is not an age band like 65-74 or 90+");
    }
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
    /// <summary>Cell counts already filled by the release's own rule (<see cref="ReleasedComposition"/>); used as they are.</summary>
    public IReadOnlyList<double>? FilledCounts { get; init; }

    /// <summary>
    /// Per cell, each condition's probability given the cell (age band, sex, condition-count level): the release's
    /// prevalence count over the cell count. When set, conditions are drawn from these instead of <see cref="Prevalence"/>.
    /// </summary>
    public IReadOnlyList<double[]>? CellConditionProbabilities { get; init; }

    /// <summary>True when the highest condition count of the cells means "that many or more" (the release's 4+).</summary>
    public bool OpenTopLevel { get; init; }

    /// <summary>Where the composition comes from: a release's registry id, or "demo".</summary>
    public string Source { get; init; } = "demo";

    /// <summary>Cell counts with suppressed cells imputed as documented above.</summary>
    public double[] ImputedCounts()
    {
        if (FilledCounts is { } filled)
        {
            return [.. filled];
        }

        var suppressed = Cells.Count(c => c.Count is null);
        var released = Cells.Sum(c => (double)(c.Count ?? 0));
        var max = SuppressionThreshold - 1.0;
        var fill = KnownTotal is { } total && suppressed > 0
            ? Math.Clamp((total - released) / suppressed, 1.0, max)
            : SuppressionThreshold / 2.0;
        return [.. Cells.Select(c => c.Count is { } n ? Math.Max(0, n) : fill)];
    }
}
