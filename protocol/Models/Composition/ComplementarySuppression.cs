namespace FederatedTwin.Protocol.Models.Composition;

/// <summary>
/// Primary and complementary cell suppression for a table published with all its margins.
/// Primary: every cell, interior or margin, below the minimum cell size (the CMS cell size suppression
/// policy: no count 1–10, nor any value from which one can be derived; here 0 too, since a noisy 0 is a small
/// count like any other). Complementary: a line total = Σ interior with exactly one suppressed cell gives that
/// cell away, so the smallest published cell of the line (least information lost) is suppressed too, in every
/// dimension and in the margin planes, until no line has exactly one (the line-by-line heuristic behind
/// τ-ARGUS's hypercube method; Hundepool et al. 2012, Statistical Disclosure Control, §4.4; Giessing and
/// Repsilber 2002). Because that rule is necessary but not sufficient, each fixed point is then checked by exact
/// linear algebra (<see cref="SuppressionVerifier"/>), and a cell still determined gets one more partner from
/// its own lines before the line rule runs again. Every step suppresses one more cell, so it terminates.
/// Bounds, not exact values, can still be inferred for suppressed cells (interval disclosure); the noise the
/// counts already carry is what protects them formally.
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
        ArgumentOutOfRangeException.ThrowIfNegative(minimumCellSize);
        if (forced is not null && forced.Count != table.CellCount)
        {
            throw new ArgumentException($"need one flag per extended cell ({table.CellCount})", nameof(forced));
        }

        var suppressed = new bool[table.CellCount];
        for (int c = 0; c < table.CellCount; c++)
        {
            suppressed[c] = table[c] < minimumCellSize || (forced is not null && forced[c]);
        }

        var linesOfCell = LinesOfCells(table);
        while (true)
        {
            ApplyLineRule(table, suppressed);
            var determined = SuppressionAlgebra.Analyse(table, suppressed).DeterminedCells();
            if (determined.Count == 0)
            {
                return suppressed;
            }

            int partner = SmallestPublished(table, suppressed, linesOfCell[determined[0]].SelectMany(l => table.Lines[l]))
                ?? SmallestPublished(table, suppressed, Enumerable.Range(0, table.CellCount))
                ?? throw new InvalidOperationException("a determined cell with nothing left to suppress cannot happen");
            suppressed[partner] = true;
        }
    }

    private static void ApplyLineRule(MarginTable table, bool[] suppressed)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var line in table.Lines)
            {
                if (line.Count(c => suppressed[c]) == 1 && SmallestPublished(table, suppressed, line) is int partner)
                {
                    suppressed[partner] = true;
                    changed = true;
                }
            }
        }
    }

    /// <summary>The published cell with the smallest value, lowest index on ties; null if all are suppressed.</summary>
    private static int? SmallestPublished(MarginTable table, bool[] suppressed, IEnumerable<int> cells)
    {
        int? best = null;
        foreach (var c in cells)
        {
            if (!suppressed[c] && (best is null || table[c] < table[best.Value] || (table[c] == table[best.Value] && c < best.Value)))
            {
                best = c;
            }
        }

        return best;
    }

    private static List<int>[] LinesOfCells(MarginTable table)
    {
        var result = new List<int>[table.CellCount];
        for (int c = 0; c < result.Length; c++)
        {
            result[c] = [];
        }

        for (int l = 0; l < table.Lines.Count; l++)
        {
            foreach (var c in table.Lines[l])
            {
                result[c].Add(l);
            }
        }

        return result;
    }
}

/// <summary>What an audit of a suppression pattern found; empty lists mean it is safe to publish.</summary>
/// <param name="SmallCellsPublished">Cells below the minimum size that would be shown.</param>
/// <param name="LinesWithOneSuppressedCell">Indices into <see cref="MarginTable.Lines"/> with exactly one suppressed cell.</param>
/// <param name="DeterminedCells">Suppressed cells whose exact value follows from the published values.</param>
public sealed record SuppressionAudit(IReadOnlyList<int> SmallCellsPublished, IReadOnlyList<int> LinesWithOneSuppressedCell, IReadOnlyList<int> DeterminedCells)
{
    public bool Passed => SmallCellsPublished.Count == 0 && LinesWithOneSuppressedCell.Count == 0 && DeterminedCells.Count == 0;
}

/// <summary>
/// Independent check of a suppression pattern against the published margins: every small cell hidden, every
/// line (interior cells plus its total, in every dimension and margin plane) with 0 or ≥ 2 suppressed cells,
/// and, stronger, no suppressed cell exactly recoverable from the published values by any combination of lines
/// (exact rational elimination; see <see cref="ComplementarySuppression"/>).
/// </summary>
public static class SuppressionVerifier
{
    public static SuppressionAudit Verify(MarginTable table, IReadOnlyList<bool> suppressed, int minimumCellSize = ComplementarySuppression.DefaultMinimumCellSize)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(suppressed);
        if (suppressed.Count != table.CellCount)
        {
            throw new ArgumentException($"need one flag per extended cell ({table.CellCount})", nameof(suppressed));
        }

        var small = Enumerable.Range(0, table.CellCount).Where(c => table[c] < minimumCellSize && !suppressed[c]).ToList();
        var single = Enumerable.Range(0, table.Lines.Count).Where(l => table.Lines[l].Count(c => suppressed[c]) == 1).ToList();
        var determined = SuppressionAlgebra.Analyse(table, suppressed).DeterminedCells();
        return new SuppressionAudit(small, single, determined);
    }
}
