using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// What an analyst sees of a table: every extended cell (interior and margins) as a count, or null where it is
/// suppressed. It holds no suppressed value, so nothing downstream can leak one by accident.
/// </summary>
public sealed class PublishedTable
{
    private readonly long?[] _cells;
    private readonly int[] _extendedShape;

    internal PublishedTable(string name, MarginTable table, IReadOnlyList<bool> suppressed, IReadOnlyList<IReadOnlyList<string>> labels)
    {
        Name = name;
        Shape = table.Shape;
        _extendedShape = [.. table.ExtendedShape];
        Labels = [.. labels.Select(l => (IReadOnlyList<string>)[.. l, "total"])];
        _cells = new long?[table.CellCount];
        for (int c = 0; c < _cells.Length; c++)
        {
            _cells[c] = suppressed[c] ? null : table[c];
        }
    }

    public string Name { get; }

    /// <summary>Interior sizes per dimension; a coordinate equal to the size addresses the total.</summary>
    public IReadOnlyList<int> Shape { get; }

    /// <summary>Level labels per dimension, the last being "total".</summary>
    public IReadOnlyList<IReadOnlyList<string>> Labels { get; }

    /// <summary>All extended cells, row-major, last dimension fastest; null = suppressed.</summary>
    public IReadOnlyList<long?> Cells => _cells;

    public int SuppressedCount => _cells.Count(c => c is null);

    /// <summary>
    /// The registry's document of the table (coordinator composition documents; read back by the twin's ReleasedComposition):
    /// name, shape = levels per dimension including "total", labels, cells row-major with null where suppressed.
    /// </summary>
    public PublishedTableDocument ToDocument() => new(Name, [.. Labels.Select(l => l.Count)], Labels, [.. _cells], SuppressedCount);

    public long? Get(params int[] extendedCoordinates)
    {
        ArgumentNullException.ThrowIfNull(extendedCoordinates);
        if (extendedCoordinates.Length != _extendedShape.Length)
        {
            throw new ArgumentException($"need {_extendedShape.Length} coordinates", nameof(extendedCoordinates));
        }

        int index = 0;
        for (int d = 0; d < _extendedShape.Length; d++)
        {
            if ((uint)extendedCoordinates[d] >= (uint)_extendedShape[d])
            {
                throw new ArgumentOutOfRangeException(nameof(extendedCoordinates), $"coordinate {d} must be in 0..{_extendedShape[d] - 1}");
            }

            index = (index * _extendedShape[d]) + extendedCoordinates[d];
        }

        return _cells[index];
    }
}
