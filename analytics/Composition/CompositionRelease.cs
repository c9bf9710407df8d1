using System.Globalization;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Analytics.Composition;

/// <summary>How the counts of a release were made: with each node's DP noise, or exactly (a study without dp_rho).</summary>
public enum ReleasedCounts
{
    /// <summary>Noisy (DP) counts: cross-table identities hold only up to independent noise, so each table is planned on its own.</summary>
    Noisy,

    /// <summary>Exact counts: Σ_j prevalence_j = level × composition holds exactly for levels 1–3, so the tables are planned together.</summary>
    Exact,
}

/// <summary>
/// The analyst's view of the population composition (DESIGN §8): the decrypted counts, rounded to non-negative integers,
/// with all margins computed from those rounded cells (post-processing, so the totals cost no extra budget and add up
/// exactly), small cells suppressed with complementary suppression, and the result audited before it is returned. A
/// prevalence count is also hidden whenever the composition count of its population (same age band, sex and
/// condition-count level or total) is hidden: a count of patients with a condition would otherwise bound the hidden
/// population from below.
/// <para>
/// Exact counts are planned as linked tables (<see cref="LinkedTables"/>). Each patient at condition-count level L ≤ 3 has
/// exactly L of the 11 conditions (the node's condition_count is the number of its condition flags), so for every age band,
/// sex and level 1–3, and for their margins, Σ_j prevalence_j = L × composition: with one prevalence cell of such a
/// population hidden and the others and the composition cell shown, the hidden one is L × composition − Σ shown. So the 12
/// tables get one pattern, planned and audited against their lines and these identities together. The 4+ level has no such
/// identity (a patient there has 4 to 11 conditions), only bounds. Noisy counts carry independent noise per cell, so the
/// identities do not hold on what is published and each table is planned on its own, as before.
/// </para>
/// </summary>
public sealed class CompositionRelease
{
    private CompositionRelease(PublishedTable composition, IReadOnlyList<PublishedTable> prevalence, ReleasedCounts counts)
    {
        Composition = composition;
        Prevalence = prevalence;
        Counts = counts;
    }

    /// <summary>Whether the counts were noisy (tables planned one by one) or exact (planned together, as linked tables).</summary>
    public ReleasedCounts Counts { get; }

    /// <summary>Age band × sex × condition-count level, with margins.</summary>
    public PublishedTable Composition { get; }

    /// <summary>One table per condition: age band × sex × condition-count level 1..4+, with margins.</summary>
    public IReadOnlyList<PublishedTable> Prevalence { get; }

    /// <param name="noisyComposition">The 80 decoded composition counts (<see cref="CompositionLayout.CompositionIndex"/>).</param>
    /// <param name="noisyPrevalence">The 704 decoded prevalence counts (<see cref="CompositionLayout.PrevalenceIndex"/>).</param>
    /// <param name="conditionNames">The 11 condition names, in the layout's order.</param>
    /// <param name="counts">Whether the counts carry DP noise or are exact (then the tables are planned together).</param>
    /// <param name="minimumCellSize">Smallest count shown (default 11).</param>
    public static CompositionRelease Publish(
        ReadOnlySpan<double> noisyComposition,
        ReadOnlySpan<double> noisyPrevalence,
        IReadOnlyList<string> conditionNames,
        ReleasedCounts counts,
        int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(conditionNames);
        if (noisyComposition.Length != CompositionLayout.CompositionCells)
        {
            throw new ArgumentException($"need {CompositionLayout.CompositionCells} composition counts, not {noisyComposition.Length}", nameof(noisyComposition));
        }

        if (noisyPrevalence.Length != CompositionLayout.PrevalenceCells)
        {
            throw new ArgumentException($"need {CompositionLayout.PrevalenceCells} prevalence counts, not {noisyPrevalence.Length}", nameof(noisyPrevalence));
        }

        if (conditionNames.Count != CompositionLayout.Conditions)
        {
            throw new ArgumentException($"need {CompositionLayout.Conditions} condition names", nameof(conditionNames));
        }

        var composition = new MarginTable(CompositionLayout.CompositionShape, NoisyCounts.RoundToNonNegative(noisyComposition));
        var prevalenceCounts = NoisyCounts.RoundToNonNegative(noisyPrevalence);
        var prevalenceTables = Enumerable.Range(0, CompositionLayout.Conditions)
            .Select(j => new MarginTable(CompositionLayout.PrevalenceShape, prevalenceCounts.AsSpan(j * CompositionLayout.PrevalenceCellsPerCondition, CompositionLayout.PrevalenceCellsPerCondition)))
            .ToList();
        var (compositionSuppressed, prevalenceSuppressed) = counts == ReleasedCounts.Exact
            ? PlanLinked(composition, prevalenceTables, minimumCellSize)
            : PlanTableByTable(composition, prevalenceTables, minimumCellSize, conditionNames);

        var compositionLabels = new[] { CompositionLayout.AgeBandLabels, CompositionLayout.SexLabels, CompositionLayout.ConditionCountLabels };
        var prevalenceLabels = new[] { CompositionLayout.AgeBandLabels, CompositionLayout.SexLabels, CompositionLayout.ConditionCountLabels.Skip(1).ToArray() };
        var prevalence = prevalenceTables.Select((table, j) => new PublishedTable($"prevalence of {conditionNames[j]}", table, prevalenceSuppressed[j], prevalenceLabels)).ToList();
        return new CompositionRelease(new PublishedTable("composition", composition, compositionSuppressed, compositionLabels), prevalence, counts);
    }

    /// <summary>
    /// The composition and the 11 prevalence tables as one set of linked tables: each table's lines, and for every age band,
    /// sex (each or total) and level 1–3, Σ_j prevalence_j − level × composition = 0.
    /// </summary>
    public static LinkedTables Link(MarginTable composition, IReadOnlyList<MarginTable> prevalence)
    {
        ArgumentNullException.ThrowIfNull(composition);
        ArgumentNullException.ThrowIfNull(prevalence);
        var tables = new List<MarginTable> { composition };
        tables.AddRange(prevalence);
        var offsets = new int[tables.Count];
        for (int t = 1; t < tables.Count; t++)
        {
            offsets[t] = offsets[t - 1] + tables[t - 1].CellCount;
        }

        var identities = new List<LinearIdentity>();
        for (int a = 0; a <= CompositionLayout.AgeBands; a++)
        {
            for (int s = 0; s <= CompositionLayout.Sexes; s++)
            {
                for (int level = 1; level < CompositionLayout.ConditionCountLevels - 1; level++)
                {
                    var cells = prevalence.Select((p, j) => offsets[j + 1] + p.Index([a, s, level - 1])).Append(composition.Index([a, s, level])).ToArray();
                    var coefficients = Enumerable.Repeat(1L, prevalence.Count).Append(-level).ToArray();
                    identities.Add(new LinearIdentity(cells, coefficients));
                }
            }
        }

        return new LinkedTables(tables, identities);
    }

    /// <summary>The composition cell of a prevalence cell's population (same age band, sex, and level or total).</summary>
    private static int PopulationOf(MarginTable composition, MarginTable prevalence, int cell)
    {
        var at = prevalence.Coordinates(cell);
        at[2] = at[2] == CompositionLayout.PrevalenceCountLevels ? CompositionLayout.ConditionCountLevels : at[2] + 1;
        return composition.Index(at);
    }

    private static (bool[] Composition, bool[][] Prevalence) PlanLinked(MarginTable composition, List<MarginTable> prevalence, int minimumCellSize)
    {
        LinkedTables linked;
        try
        {
            linked = Link(composition, prevalence);
        }
        catch (ArgumentException e)
        {
            // Exact counts that break Σ_j prevalence_j = level × composition were not counted as the layout says: nothing is published.
            throw new InvalidOperationException("the exact composition and prevalence counts do not satisfy their identities; nothing is published", e);
        }

        var hiddenWith = new List<(int Cell, int Dependent)>();
        for (int j = 0; j < prevalence.Count; j++)
        {
            for (int c = 0; c < prevalence[j].CellCount; c++)
            {
                hiddenWith.Add((linked.Cell(0, PopulationOf(composition, prevalence[j], c)), linked.Cell(j + 1, c)));
            }
        }

        var suppressed = ComplementarySuppression.Suppress(linked, minimumCellSize, forced: null, hiddenWith);
        if (!SuppressionVerifier.Verify(linked, suppressed, minimumCellSize).Passed)
        {
            throw new InvalidOperationException("suppression of the linked composition and prevalence tables failed its audit; nothing is published");
        }

        var split = Enumerable.Range(0, linked.Tables.Count).Select(t => suppressed.AsSpan(linked.Offset(t), linked.Tables[t].CellCount).ToArray()).ToList();
        return (split[0], [.. split.Skip(1)]);
    }

    private static (bool[] Composition, bool[][] Prevalence) PlanTableByTable(MarginTable composition, List<MarginTable> prevalence, int minimumCellSize, IReadOnlyList<string> conditionNames)
    {
        var compositionSuppressed = ComplementarySuppression.Suppress(composition, minimumCellSize);
        Audit(composition, compositionSuppressed, minimumCellSize, "composition");
        var result = new bool[prevalence.Count][];
        for (int j = 0; j < prevalence.Count; j++)
        {
            var table = prevalence[j];
            var forced = Enumerable.Range(0, table.CellCount).Select(c => compositionSuppressed[PopulationOf(composition, table, c)]).ToArray();
            result[j] = ComplementarySuppression.Suppress(table, minimumCellSize, forced);
            Audit(table, result[j], minimumCellSize, conditionNames[j]);
        }

        return (compositionSuppressed, result);
    }

    /// <summary>
    /// The release as the coordinator's model registry stores it (kind "composition", id composition/&lt;year&gt;/&lt;study&gt;):
    /// the composition table, one prevalence table per condition (<see cref="PublishedTable.ToDocument"/>), provenance and privacy.
    /// The twin reads this document back (twin, ReleasedComposition).
    /// </summary>
    public CompositionDocument ToDocument(string studyId, string purposeOfUse, int year, int minimumCellSize, double rho, DateTimeOffset createdAt) => new(
        $"composition/{year}/{studyId}",
        CompositionDocument.CompositionKind,
        CompositionDocument.CompositionKind,
        year,
        minimumCellSize,
        Counts == ReleasedCounts.Exact ? "linked_tables" : "table_by_table",
        Composition.ToDocument(),
        CompositionLayout.ConditionNames.Select((name, j) => (name, j)).ToDictionary(x => x.name, x => Prevalence[x.j].ToDocument(), StringComparer.Ordinal),
        studyId,
        purposeOfUse,
        createdAt.ToString("O", CultureInfo.InvariantCulture),
        new CompositionPrivacyDocument(rho > 0, rho > 0 ? rho : null, CompositionLayout.L2Sensitivity));

    private static void Audit(MarginTable table, bool[] suppressed, int minimumCellSize, string name)
    {
        var audit = SuppressionVerifier.Verify(table, suppressed, minimumCellSize);
        if (!audit.Passed)
        {
            throw new InvalidOperationException($"suppression of {name} failed its audit; nothing is published");
        }
    }
}
