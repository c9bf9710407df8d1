using System.Globalization;
using System.Text.Json;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// A published population composition (a `federated-composition` study's registry document, kind "composition",
/// coordinator/Orchestration/FederatedCompositionAlgorithm.cs): the DP-noised counts by age band × sex × condition count
/// (0, 1, 2, 3, 4+) and, per condition, the patients with it by age band × sex × condition count 1..4+, every table with
/// its margins, cells under the minimum cell size hidden with complementary suppression (null in the JSON).
/// <para>
/// <b>Suppressed cells</b> (docs/scenarios.md, "Composition release"): a hidden interior cell's value is not published,
/// but every published margin constrains the hidden cells of its line. The twin fills hidden interior cells by iterative
/// proportional fitting over the published margins (raking; Deming &amp; Stephan 1940): start every hidden cell at
/// (minimum − 1)/2, then repeatedly scale the hidden cells of each published cell (interior sums over a margin) so that
/// published = shown members + hidden members, until no published cell moves by more than 1e-9. The filled table
/// reproduces every published number; the split of a line's hidden remainder over its hidden cells is proportional to the
/// start values (equal, for hidden cells that share all lines); where a hidden cell must be 0 raking converges slowly, so
/// the fill is stopped after 20,000 sweeps (within 0.01 of every published number in the tests). A hidden cell is not clamped below the minimum cell size:
/// complementary suppression also hides large cells. Where no published margin covers a hidden cell, it keeps the start
/// value. Prevalence tables are filled the same way and then capped at their population's (filled) composition cell.
/// </para>
/// </summary>
public sealed class ReleasedComposition
{
    /// <summary>The registry document kind.</summary>
    public const string Kind = "composition";

    private const int Levels = CompositionLayout.ConditionCountLevels;

    private ReleasedComposition(string id, int year, string studyId, DateTimeOffset createdAt, int minimumCellSize, double? rho,
        double[] counts, double[][] prevalence, long? publishedTotal, int hiddenComposition, int hiddenPrevalence, bool[] hiddenCounts, bool[][] hiddenPrevalenceCells)
    {
        _hiddenCounts = hiddenCounts;
        _hiddenPrevalence = hiddenPrevalenceCells;
        Id = id;
        Year = year;
        StudyId = studyId;
        CreatedAt = createdAt;
        MinimumCellSize = minimumCellSize;
        Rho = rho;
        Counts = counts;
        Prevalence = prevalence;
        PublishedTotal = publishedTotal;
        HiddenCompositionCells = hiddenComposition;
        HiddenPrevalenceCells = hiddenPrevalence;
    }

    private readonly bool[] _hiddenCounts;
    private readonly bool[][] _hiddenPrevalence;

    /// <summary>Registry id, composition/&lt;year&gt;/&lt;study&gt;.</summary>
    public string Id { get; }
    /// <summary>Census year of the release.</summary>
    public int Year { get; }
    /// <summary>The study that produced it.</summary>
    public string StudyId { get; }
    /// <summary>When it was registered.</summary>
    public DateTimeOffset CreatedAt { get; }
    /// <summary>Smallest count published.</summary>
    public int MinimumCellSize { get; }
    /// <summary>zCDP ρ of the noise, or null without DP.</summary>
    public double? Rho { get; }
    /// <summary>The 80 interior composition counts (CompositionLayout.CompositionIndex), hidden cells filled as documented.</summary>
    public IReadOnlyList<double> Counts { get; }
    /// <summary>Per condition (layout order), the 64 interior prevalence counts (age band × sex × level 1..4+), filled and capped.</summary>
    public IReadOnlyList<double[]> Prevalence { get; }
    /// <summary>The published grand total (the noisy training population the release describes), or null if hidden.</summary>
    public long? PublishedTotal { get; }
    /// <summary>Interior composition cells that were hidden and filled.</summary>
    public int HiddenCompositionCells { get; }
    /// <summary>Interior prevalence cells that were hidden and filled (all conditions).</summary>
    public int HiddenPrevalenceCells { get; }

    /// <summary>Reads a composition document as the coordinator registers it; errors name the field (and the file, if given).</summary>
    public static ReleasedComposition FromJson(string json, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(json);
        CompositionDocument document;
        try
        {
            document = CompositionDocument.FromJson(json);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{(source is null ? string.Empty : source + ": ")}not a composition document: {e.Message}", e);
        }

        return FromDocument(document, source);
    }

    /// <summary>Reads a composition document (<see cref="CompositionDocument"/>); errors name the field (and the file, if given).</summary>
    public static ReleasedComposition FromDocument(CompositionDocument document, string? source = null)
    {
        ArgumentNullException.ThrowIfNull(document);
        var where = source is null ? string.Empty : source + ": ";
        try
        {
            string Text(string? value, string name) => value ?? throw Bad(name, "is required (a string)");
            if (Text(document.Kind, "kind") != Kind)
            {
                throw Bad("kind", $"'{document.Kind}' is not '{Kind}'");
            }

            var year = document.Year;
            var min = document.MinimumCellSize >= 1 ? document.MinimumCellSize : throw Bad("minimum_cell_size", "is required (a positive integer)");
            var created = DateTimeOffset.Parse(Text(document.CreatedAt, "created_at"), CultureInfo.InvariantCulture);
            var rho = document.Privacy?.Rho;
            var (compositionCells, compositionShape) = Table(document.Composition ?? throw Bad("composition", "is required"), "composition");
            Expect(compositionShape, CompositionLayout.CompositionShape, "composition.shape");
            var start = (min - 1) / 2.0;
            var counts = FillHidden(compositionShape, compositionCells, start);
            var total = compositionCells[^1];
            var hiddenComposition = InteriorHidden(compositionShape, compositionCells);
            var hiddenCounts = HiddenMask(compositionShape, compositionCells);
            var hiddenPrevalenceCells = new bool[CompositionLayout.Conditions][];

            var prevalenceTables = document.Prevalence ?? throw Bad("prevalence", "is required (one table per condition)");
            var prevalence = new double[CompositionLayout.Conditions][];
            var hiddenPrevalence = 0;
            for (var j = 0; j < CompositionLayout.Conditions; j++)
            {
                var name = PatientYearSchema.Conditions[j];
                var (cells, shape) = Table(prevalenceTables.GetValueOrDefault(name) ?? throw Bad("prevalence." + name, "is missing"), "prevalence." + name);
                Expect(shape, CompositionLayout.PrevalenceShape, $"prevalence.{name}.shape");
                prevalence[j] = FillHidden(shape, cells, start);
                hiddenPrevalence += InteriorHidden(shape, cells);
                hiddenPrevalenceCells[j] = HiddenMask(shape, cells);
                Cap(prevalence[j], counts);
            }

            return new ReleasedComposition(Text(document.Id, "id"), year, Text(document.StudyId, "study_id"), created, min, rho, counts, prevalence, total,
                hiddenComposition, hiddenPrevalence, hiddenCounts, hiddenPrevalenceCells);
        }
        catch (FormatException e) when (where.Length > 0)
        {
            throw new FormatException(where + e.Message, e);
        }

        static FormatException Bad(string field, string problem) => new($"{field}: {problem}");
    }

    /// <summary>A count of patients with a condition cannot exceed its population (same band, sex and level >= 1).</summary>
    private static void Cap(double[] prevalence, double[] counts)
    {
        for (var b = 0; b < CompositionLayout.AgeBands; b++)
        {
            for (var s = 0; s < CompositionLayout.Sexes; s++)
            {
                for (var l = 1; l < Levels; l++)
                {
                    var k = (((b * CompositionLayout.Sexes) + s) * CompositionLayout.PrevalenceCountLevels) + (l - 1);
                    prevalence[k] = Math.Min(prevalence[k], counts[CompositionLayout.CompositionIndex(b, s, l)]);
                }
            }
        }
    }

    /// <summary>
    /// Standard deviation of the DP noise on each published interior count: the Gaussian mechanism's σ = Δ₂/√(2ρ) for the
    /// release's ρ and one patient's L2 sensitivity √12 (one composition cell and up to 11 prevalence cells;
    /// CompositionStudy). Null without DP.
    /// </summary>
    public double? NoiseSd => Rho is { } rho && rho > 0 ? ZcdpAccountant.GaussianSigma(CompositionLayout.L2Sensitivity, new ZcdpRho(rho)) : null;

    /// <summary>
    /// One plausible set of true counts given the published noisy ones (parameter uncertainty of the composition): every
    /// published interior count c becomes max(0, c + σz) with z = <paramref name="normal"/>(table, cell) standard normal
    /// (table 0 the composition, 1 + j the prevalence of condition j). With a flat prior on the true count and Gaussian
    /// noise, N(c, σ²) is the posterior of the true count, truncated at 0. Hidden cells keep their filled values (the
    /// raking above), and prevalence counts are capped at their (drawn) population again. Without DP, the release itself.
    /// </summary>
    internal ReleasedComposition Drawn(Func<int, int, double> normal)
    {
        if (NoiseSd is not { } sd)
        {
            return this;
        }

        var counts = Counts.Select((c, i) => _hiddenCounts[i] ? c : Math.Max(0, c + (sd * normal(0, i)))).ToArray();
        var prevalence = new double[Prevalence.Count][];
        for (var j = 0; j < prevalence.Length; j++)
        {
            var hidden = _hiddenPrevalence[j];
            prevalence[j] = [.. Prevalence[j].Select((c, k) => hidden[k] ? c : Math.Max(0, c + (sd * normal(1 + j, k))))];
            Cap(prevalence[j], counts);
        }

        return new ReleasedComposition(Id, Year, StudyId, CreatedAt, MinimumCellSize, Rho, counts, prevalence, PublishedTotal, HiddenCompositionCells,
            HiddenPrevalenceCells, _hiddenCounts, _hiddenPrevalence);
    }

    /// <summary>
    /// The twin's composition: one cell per age band × sex × level, the filled counts, and per cell the conditional
    /// prevalence of each condition (prevalence count / cell count). The cohort then draws, for a person in a level-1..3
    /// cell, exactly that many conditions with those inclusion probabilities, and for level 4+ first the number of
    /// conditions (see <see cref="Cohort.FromComposition"/>).
    /// </summary>
    public Composition ToComposition()
    {
        var cells = new List<CompositionCell>();
        var conditional = new List<double[]>();
        for (var b = 0; b < CompositionLayout.AgeBands; b++)
        {
            for (var s = 0; s < CompositionLayout.Sexes; s++)
            {
                for (var l = 0; l < Levels; l++)
                {
                    var n = Counts[CompositionLayout.CompositionIndex(b, s, l)];
                    cells.Add(new CompositionCell(AgeBand.Parse(PatientYearSchema.AgeBands[b]), s == 1, l, (long)Math.Round(n)));
                    var pi = new double[CompositionLayout.Conditions];
                    if (l > 0 && n > 0)
                    {
                        for (var j = 0; j < pi.Length; j++)
                        {
                            pi[j] = Prevalence[j][(((b * CompositionLayout.Sexes) + s) * CompositionLayout.PrevalenceCountLevels) + (l - 1)] / n;
                        }
                    }

                    conditional.Add(pi);
                }
            }
        }

        var marginal = new double[CompositionLayout.Conditions];
        var people = Counts.Sum();
        for (var j = 0; j < marginal.Length; j++)
        {
            marginal[j] = people > 0 ? Math.Min(Prevalence[j].Sum() / people, 0.999) : 0;
        }

        return new Composition(cells, MinimumCellSize, PublishedTotal, marginal)
        {
            FilledCounts = [.. Counts],
            CellConditionProbabilities = conditional,
            OpenTopLevel = true,
            Source = Id,
        };
    }

    /// <summary>
    /// Raking of the hidden interior cells over every published cell (docs above). <paramref name="cells"/> are the
    /// extended cells (interior and margins, row-major, last dimension fastest, a coordinate equal to the size = total).
    /// </summary>
    internal static double[] FillHidden(IReadOnlyList<int> shape, IReadOnlyList<long?> cells, double start)
    {
        var dims = shape.Count;
        var extended = shape.Select(n => n + 1).ToArray();
        var interiorCount = shape.Aggregate(1, (a, n) => a * n);
        var value = new double[interiorCount];
        var hidden = new bool[interiorCount];
        var interiorExtendedIndex = new int[interiorCount];
        for (var i = 0; i < interiorCount; i++)
        {
            var coords = Coordinates(i, [.. shape]);
            interiorExtendedIndex[i] = Index(coords, extended);
            var v = cells[interiorExtendedIndex[i]];
            hidden[i] = v is null;
            value[i] = v is { } x ? x : start;
        }

        if (!hidden.Any(h => h))
        {
            return value;
        }

        // Each published margin cell: its interior members (coordinate equal, or the margin's total level, per dimension).
        var constraints = new List<(double Target, int[] Hidden)>();
        for (var e = 0; e < cells.Count; e++)
        {
            if (cells[e] is not { } published)
            {
                continue;
            }

            var ec = Coordinates(e, extended);
            if (ec.Select((c, d) => c < shape[d]).All(x => x))
            {
                continue; // a published interior cell: fixed already
            }

            var shown = 0.0;
            var members = new List<int>();
            for (var i = 0; i < interiorCount; i++)
            {
                var ic = Coordinates(i, [.. shape]);
                var inside = true;
                for (var d = 0; d < dims && inside; d++)
                {
                    inside = ec[d] == shape[d] || ec[d] == ic[d];
                }

                if (!inside)
                {
                    continue;
                }

                if (hidden[i])
                {
                    members.Add(i);
                }
                else
                {
                    shown += value[i];
                }
            }

            if (members.Count > 0)
            {
                constraints.Add((Math.Max(0, published - shown), [.. members]));
            }
        }

        for (var sweep = 0; sweep < 20_000; sweep++)
        {
            var moved = 0.0;
            foreach (var (target, members) in constraints)
            {
                var current = members.Sum(i => value[i]);
                foreach (var i in members)
                {
                    var next = current > 0 ? value[i] * (target / current) : target / members.Length;
                    moved = Math.Max(moved, Math.Abs(next - value[i]));
                    value[i] = next;
                }
            }

            if (moved < 1e-12)
            {
                break;
            }
        }

        return value;
    }

    private static bool[] HiddenMask(IReadOnlyList<int> shape, IReadOnlyList<long?> cells)
    {
        var extended = shape.Select(n => n + 1).ToArray();
        var count = shape.Aggregate(1, (a, n) => a * n);
        return [.. Enumerable.Range(0, count).Select(i => cells[Index(Coordinates(i, [.. shape]), extended)] is null)];
    }

    private static int InteriorHidden(IReadOnlyList<int> shape, IReadOnlyList<long?> cells)
    {
        var extended = shape.Select(n => n + 1).ToArray();
        var count = shape.Aggregate(1, (a, n) => a * n);
        return Enumerable.Range(0, count).Count(i => cells[Index(Coordinates(i, [.. shape]), extended)] is null);
    }

    /// <summary>The coordinates of a row-major index (last dimension fastest) in a table of the given sizes.</summary>
    internal static int[] Coordinates(int index, int[] sizes)
    {
        var c = new int[sizes.Length];
        for (var d = sizes.Length - 1; d >= 0; d--)
        {
            c[d] = index % sizes[d];
            index /= sizes[d];
        }

        return c;
    }

    private static int Index(int[] coords, int[] sizes)
    {
        var index = 0;
        for (var d = 0; d < sizes.Length; d++)
        {
            index = (index * sizes[d]) + coords[d];
        }

        return index;
    }

    private static (long?[] Cells, int[] Shape) Table(PublishedTableDocument table, string field)
    {
        if (table.Shape is null)
        {
            throw new FormatException($"{field}.shape: is required");
        }

        // The document's shape counts each dimension's levels plus its "total" (PublishedTable.Labels).
        var shape = table.Shape.Select(x => x - 1).ToArray();
        var cells = table.Cells?.ToArray() ?? throw new FormatException($"{field}.cells: is required");
        var expected = shape.Aggregate(1, (a, n) => a * (n + 1));
        if (cells.Length != expected)
        {
            throw new FormatException($"{field}.cells: {cells.Length} cells, expected {expected} for shape [{string.Join(", ", shape)}] with margins");
        }

        if (cells.Any(x => x < 0))
        {
            throw new FormatException($"{field}.cells: counts must not be negative");
        }

        return (cells, shape);
    }

    private static void Expect(int[] shape, IReadOnlyList<int> expected, string field)
    {
        if (!shape.SequenceEqual(expected))
        {
            throw new FormatException($"{field}: [{string.Join(", ", shape)}] is not the layout's [{string.Join(", ", expected)}] (CompositionLayout)");
        }
    }
}
