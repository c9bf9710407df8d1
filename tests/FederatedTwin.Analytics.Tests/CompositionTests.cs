using FederatedTwin.Analytics.Composition;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace FederatedTwin.Analytics.Tests;

public class CompositionTests
{
    private static readonly string[] ConditionNames =
        ["diabetes", "hypertension", "heart_failure", "copd", "ckd", "cad", "asthma", "depression", "obesity", "cancer", "dementia"];

    [Fact]
    public void Naive_suppression_leaks_a_small_cell_through_a_published_margin()
    {
        var interior = Enumerable.Repeat(50L, CompositionLayout.CompositionCells).ToArray();
        int secret = CompositionLayout.CompositionIndex(ageBand: 7, sex: 1, conditionCountLevel: 4);
        interior[secret] = 5;
        var table = new MarginTable(CompositionLayout.CompositionShape, interior);
        var naive = Enumerable.Range(0, table.CellCount).Select(c => table[c] < 11).ToArray();

        // The analyst's arithmetic: the (90+, male, ·) total minus the published cells of that line.
        var lineTotal = table.Index([7, 1, 5]);
        long recovered = table[lineTotal] - Enumerable.Range(0, 4).Sum(c => table[table.Index([7, 1, c])]);
        Assert.False(naive[lineTotal]);
        Assert.Equal(5, recovered);

        var audit = SuppressionVerifier.Verify(table, naive);
        Assert.False(audit.Passed);
        Assert.Equal(3, audit.LinesWithOneSuppressedCell.Count); // one line per dimension through the cell
        Assert.Contains(table.Index([7, 1, 4]), audit.DeterminedCells);
    }

    [Fact]
    public void Complementary_suppression_closes_every_margin()
    {
        var interior = Enumerable.Repeat(50L, CompositionLayout.CompositionCells).ToArray();
        int secret = CompositionLayout.CompositionIndex(7, 1, 4);
        interior[secret] = 5;
        var table = new MarginTable(CompositionLayout.CompositionShape, interior);
        var suppressed = ComplementarySuppression.Suppress(table);

        Assert.True(SuppressionVerifier.Verify(table, suppressed).Passed);
        int cell = table.Index([7, 1, 4]);
        Assert.True(suppressed[cell]);
        foreach (var line in table.Lines.Where(l => l.Contains(cell)))
        {
            Assert.True(line.Count(c => suppressed[c]) >= 2);
        }

        // A hypercube of 2×2×2 hidden interior cells is the least a single small cell costs in three dimensions.
        Assert.Equal(8, Enumerable.Range(0, table.CellCount).Count(c => suppressed[c]));
        AssertWitnesses(table, suppressed);
    }

    [Fact]
    public void The_line_rule_alone_misses_a_bridge_that_exact_elimination_catches()
    {
        // Two closed 2×2 patterns joined by cell (0,2): every row and column has 0 or ≥ 2 hidden cells,
        // yet (0,2) is the only link between them, so it is the difference of published sums.
        var interior = new long[16];
        for (int i = 0; i < 16; i++)
        {
            interior[i] = 20 + (3 * i);
        }

        var table = new MarginTable([4, 4], interior);
        var suppressed = new bool[table.CellCount];
        foreach (var (r, c) in new[] { (0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (0, 2) })
        {
            suppressed[table.Index([r, c])] = true;
        }

        var audit = SuppressionVerifier.Verify(table, suppressed, 0);
        Assert.Empty(audit.LinesWithOneSuppressedCell);
        Assert.Equal([table.Index([0, 2])], audit.DeterminedCells);

        // The attack: row 0's hidden part minus (columns 0 and 1's hidden parts minus row 1's hidden part).
        long Hidden(int[] line) => table[line[^1]] - line[..^1].Where(c => !suppressed[c]).Sum(c => table[c]);
        int[] Row(int r) => [.. Enumerable.Range(0, 5).Select(c => table.Index([r, c]))];
        int[] Column(int c) => [.. Enumerable.Range(0, 5).Select(r => table.Index([r, c]))];
        long recovered = Hidden(Row(0)) - (Hidden(Column(0)) + Hidden(Column(1)) - Hidden(Row(1)));
        Assert.Equal(table[table.Index([0, 2])], recovered);

        // Given the same cells as primary suppressions, the suppressor does not stop there.
        var fixedPattern = ComplementarySuppression.Suppress(table, 0, suppressed);
        Assert.True(SuppressionVerifier.Verify(table, fixedPattern, 0).Passed);
    }

    [Fact]
    public void Small_margins_are_suppressed_too()
    {
        // Cells 3 and 4 make a line total of 7: the margin is a small count in its own right.
        var interior = Enumerable.Repeat(100L, 8).ToArray();
        interior[0] = 3;
        interior[1] = 4;
        var table = new MarginTable([2, 2, 2], interior);
        var suppressed = ComplementarySuppression.Suppress(table);
        Assert.True(SuppressionVerifier.Verify(table, suppressed).Passed);
        Assert.True(suppressed[table.Index([0, 0, 2])]);
        Assert.False(suppressed[table.Index([2, 2, 2])]);

        var hideMarginToo = Enumerable.Range(0, table.CellCount).Select(c => c == table.Index([0, 0, 0]) || c == table.Index([0, 0, 1])).ToArray();
        Assert.Contains(table.Index([0, 0, 2]), SuppressionVerifier.Verify(table, hideMarginToo).SmallCellsPublished);

        // Everything hidden is trivially safe; nothing hidden with small cells is not.
        Assert.True(SuppressionVerifier.Verify(table, Enumerable.Repeat(true, table.CellCount).ToArray()).Passed);
        Assert.False(SuppressionVerifier.Verify(table, new bool[table.CellCount]).Passed);
    }

    [Fact]
    public void Margins_are_sums_of_the_interior()
    {
        var table = new MarginTable([2, 3], [1, 2, 3, 4, 5, 6]);
        Assert.Equal(6, table[table.Index([0, 3])]);
        Assert.Equal(15, table[table.Index([1, 3])]);
        Assert.Equal(5, table[table.Index([2, 0])]);
        Assert.Equal(21, table[table.Index([2, 3])]);
        Assert.Equal(4 + 3, table.Lines.Count); // 3 + 1 column lines and 2 + 1 row lines
        Assert.All(table.Lines, l => Assert.Equal(table[l[^1]], l[..^1].Sum(c => table[c])));
    }

    [Property(MaxTest = 150)]
    public Property Suppression_of_random_composition_tables_passes_the_verifier() =>
        Prop.ForAll(Arb.From(CountsGen(CompositionLayout.CompositionCells)), counts =>
        {
            var table = new MarginTable(CompositionLayout.CompositionShape, counts);
            var suppressed = ComplementarySuppression.Suppress(table);
            var audit = SuppressionVerifier.Verify(table, suppressed);
            return audit.Passed
                && Enumerable.Range(0, table.CellCount).All(c => table[c] >= 11 || suppressed[c])
                && ComplementarySuppression.Suppress(table, 11, suppressed).SequenceEqual(suppressed);
        });

    [Property(MaxTest = 150)]
    public Property Suppression_of_random_shapes_passes_and_every_hidden_cell_has_a_witness() =>
        Prop.ForAll(Arb.From(ShapedTableGen()), x =>
        {
            var table = new MarginTable(x.Shape, x.Counts);
            var suppressed = ComplementarySuppression.Suppress(table, 11);
            AssertWitnesses(table, suppressed);
            return SuppressionVerifier.Verify(table, suppressed, 11).Passed;
        });

    [Fact]
    public void Rounding_noisy_counts_is_half_even_and_clamped_at_zero()
    {
        Assert.Equal([0L, 0, 2, 2, 4, 12], NoisyCounts.RoundToNonNegative([-3.7, 0.5, 1.5, 2.5, 3.6, 12.0]));
        Assert.Equal([0L, 0, 7], NoisyCounts.ClampToNonNegative([-2, 0, 7]));
        Assert.Throws<ArgumentException>(() => NoisyCounts.RoundToNonNegative([double.NaN]));
    }

    [Fact]
    public void Layout_indices_cover_each_vector_exactly_once()
    {
        var composition = new HashSet<int>();
        var prevalence = new HashSet<int>();
        for (int a = 0; a < 8; a++)
        {
            for (int s = 0; s < 2; s++)
            {
                for (int c = 0; c < 5; c++)
                {
                    Assert.True(composition.Add(CompositionLayout.CompositionIndex(a, s, c)));
                    for (int j = 0; j < 11 && c > 0; j++)
                    {
                        Assert.True(prevalence.Add(CompositionLayout.PrevalenceIndex(j, a, s, c)));
                    }
                }
            }
        }

        Assert.Equal(Enumerable.Range(0, 80), composition.Order());
        Assert.Equal(Enumerable.Range(0, 704), prevalence.Order());
        Assert.Throws<ArgumentOutOfRangeException>(() => CompositionLayout.PrevalenceIndex(0, 0, 0, 0));
        Assert.Equal(7, CompositionLayout.AgeBand(95));
        Assert.Equal(6, CompositionLayout.AgeBand(89));
        Assert.Equal(4, CompositionLayout.ConditionCountLevel(9));
    }

    [Fact]
    public void The_release_shows_only_safe_counts_and_hides_prevalence_of_hidden_populations()
    {
        var random = new Random(4);
        var composition = new double[CompositionLayout.CompositionCells];
        for (int i = 0; i < composition.Length; i++)
        {
            composition[i] = (random.Next(10) < 2 ? random.Next(0, 11) : random.Next(11, 3000)) + (random.NextDouble() - 0.5) * 2;
        }

        var prevalence = new double[CompositionLayout.PrevalenceCells];
        for (int j = 0; j < 11; j++)
        {
            for (int a = 0; a < 8; a++)
            {
                for (int s = 0; s < 2; s++)
                {
                    for (int c = 1; c < 5; c++)
                    {
                        // Counts above 11 even where the population is tiny: only the noise could do that.
                        prevalence[CompositionLayout.PrevalenceIndex(j, a, s, c)] = 15 + random.Next(0, 200);
                    }
                }
            }
        }

        var release = CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Noisy);
        var rounded = NoisyCounts.RoundToNonNegative(composition);
        var shown = release.Composition;
        Assert.Equal("total", shown.Labels[0][^1]);
        Assert.Equal("90+", shown.Labels[0][7]);
        Assert.True(shown.SuppressedCount > 0);
        for (int a = 0; a < 8; a++)
        {
            for (int s = 0; s < 2; s++)
            {
                for (int c = 0; c < 5; c++)
                {
                    var value = shown.Get(a, s, c);
                    long truth = rounded[CompositionLayout.CompositionIndex(a, s, c)];
                    if (truth < 11)
                    {
                        Assert.Null(value);
                    }

                    Assert.True(value is null || value == truth);
                    if (value is null && c > 0)
                    {
                        Assert.All(release.Prevalence, p => Assert.Null(p.Get(a, s, c - 1)));
                    }
                }
            }
        }

        Assert.Equal(11, release.Prevalence.Count);
        Assert.Equal("prevalence of dementia", release.Prevalence[10].Name);
        Assert.Throws<ArgumentException>(() => CompositionRelease.Publish(composition.AsSpan(1), prevalence, ConditionNames, ReleasedCounts.Noisy));
    }

    private static void AssertWitnesses(MarginTable table, bool[] suppressed)
    {
        var algebra = SuppressionAlgebra.Analyse(table, suppressed);
        for (int cell = 0; cell < table.CellCount; cell++)
        {
            if (!suppressed[cell])
            {
                continue;
            }

            var witness = algebra.Witness(cell);
            Assert.NotNull(witness);
            Assert.NotEqual(0, witness[cell]);
            Assert.All(Enumerable.Range(0, table.CellCount).Where(c => !suppressed[c]), c => Assert.Equal(0, witness[c]));
            Assert.All(table.Lines, l => Assert.Equal(witness[l[^1]], l[..^1].Sum(c => witness[c])));
        }
    }

    /// <summary>Counts with many small cells: a fifth zero-to-ten, some near the threshold, the rest large.</summary>
    private static Gen<long> CellGen() => Gen.Frequency(
        (2, Gen.Choose(0, 10)),
        (1, Gen.Choose(11, 25)),
        (7, Gen.Choose(26, 5000))).Select(v => (long)v);

    private static Gen<long[]> CountsGen(int cells) => Gen.ArrayOf(CellGen(), cells);

    private static Gen<(int[] Shape, long[] Counts)> ShapedTableGen() =>
        from dimensions in Gen.Choose(1, 3)
        from shape in Gen.ArrayOf(Gen.Choose(1, 5), dimensions)
        from counts in CountsGen(shape.Aggregate(1, (a, n) => a * n))
        select (shape, counts);
}
