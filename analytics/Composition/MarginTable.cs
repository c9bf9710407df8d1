namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// A contingency table with every margin: each dimension of size n gets an extra level n, "total", so
/// the extended table holds the interior cells, every line, plane and grand total, all computed as sums of
/// the interior. Every line of the extended table (one dimension varying over its n levels plus the total,
/// the others fixed at any level including total) obeys total = Σ interior cells, which is exactly what an
/// analyst can use to recover a suppressed cell. Counts are row-major, last dimension fastest.
/// </summary>
public sealed class MarginTable
{
    private readonly int[] _shape;
    private readonly int[] _extendedShape;
    private readonly int[] _strides;
    private readonly long[] _values;
    private readonly int[][] _lines;

    public MarginTable(IReadOnlyList<int> shape, ReadOnlySpan<long> interior)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count == 0 || shape.Any(n => n < 1))
        {
            throw new ArgumentException("a table needs at least one dimension, each with at least one level", nameof(shape));
        }

        _shape = [.. shape];
        _extendedShape = [.. shape.Select(n => n + 1)];
        long interiorCount = _shape.Aggregate(1L, (a, n) => a * n);
        long extendedCount = _extendedShape.Aggregate(1L, (a, n) => a * n);
        if (extendedCount > 1_000_000)
        {
            throw new ArgumentException("the table is too large for cell suppression", nameof(shape));
        }

        if (interior.Length != interiorCount)
        {
            throw new ArgumentException($"shape {string.Join('x', _shape)} has {interiorCount} cells, not {interior.Length}", nameof(interior));
        }

        _strides = new int[_shape.Length];
        int stride = 1;
        for (int d = _shape.Length - 1; d >= 0; d--)
        {
            _strides[d] = stride;
            stride *= _extendedShape[d];
        }

        _values = new long[extendedCount];
        var coordinates = new int[_shape.Length];
        var target = new int[_shape.Length];
        int subsets = 1 << _shape.Length;
        for (int i = 0; i < interior.Length; i++)
        {
            if (interior[i] < 0)
            {
                throw new ArgumentException("counts must be non-negative (round noisy counts first)", nameof(interior));
            }

            Decompose(i, _shape, coordinates);
            for (int mask = 0; mask < subsets; mask++)
            {
                for (int d = 0; d < _shape.Length; d++)
                {
                    target[d] = (mask & (1 << d)) != 0 ? _shape[d] : coordinates[d];
                }

                _values[Index(target)] = checked(_values[Index(target)] + interior[i]);
            }
        }

        _lines = BuildLines();
    }

    /// <summary>Interior sizes per dimension.</summary>
    public IReadOnlyList<int> Shape => _shape;

    /// <summary>Sizes including the total level (index = interior size).</summary>
    public IReadOnlyList<int> ExtendedShape => _extendedShape;

    /// <summary>Number of cells in the extended table, margins included.</summary>
    public int CellCount => _values.Length;

    /// <summary>The value of an extended cell by flat index.</summary>
    public long this[int cell] => _values[cell];

    /// <summary>
    /// Every additive line: the flat indices of its interior cells followed, last, by its total.
    /// </summary>
    public IReadOnlyList<int[]> Lines => _lines;

    /// <summary>Flat index of an extended cell; a coordinate equal to the dimension's size means "total".</summary>
    public int Index(ReadOnlySpan<int> extendedCoordinates)
    {
        if (extendedCoordinates.Length != _shape.Length)
        {
            throw new ArgumentException($"need {_shape.Length} coordinates", nameof(extendedCoordinates));
        }

        int index = 0;
        for (int d = 0; d < _shape.Length; d++)
        {
            if ((uint)extendedCoordinates[d] > (uint)_shape[d])
            {
                throw new ArgumentOutOfRangeException(nameof(extendedCoordinates), $"coordinate {d} must be in 0..{_shape[d]}");
            }

            index += extendedCoordinates[d] * _strides[d];
        }

        return index;
    }

    /// <summary>The extended coordinates of a flat index.</summary>
    public int[] Coordinates(int cell)
    {
        var result = new int[_shape.Length];
        Decompose(cell, _extendedShape, result);
        return result;
    }

    /// <summary>True for a margin (any coordinate at the total level).</summary>
    public bool IsMargin(int cell)
    {
        var c = Coordinates(cell);
        for (int d = 0; d < c.Length; d++)
        {
            if (c[d] == _shape[d])
            {
                return true;
            }
        }

        return false;
    }

    private static void Decompose(int flat, int[] sizes, int[] into)
    {
        for (int d = sizes.Length - 1; d >= 0; d--)
        {
            into[d] = flat % sizes[d];
            flat /= sizes[d];
        }
    }

    private int[][] BuildLines()
    {
        var lines = new List<int[]>();
        var coordinates = new int[_shape.Length];
        for (int d = 0; d < _shape.Length; d++)
        {
            for (int cell = 0; cell < _values.Length; cell++)
            {
                Decompose(cell, _extendedShape, coordinates);
                if (coordinates[d] != 0)
                {
                    continue;
                }

                var line = new int[_extendedShape[d]];
                for (int level = 0; level <= _shape[d]; level++)
                {
                    line[level] = cell + (level * _strides[d]);
                }

                lines.Add(line);
            }
        }

        return [.. lines];
    }
}
