namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// An exact linear identity an analyst knows among the cells of published tables: Σ Coefficients[k]·value(Cells[k]) = 0.
/// Every line of a <see cref="MarginTable"/> is one (interior cells +1, the total −1); so is, for exact counts, the
/// link between the composition and the prevalence tables (Σ_j prevalence_j = level × composition for levels 1–3).
/// </summary>
/// <param name="Cells">Cell indices in the <see cref="LinkedTables"/> the identity belongs to, each at most once.</param>
/// <param name="Coefficients">Non-zero integer coefficients, one per cell.</param>
public sealed record LinearIdentity(int[] Cells, long[] Coefficients)
{
    /// <summary>A line of a margin table: its interior cells, then its total (Σ interior − total = 0).</summary>
    public static LinearIdentity Line(int[] line, int offset)
    {
        ArgumentNullException.ThrowIfNull(line);
        var coefficients = new long[line.Length];
        Array.Fill(coefficients, 1);
        coefficients[^1] = -1;
        return new LinearIdentity([.. line.Select(c => c + offset)], coefficients);
    }
}

/// <summary>
/// Tables that are published together and whose cells an analyst can relate: every table's lines, and the identities
/// that link cells of different tables. Cells are numbered table after table (a table's extended cells start at
/// <see cref="Offset"/>), so one suppression pattern and one exact linear-algebra audit cover all of them. Planning
/// suppression table by table is not enough when such identities hold exactly: a cell hidden in one table is then the
/// difference of published cells of the others (linked tables: Hundepool et al. 2012, Statistical Disclosure Control, §4.4;
/// de Wolf and Giessing 2009, "Adjusting the τ-ARGUS modular approach to deal with linked tables", Data &amp; Knowledge
/// Engineering 68(11)).
/// </summary>
public sealed class LinkedTables
{
    private readonly int[] _offsets;
    private readonly LinearIdentity[] _identities;

    /// <param name="tables">The tables, each with its margins.</param>
    /// <param name="links">Identities across tables, over cell indices of this set (<see cref="Cell"/>).</param>
    public LinkedTables(IReadOnlyList<MarginTable> tables, IEnumerable<LinearIdentity> links)
    {
        ArgumentNullException.ThrowIfNull(tables);
        ArgumentNullException.ThrowIfNull(links);
        if (tables.Count == 0)
        {
            throw new ArgumentException("at least one table is needed", nameof(tables));
        }

        Tables = [.. tables];
        _offsets = new int[tables.Count];
        for (int t = 1; t < tables.Count; t++)
        {
            _offsets[t] = checked(_offsets[t - 1] + tables[t - 1].CellCount);
        }

        CellCount = checked(_offsets[^1] + tables[^1].CellCount);
        var identities = new List<LinearIdentity>();
        for (int t = 0; t < tables.Count; t++)
        {
            identities.AddRange(tables[t].Lines.Select(l => LinearIdentity.Line(l, _offsets[t])));
        }

        foreach (var link in links)
        {
            if (link.Cells.Length == 0 || link.Cells.Length != link.Coefficients.Length || link.Coefficients.Any(c => c == 0)
                || link.Cells.Any(c => (uint)c >= (uint)CellCount) || link.Cells.Distinct().Count() != link.Cells.Length)
            {
                throw new ArgumentException("an identity needs distinct cells of these tables, each with a non-zero coefficient", nameof(links));
            }

            if (link.Cells.Zip(link.Coefficients).Sum(x => checked(this[x.First] * x.Second)) != 0)
            {
                throw new ArgumentException("an identity does not hold on the tables' values", nameof(links));
            }

            identities.Add(link);
        }

        _identities = [.. identities];
    }

    /// <summary>A single table with its lines and nothing else.</summary>
    public static LinkedTables Of(MarginTable table) => new([table], []);

    public IReadOnlyList<MarginTable> Tables { get; }

    /// <summary>Cells of every table, margins included.</summary>
    public int CellCount { get; }

    /// <summary>Every identity an analyst can use: each table's lines, then the links across tables.</summary>
    public IReadOnlyList<LinearIdentity> Identities => _identities;

    /// <summary>The index of table <paramref name="table"/>'s first extended cell.</summary>
    public int Offset(int table) => _offsets[table];

    /// <summary>The index, in this set, of a table's extended cell.</summary>
    public int Cell(int table, int tableCell) => _offsets[table] + tableCell;

    /// <summary>Which table a cell belongs to, and its index there.</summary>
    public (int Table, int TableCell) Locate(int cell)
    {
        if ((uint)cell >= (uint)CellCount)
        {
            throw new ArgumentOutOfRangeException(nameof(cell));
        }

        int t = Array.BinarySearch(_offsets, cell);
        t = t >= 0 ? t : ~t - 1;
        return (t, cell - _offsets[t]);
    }

    public long this[int cell]
    {
        get
        {
            var (t, c) = Locate(cell);
            return Tables[t][c];
        }
    }
}
