namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// A table of exact counts as analysts see it (the federated sum's census, patients by age band and sex): with every margin,
/// every cell under the minimum cell size hidden (zero included) and enough complements hidden that no hidden cell follows
/// from the shown ones (<see cref="ComplementarySuppression"/>, audited by <see cref="SuppressionVerifier"/>). The same rule
/// as the composition's, so that no count of 1 to 10 reaches an analyst whether or not a study adds noise (CMS cell size
/// suppression policy).
/// </summary>
public static class CountTableRelease
{
    /// <summary>The study parameter naming the smallest count a counting study (census, composition, observed outcome totals) may publish.</summary>
    public const string MinimumCellSizeParameter = "min_cell_size";

    /// <summary>A study's declared minimum cell size (parameters.min_cell_size), default 11; a malformed value names the field.</summary>
    public static int StudyMinimumCellSize(IReadOnlyDictionary<string, string>? parameters) =>
        parameters?.GetValueOrDefault(MinimumCellSizeParameter) is not { } m ? ComplementarySuppression.DefaultMinimumCellSize
        : int.TryParse(m, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var k) && k >= 1 ? k
        : throw new Studies.StudyFileException("parameters." + MinimumCellSizeParameter, "must be a positive whole number");

    /// <param name="name">The table's name (the vector's).</param>
    /// <param name="dimensions">Levels per dimension, the last varying fastest in <paramref name="counts"/>.</param>
    /// <param name="counts">The decrypted interior counts.</param>
    /// <param name="minimumCellSize">The smallest count shown.</param>
    public static PublishedTable Publish(string name, IReadOnlyList<IReadOnlyList<string>> dimensions, ReadOnlySpan<long> counts, int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        var table = new MarginTable([.. dimensions.Select(d => d.Count)], counts);
        var suppressed = ComplementarySuppression.Suppress(table, minimumCellSize);
        if (!SuppressionVerifier.Verify(table, suppressed, minimumCellSize).Passed)
        {
            throw new InvalidOperationException($"suppression of {name} failed its audit; nothing is published");
        }

        return new PublishedTable(name, table, suppressed, dimensions);
    }
}
