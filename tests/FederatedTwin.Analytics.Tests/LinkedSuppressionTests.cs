using System.Diagnostics;
using FederatedTwin.Analytics.Composition;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Xunit.Abstractions;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// Exact compositions (a study without dp_rho): every patient at condition-count level L ≤ 3 has exactly L of the 11 conditions, so
/// Σ_j prevalence_j = L × composition holds exactly, cell by cell and margin by margin. An analyst who knows it recovers a prevalence
/// cell hidden in its own table from the shown cells of the others; the release plans the 12 tables together against it.
/// </summary>
public class LinkedSuppressionTests(ITestOutputHelper output)
{
    private static readonly string[] ConditionNames = [.. CompositionLayout.ConditionNames];

    /// <summary>
    /// The analyst's attack: for an age band, sex (each or total) and level 1–3 whose composition cell is shown and whose 11 prevalence
    /// cells are all shown but one, that one is level × composition − Σ the shown ones. Null when the identity has more than one unknown.
    /// </summary>
    private static long? RecoverThroughTheIdentity(CompositionRelease release, int ageBand, int sex, int level, int condition)
    {
        if (release.Composition.Get(ageBand, sex, level) is not { } population || release.Prevalence[condition].Get(ageBand, sex, level - 1) is not null)
        {
            return null;
        }

        long shown = 0;
        for (int j = 0; j < CompositionLayout.Conditions; j++)
        {
            if (j == condition)
            {
                continue;
            }

            if (release.Prevalence[j].Get(ageBand, sex, level - 1) is not { } value)
            {
                return null; // a second unknown: the identity alone gives nothing
            }

            shown += value;
        }

        return (level * population) - shown;
    }

    [Fact]
    public void Table_by_table_suppression_of_exact_counts_gives_a_hidden_prevalence_cell_away_through_the_identity()
    {
        var (composition, prevalence) = CountsWithOneSmallPrevalenceCell(out var secret);
        var release = CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Noisy); // as the tables used to be planned

        Assert.Null(release.Prevalence[secret.Condition].Get(secret.AgeBand, secret.Sex, secret.Level - 1)); // hidden in its own table
        Assert.Equal(3, RecoverThroughTheIdentity(release, secret.AgeBand, secret.Sex, secret.Level, secret.Condition)); // and recovered all the same
    }

    [Fact]
    public void Linked_suppression_leaves_the_identity_attack_nothing_to_recover_and_every_hidden_cell_can_move()
    {
        var (composition, prevalence) = CountsWithOneSmallPrevalenceCell(out var secret);
        var release = CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Exact);

        Assert.Equal(ReleasedCounts.Exact, release.Counts);
        Assert.Null(release.Prevalence[secret.Condition].Get(secret.AgeBand, secret.Sex, secret.Level - 1));
        Assert.Null(RecoverThroughTheIdentity(release, secret.AgeBand, secret.Sex, secret.Level, secret.Condition));

        // Nor through any other identity or combination of them: every hidden cell of the 12 tables can move while every shown count,
        // every line of every table and every identity stays as published.
        AssertEveryHiddenCellCanMove(composition, prevalence, release);
    }

    [Fact]
    public void The_attack_fails_on_every_hidden_cell_of_a_linked_release()
    {
        var (composition, prevalence) = Population(patients: 1_800, seed: 7);
        var release = CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Exact);
        var tried = 0;
        for (int a = 0; a <= CompositionLayout.AgeBands; a++)
        {
            for (int s = 0; s <= CompositionLayout.Sexes; s++)
            {
                for (int level = 1; level <= 3; level++)
                {
                    for (int j = 0; j < CompositionLayout.Conditions; j++)
                    {
                        if (release.Prevalence[j].Get(a, s, level - 1) is null)
                        {
                            tried++;
                            Assert.Null(RecoverThroughTheIdentity(release, a, s, level, j));
                        }
                    }
                }
            }
        }

        Assert.True(tried > 50, $"only {tried} hidden prevalence cells at levels 1-3: the population is too large to exercise the attack");
    }

    [Fact]
    public void Exact_counts_that_break_the_identities_are_not_published()
    {
        var (composition, prevalence) = Population(patients: 1_800, seed: 3);
        prevalence[CompositionLayout.PrevalenceIndex(1, 4, 0, 1)] += 1; // one more hypertension count than the level-1 population has conditions
        var e = Assert.Throws<InvalidOperationException>(() => CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Exact));
        Assert.Contains("identities", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_line_whose_hidden_cells_add_up_to_zero_hides_one_more_cell()
    {
        // Children with 2, 3 or 4+ conditions: none. Hidden as small counts, they would still read as exactly 0 from the shown
        // row total minus the shown cells (counts cannot be negative), so a shown cell joins them.
        var table = new MarginTable([2, 5], [500, 30, 0, 0, 0, 400, 60, 20, 15, 12]);
        var suppressed = ComplementarySuppression.Suppress(table);
        var row = Enumerable.Range(0, 6).Select(c => table.Index([0, c])).ToArray();
        Assert.True(row.Where(c => suppressed[c]).Sum(c => table[c]) > 0);
        Assert.True(SuppressionVerifier.Verify(table, suppressed).Passed);

        var naive = Enumerable.Range(0, table.CellCount).Select(c => table[c] < 11).ToArray();
        Assert.Contains(table.Lines.ToList().FindIndex(l => l.SequenceEqual(row)), SuppressionVerifier.Verify(table, naive).LinesWithOneSuppressedCell);
    }

    [Property(MaxTest = 12)]
    public Property Linked_suppression_of_exact_populations_passes_the_audit_and_every_hidden_cell_can_move() =>
        Prop.ForAll(Arb.From(Gen.Choose(200, 6_000).SelectMany(n => Gen.Choose(1, 1_000_000).Select(seed => (n, seed)))), x =>
        {
            var (composition, prevalence) = Population(x.n, x.seed);
            var clock = Stopwatch.StartNew();
            var release = CompositionRelease.Publish(composition, prevalence, ConditionNames, ReleasedCounts.Exact);
            output.WriteLine($"{x.n} patients: {release.Composition.SuppressedCount + release.Prevalence.Sum(p => p.SuppressedCount)} cells hidden, planned in {clock.ElapsedMilliseconds} ms");
            AssertEveryHiddenCellCanMove(composition, prevalence, release);
            return true;
        });

    /// <summary>
    /// The proof that the attack fails, checked here from the layout and not from the planner's own equations: for every hidden cell,
    /// an integer change to the hidden cells only (so every shown count stays) that keeps every line of the 12 tables (each total the
    /// sum of its interior) and every identity Σ_j prevalence_j = level × composition, and moves that cell. Two tables that differ by
    /// it show the analyst the same thing, so no combination of shown cells and identities determines the cell.
    /// </summary>
    private static void AssertEveryHiddenCellCanMove(double[] composition, double[] prevalence, CompositionRelease release)
    {
        var compositionTable = new MarginTable(CompositionLayout.CompositionShape, NoisyCounts.RoundToNonNegative(composition));
        var prevalenceTables = Enumerable.Range(0, CompositionLayout.Conditions)
            .Select(j => new MarginTable(CompositionLayout.PrevalenceShape, NoisyCounts.RoundToNonNegative(prevalence.AsSpan(j * CompositionLayout.PrevalenceCellsPerCondition, CompositionLayout.PrevalenceCellsPerCondition))))
            .ToList();
        var linked = CompositionRelease.Link(compositionTable, prevalenceTables);
        var published = new List<PublishedTable> { release.Composition };
        published.AddRange(release.Prevalence);
        var hidden = new bool[linked.CellCount];
        for (int t = 0; t < published.Count; t++)
        {
            for (int c = 0; c < published[t].Cells.Count; c++)
            {
                hidden[linked.Cell(t, c)] = published[t].Cells[c] is null;
                Assert.True(hidden[linked.Cell(t, c)] || published[t].Cells[c] == linked[linked.Cell(t, c)]);
                Assert.True(hidden[linked.Cell(t, c)] || published[t].Cells[c] >= ComplementarySuppression.DefaultMinimumCellSize);
            }
        }

        var algebra = SuppressionAlgebra.Analyse(linked, hidden);
        for (int cell = 0; cell < linked.CellCount; cell++)
        {
            if (!hidden[cell])
            {
                continue;
            }

            var w = algebra.Witness(cell);
            Assert.NotNull(w);
            Assert.NotEqual(0, w[cell]);
            Assert.All(Enumerable.Range(0, linked.CellCount).Where(c => !hidden[c]), c => Assert.Equal(0, w[c]));
            for (int t = 0; t < linked.Tables.Count; t++)
            {
                var table = linked.Tables[t];
                Assert.All(table.Lines, l => Assert.Equal(w[linked.Cell(t, l[^1])], l[..^1].Sum(c => w[linked.Cell(t, c)])));
            }

            for (int a = 0; a <= CompositionLayout.AgeBands; a++)
            {
                for (int s = 0; s <= CompositionLayout.Sexes; s++)
                {
                    for (int level = 1; level <= 3; level++)
                    {
                        long sum = Enumerable.Range(0, CompositionLayout.Conditions).Sum(j => w[linked.Cell(j + 1, prevalenceTables[j].Index([a, s, level - 1]))]);
                        Assert.Equal(level * w[linked.Cell(0, compositionTable.Index([a, s, level]))], sum);
                    }
                }
            }
        }
    }

    /// <summary>
    /// A population built so that one prevalence cell is the only small one among its population's: at ages 50-64, male, level 1,
    /// 20 patients with each condition but dementia and 3 with dementia; every other cell large. Table by table, only dementia's table
    /// hides anything there.
    /// </summary>
    private static (double[] Composition, double[] Prevalence) CountsWithOneSmallPrevalenceCell(out (int AgeBand, int Sex, int Level, int Condition) secret)
    {
        secret = (3, 1, 1, 10);
        var patients = new List<(int AgeBand, int Sex, int[] Conditions)>();
        for (int a = 0; a < CompositionLayout.AgeBands; a++)
        {
            for (int s = 0; s < CompositionLayout.Sexes; s++)
            {
                patients.AddRange(Enumerable.Repeat((a, s, Array.Empty<int>()), 100));
                for (int j = 0; j < CompositionLayout.Conditions; j++)
                {
                    var single = (a, s, 1, j) == (secret.AgeBand, secret.Sex, secret.Level, secret.Condition) ? 3 : 20;
                    patients.AddRange(Enumerable.Repeat((a, s, new[] { j }), single));
                    patients.AddRange(Enumerable.Repeat((a, s, new[] { j, (j + 1) % 11 }), 20));
                    patients.AddRange(Enumerable.Repeat((a, s, new[] { j, (j + 1) % 11, (j + 2) % 11 }), 15));
                    patients.AddRange(Enumerable.Repeat((a, s, new[] { j, (j + 1) % 11, (j + 2) % 11, (j + 3) % 11 }), 12));
                }
            }
        }

        return Count(patients);
    }

    /// <summary>
    /// A synthetic population: age band and sex at random, each of the 11 conditions with a probability that grows with age (from 1%
    /// of children to about 40% at 85+ for the commonest), counted as a node counts them (one row per patient).
    /// </summary>
    internal static (double[] Composition, double[] Prevalence) Population(int patients, int seed)
    {
        var random = new Random(seed);
        double[] bandWeights = [0.22, 0.2, 0.18, 0.18, 0.1, 0.07, 0.03, 0.02];
        double[] commonness = [0.5, 1.0, 0.15, 0.25, 0.3, 0.3, 0.3, 0.4, 0.8, 0.25, 0.2];
        var list = new List<(int, int, int[])>(patients);
        for (int i = 0; i < patients; i++)
        {
            double u = random.NextDouble(), acc = 0;
            int band = 0;
            while (band < bandWeights.Length - 1 && (acc += bandWeights[band]) < u)
            {
                band++;
            }

            var age = 0.01 + (0.05 * band * band / 7.0);
            list.Add((band, random.Next(2), [.. Enumerable.Range(0, CompositionLayout.Conditions).Where(j => random.NextDouble() < age * commonness[j])]));
        }

        return Count(list);
    }

    private static (double[] Composition, double[] Prevalence) Count(IEnumerable<(int AgeBand, int Sex, int[] Conditions)> patients)
    {
        var composition = new double[CompositionLayout.CompositionCells];
        var prevalence = new double[CompositionLayout.PrevalenceCells];
        foreach (var (a, s, conditions) in patients)
        {
            var level = CompositionLayout.ConditionCountLevel(conditions.Length);
            composition[CompositionLayout.CompositionIndex(a, s, level)]++;
            foreach (var j in conditions)
            {
                prevalence[CompositionLayout.PrevalenceIndex(j, a, s, level)]++;
            }
        }

        return (composition, prevalence);
    }

    /// <summary>
    /// A population cell hidden only as a complement (it holds 11 or more) must take its prevalence counts with it:
    /// shown, they would bound the hidden population from below. One small level-0 cell forces the complement.
    /// </summary>
    [Fact]
    public void An_exact_release_hides_the_prevalence_of_a_population_hidden_as_a_complement()
    {
        var composition = new double[CompositionLayout.CompositionCells];
        var prevalence = new double[CompositionLayout.PrevalenceCells];
        void Add(int a, int s, int[] conditions, int times)
        {
            var level = CompositionLayout.ConditionCountLevel(conditions.Length);
            composition[CompositionLayout.CompositionIndex(a, s, level)] += times;
            foreach (var j in conditions)
            {
                prevalence[CompositionLayout.PrevalenceIndex(j, a, s, level)] += times;
            }
        }

        for (var a = 0; a < CompositionLayout.AgeBands; a++)
        {
            for (var s = 0; s < CompositionLayout.Sexes; s++)
            {
                Add(a, s, [], (a, s) == (2, 0) ? 5 : 100);
                for (var j = 0; j < CompositionLayout.Conditions; j++)
                {
                    Add(a, s, [j], 20);
                    Add(a, s, [j, (j + 1) % 11], 20);
                    Add(a, s, [j, (j + 1) % 11, (j + 2) % 11], 15);
                    Add(a, s, [j, (j + 1) % 11, (j + 2) % 11, (j + 3) % 11], 12);
                }
            }
        }

        var release = CompositionRelease.Publish(composition, prevalence, [.. CompositionLayout.ConditionNames], ReleasedCounts.Exact);
        var leaks = new List<string>();
        var hiddenPopulations = 0;
        for (var a = 0; a <= CompositionLayout.AgeBands; a++)
        {
            for (var s = 0; s <= CompositionLayout.Sexes; s++)
            {
                for (var c = 1; c < CompositionLayout.ConditionCountLevels; c++)
                {
                    if (release.Composition.Get(a, s, c) is null)
                    {
                        hiddenPopulations++;
                        leaks.AddRange(release.Prevalence.Where(p => p.Get(a, s, c - 1) is not null).Select(p => $"{p.Name} ({a},{s},{c})={p.Get(a, s, c - 1)}"));
                    }
                }
            }
        }

        Assert.True(hiddenPopulations > 0, "no population cell was hidden: the population no longer forces a complement");
        Assert.Empty(leaks);
    }
}
