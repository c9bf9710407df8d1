using System.Numerics;

namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// Exact linear algebra over the suppressed cells of published tables. The unknowns are the suppressed cells; every
/// identity an analyst knows with a suppressed cell in it (every line of every table, and the identities linking tables,
/// <see cref="LinkedTables"/>) gives one equation Σ coefficient·suppressed cell = (a value computed from published cells).
/// A suppressed cell is exactly recoverable iff its unit vector lies in the row space of that system, i.e. iff every
/// solution of the homogeneous system is zero at the cell; Gauss–Jordan elimination over the rationals (fraction-free,
/// integer rows) decides this without rounding. The 0-or-≥2 rule per line is necessary but not sufficient: a suppressed
/// cell bridging two otherwise closed patterns can have two suppressed cells in each of its lines and still be determined.
/// </summary>
internal sealed class SuppressionAlgebra
{
    private readonly int[] _variables;
    private readonly Dictionary<int, int> _variableOf;
    private readonly BigInteger[][] _rows;
    private readonly int[] _pivotRowOfColumn;
    private readonly int _cellCount;

    private SuppressionAlgebra(int cellCount, int[] variables, BigInteger[][] rows, int[] pivotRowOfColumn)
    {
        _cellCount = cellCount;
        _variables = variables;
        _variableOf = variables.Select((cell, v) => (cell, v)).ToDictionary(x => x.cell, x => x.v);
        _rows = rows;
        _pivotRowOfColumn = pivotRowOfColumn;
    }

    public static SuppressionAlgebra Analyse(MarginTable table, IReadOnlyList<bool> suppressed) => Analyse(LinkedTables.Of(table), suppressed);

    public static SuppressionAlgebra Analyse(LinkedTables tables, IReadOnlyList<bool> suppressed)
    {
        var variables = Enumerable.Range(0, tables.CellCount).Where(c => suppressed[c]).ToArray();
        var variableOf = new Dictionary<int, int>();
        for (int v = 0; v < variables.Length; v++)
        {
            variableOf[variables[v]] = v;
        }

        var equations = new List<long[]>();
        foreach (var identity in tables.Identities)
        {
            long[]? row = null;
            for (int k = 0; k < identity.Cells.Length; k++)
            {
                if (variableOf.TryGetValue(identity.Cells[k], out int v))
                {
                    row ??= new long[variables.Length];
                    row[v] = identity.Coefficients[k];
                }
            }

            if (row is not null)
            {
                equations.Add(row);
            }
        }

        // Entries stay tiny for these small-coefficient systems, so 64-bit arithmetic (checked) is tried first.
        int[] pivots;
        BigInteger[][] reduced;
        try
        {
            var rows = equations.Select(e => e.ToArray()).ToArray();
            pivots = GaussJordan(rows, variables.Length);
            reduced = [.. rows.Select(r => r.Select(x => new BigInteger(x)).ToArray())];
        }
        catch (OverflowException)
        {
            reduced = [.. equations.Select(e => e.Select(x => new BigInteger(x)).ToArray())];
            pivots = GaussJordan(reduced, variables.Length);
        }

        return new SuppressionAlgebra(tables.CellCount, variables, reduced, pivots);
    }

    /// <summary>Suppressed cells whose value follows from the published ones.</summary>
    public IReadOnlyList<int> DeterminedCells()
    {
        var determined = new List<int>();
        for (int v = 0; v < _variables.Length; v++)
        {
            int r = _pivotRowOfColumn[v];
            if (r >= 0 && _rows[r].Count(x => !x.IsZero) == 1)
            {
                determined.Add(_variables[v]);
            }
        }

        return determined;
    }

    /// <summary>
    /// For a suppressed cell that is not determined, a non-zero integer change to the suppressed cells (indexed by cell;
    /// zero on every published cell) that keeps every identity (each line's total = Σ interior, and the links across
    /// tables): adding it to the tables leaves all published values unchanged but moves <paramref name="cell"/>. Null
    /// when determined.
    /// </summary>
    public long[]? Witness(int cell)
    {
        if (!_variableOf.TryGetValue(cell, out int v))
        {
            throw new ArgumentException("the cell is not suppressed", nameof(cell));
        }

        int free;
        int pivotRow = _pivotRowOfColumn[v];
        if (pivotRow < 0)
        {
            free = v;
        }
        else
        {
            free = -1;
            for (int f = 0; f < _variables.Length && free < 0; f++)
            {
                if (f != v && !_rows[pivotRow][f].IsZero)
                {
                    free = f;
                }
            }

            if (free < 0)
            {
                return null;
            }
        }

        // x_free = L and x_pivot(r) = −row_r[free]·L/row_r[pivot(r)], L the lcm of the pivots involved.
        BigInteger scale = BigInteger.One;
        for (int c = 0; c < _variables.Length; c++)
        {
            int r = _pivotRowOfColumn[c];
            if (r >= 0 && !_rows[r][free].IsZero)
            {
                var p = BigInteger.Abs(_rows[r][c]);
                scale = scale / BigInteger.GreatestCommonDivisor(scale, p) * p;
            }
        }

        var witness = new long[_cellCount];
        witness[_variables[free]] = (long)scale;
        for (int c = 0; c < _variables.Length; c++)
        {
            int r = _pivotRowOfColumn[c];
            if (r >= 0 && !_rows[r][free].IsZero)
            {
                witness[_variables[c]] = (long)(-_rows[r][free] * scale / _rows[r][c]);
            }
        }

        return witness;
    }

    /// <summary>Reduced row echelon form in place, integer rows kept primitive; returns the pivot row of each column or −1.</summary>
    private static int[] GaussJordan<T>(T[][] rows, int columns)
        where T : IBinaryInteger<T>, ISignedNumber<T>
    {
        var pivotRowOfColumn = Enumerable.Repeat(-1, columns).ToArray();
        int next = 0;
        for (int c = 0; c < columns && next < rows.Length; c++)
        {
            int found = -1;
            for (int r = next; r < rows.Length && found < 0; r++)
            {
                if (rows[r][c] != T.Zero)
                {
                    found = r;
                }
            }

            if (found < 0)
            {
                continue;
            }

            (rows[next], rows[found]) = (rows[found], rows[next]);
            var pivot = rows[next];
            for (int r = 0; r < rows.Length; r++)
            {
                var factor = rows[r][c];
                if (r == next || factor == T.Zero)
                {
                    continue;
                }

                var row = rows[r];
                var p = pivot[c];
                T gcd = T.Zero;
                for (int k = 0; k < columns; k++)
                {
                    row[k] = checked((row[k] * p) - (pivot[k] * factor));
                    gcd = Gcd(gcd, T.Abs(row[k]));
                }

                if (gcd > T.One)
                {
                    for (int k = 0; k < columns; k++)
                    {
                        row[k] /= gcd;
                    }
                }
            }

            pivotRowOfColumn[c] = next;
            next++;
        }

        return pivotRowOfColumn;
    }

    private static T Gcd<T>(T a, T b)
        where T : IBinaryInteger<T>
    {
        while (b != T.Zero)
        {
            (a, b) = (b, a % b);
        }

        return a;
    }
}
