namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// Primary and complementary cell suppression for tables published with all their margins.
/// Primary: every cell, interior or margin, below the minimum cell size (the CMS cell size suppression
/// policy: no count 1–10, nor any value from which one can be derived; here 0 too, since a noisy 0 is a small
/// count like any other). Complementary: an identity the analyst knows (a line: total = Σ interior; across linked
/// tables, e.g. Σ_j prevalence_j = level × composition) with exactly one suppressed cell gives that cell away, so the
/// smallest published cell of that identity (least information lost) is suppressed too, until no identity has exactly
/// one (the line-by-line heuristic behind τ-ARGUS's hypercube method; Hundepool et al. 2012, Statistical Disclosure
/// Control, §4.4; Giessing and Repsilber 2002). So is an identity whose suppressed cells all have coefficients of one
/// sign and add up to 0: counts are non-negative, so each of them is then exactly 0. Because these rules are necessary
/// but not sufficient, each fixed point is then checked by exact linear algebra over all the identities at once
/// (<see cref="SuppressionAlgebra"/>), and a cell still determined gets one more partner from its own identities
/// before the rules run again. Every step suppresses one more cell, so it terminates.
/// Bounds, not exact values, can still be inferred for suppressed cells (interval disclosure); the noise the
/// counts carry, when they carry any, is what protects them formally.
/// </summary>
public static class ComplementarySuppression
{
    /// <summary>The default minimum cell size (CMS: cells of 1 to 10 are never shown).</summary>
    public const int DefaultMinimumCellSize = 11;

    /// <summary>Suppression pattern over the extended cells of <paramref name="table"/>.</summary>
    public static bool[] Suppress(MarginTable table, int minimumCellSize = DefaultMinimumCellSize) =>
        Suppress(table, minimumCellSize, forced: null);

    /// <summary>
    /// As <see cref="Suppress(MarginTable, int)"/>, with extra cells that must be suppressed whatever their value
    /// (e.g. a prevalence count whose population cell is hidden).
    /// </summary>
    public static bool[] Suppress(MarginTable table, int minimumCellSize, IReadOnlyList<bool>? forced)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Suppress(LinkedTables.Of(table), minimumCellSize, forced, hiddenWith: null);
    }

    /// <summary>
    /// One suppression pattern over linked tables (their cells numbered as in <see cref="LinkedTables"/>), planned against
    /// every identity at once. <paramref name="hiddenWith"/> lists (cell, dependent) pairs: whenever the cell is suppressed
    /// the dependent is too, whatever its value (a prevalence count whose population is hidden would bound it from below).
    /// </summary>
    public static bool[] Suppress(LinkedTables tables, int minimumCellSize, IReadOnlyList<bool>? forced, IReadOnlyList<(int Cell, int Dependent)>? hiddenWith)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentOutOfRangeException.ThrowIfNegative(minimumCellSize);
        if (forced is not null && forced.Count != tables.CellCount)
        {
            throw new ArgumentException($"need one flag per extended cell ({tables.CellCount})", nameof(forced));
        }

        var suppressed = new bool[tables.CellCount];
        for (int c = 0; c < tables.CellCount; c++)
        {
            suppressed[c] = tables[c] < minimumCellSize || (forced is not null && forced[c]);
        }

        var identitiesOfCell = IdentitiesOfCells(tables);
        var dependents = (hiddenWith ?? []).ToLookup(d => d.Cell, d => d.Dependent);
        while (true)
        {
            ApplyRules(tables, suppressed, dependents);
            var determined = SuppressionAlgebra.Analyse(tables, suppressed).DeterminedCells();
            if (determined.Count == 0)
            {
                return suppressed;
            }

            // One partner per determined cell whose identities got none yet in this pass: one elimination per pass
            // instead of one per partner, which is what keeps linked tables of a thousand cells quick to plan.
            var touched = new HashSet<int>();
            foreach (var cell in determined)
            {
                if (identitiesOfCell[cell].Any(touched.Contains))
                {
                    continue;
                }

                int partner = SmallestPublished(tables, suppressed, identitiesOfCell[cell].SelectMany(i => tables.Identities[i].Cells))
                    ?? SmallestPublished(tables, suppressed, Enumerable.Range(0, tables.CellCount))
                    ?? throw new InvalidOperationException("a determined cell with nothing left to suppress cannot happen");
                suppressed[partner] = true;
                touched.UnionWith(identitiesOfCell[partner]);
            }
        }
    }

    /// <summary>The identities whose suppressed cells give one away: exactly one suppressed cell, or suppressed cells of one sign that add up to 0.</summary>
    internal static bool GivesAway(LinkedTables tables, LinearIdentity identity, IReadOnlyList<bool> suppressed)
    {
        int hidden = 0, positive = 0;
        long hiddenSum = 0;
        for (int k = 0; k < identity.Cells.Length; k++)
        {
            if (suppressed[identity.Cells[k]])
            {
                hidden++;
                positive += identity.Coefficients[k] > 0 ? 1 : 0;
                hiddenSum = checked(hiddenSum + (identity.Coefficients[k] * tables[identity.Cells[k]]));
            }
        }

        return hidden == 1 || (hidden > 1 && (positive == 0 || positive == hidden) && hiddenSum == 0);
    }

    private static void ApplyRules(LinkedTables tables, bool[] suppressed, ILookup<int, int> dependents)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int c = 0; c < suppressed.Length; c++)
            {
                if (suppressed[c])
                {
                    foreach (var d in dependents[c].Where(d => !suppressed[d]))
                    {
                        suppressed[d] = true;
                        changed = true;
                    }
                }
            }

            foreach (var identity in tables.Identities)
            {
                if (GivesAway(tables, identity, suppressed) && SmallestPublished(tables, suppressed, identity.Cells) is int partner)
                {
                    suppressed[partner] = true;
                    changed = true;
                }
            }
        }
    }

    /// <summary>The published cell with the smallest value, lowest index on ties; null if all are suppressed.</summary>
    private static int? SmallestPublished(LinkedTables tables, bool[] suppressed, IEnumerable<int> cells)
    {
        int? best = null;
        long bestValue = 0;
        foreach (var c in cells)
        {
            if (suppressed[c])
            {
                continue;
            }

            long value = tables[c];
            if (best is null || value < bestValue || (value == bestValue && c < best.Value))
            {
                best = c;
                bestValue = value;
            }
        }

        return best;
    }

    private static List<int>[] IdentitiesOfCells(LinkedTables tables)
    {
        var result = new List<int>[tables.CellCount];
        for (int c = 0; c < result.Length; c++)
        {
            result[c] = [];
        }

        for (int i = 0; i < tables.Identities.Count; i++)
        {
            foreach (var c in tables.Identities[i].Cells)
            {
                result[c].Add(i);
            }
        }

        return result;
    }
}

/// <summary>What an audit of a suppression pattern found; empty lists mean it is safe to publish.</summary>
/// <param name="SmallCellsPublished">Cells below the minimum size that would be shown.</param>
/// <param name="LinesWithOneSuppressedCell">
/// Indices into <see cref="LinkedTables.Identities"/> (for a single table, into <see cref="MarginTable.Lines"/>) of the identities
/// that give a suppressed cell away on their own: exactly one suppressed cell, or suppressed cells of one sign adding up to 0.
/// </param>
/// <param name="DeterminedCells">Suppressed cells whose exact value follows from the published values and the identities.</param>
public sealed record SuppressionAudit(IReadOnlyList<int> SmallCellsPublished, IReadOnlyList<int> LinesWithOneSuppressedCell, IReadOnlyList<int> DeterminedCells)
{
    public bool Passed => SmallCellsPublished.Count == 0 && LinesWithOneSuppressedCell.Count == 0 && DeterminedCells.Count == 0;
}

/// <summary>
/// Independent check of a suppression pattern against the published margins (and, for linked tables, the identities across
/// them): every small cell hidden; no identity that gives a suppressed cell away on its own (exactly one suppressed cell, or
/// suppressed cells of one sign summing to 0); and, stronger, no suppressed cell exactly recoverable from the published
/// values by any combination of identities (exact rational elimination; see <see cref="ComplementarySuppression"/>).
/// </summary>
public static class SuppressionVerifier
{
    public static SuppressionAudit Verify(MarginTable table, IReadOnlyList<bool> suppressed, int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(table);
        return Verify(LinkedTables.Of(table), suppressed, minimumCellSize);
    }

    public static SuppressionAudit Verify(LinkedTables tables, IReadOnlyList<bool> suppressed, int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(suppressed);
        if (suppressed.Count != tables.CellCount)
        {
            throw new ArgumentException($"need one flag per extended cell ({tables.CellCount})", nameof(suppressed));
        }

        var small = Enumerable.Range(0, tables.CellCount).Where(c => tables[c] < minimumCellSize && !suppressed[c]).ToList();
        var single = Enumerable.Range(0, tables.Identities.Count).Where(i => ComplementarySuppression.GivesAway(tables, tables.Identities[i], suppressed)).ToList();
        var determined = SuppressionAlgebra.Analyse(tables, suppressed).DeterminedCells();
        return new SuppressionAudit(small, single, determined);
    }
}
