using System.Collections;
using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace FederatedTwin.Node.Features;

/// <summary>
/// One patient-year's values, indexed by <see cref="FeatureSchema.Columns"/>: an array and two bit masks
/// (which columns are present, which of them are empty) instead of a hash table per row. A node builds
/// hundreds of thousands of rows per study; a dictionary each cost more than computing them. Reads like
/// the dictionary it replaces: a column the row does not have (the outcomes of a year whose next year is
/// outside the data) is absent, not null; enumeration follows the schema's column order.
/// </summary>
public sealed class FeatureDictionary : IReadOnlyDictionary<string, double?>
{
    private static readonly string[] Names = [.. FeatureSchema.Columns.Select(c => c.Name)];
    private static readonly FrozenDictionary<string, int> Index = Names.Select((n, i) => (n, i)).ToFrozenDictionary(p => p.n, p => p.i, StringComparer.Ordinal);

    private readonly double[] _values = new double[Names.Length];
    private ulong _present;
    private ulong _empty;

    static FeatureDictionary()
    {
        if (Names.Length > 64)
        {
            throw new InvalidOperationException("FeatureDictionary keeps its columns in 64-bit masks: the schema has more columns.");
        }
    }

    /// <summary>The column's position in the schema (for setting values without looking the name up per row).</summary>
    public static int Column(string name) => Index.TryGetValue(name, out var i) ? i : throw new ArgumentException($"No feature column named {name}.", nameof(name));

    public void Set(int column, double? value)
    {
        var bit = 1UL << column;
        _present |= bit;
        if (value is { } v)
        {
            _values[column] = v;
            _empty &= ~bit;
        }
        else
        {
            _empty |= bit;
        }
    }

    /// <summary>Number of columns of the schema (the width of <see cref="CopyTo"/>'s row).</summary>
    public static int Width => Names.Length;

    /// <summary>
    /// Copies the row into <paramref name="row"/> (one slot per schema column), NaN for a column that is absent or empty:
    /// the patient twin scores models over such arrays, one pass per patient, without a name lookup per term.
    /// </summary>
    public void CopyTo(Span<double> row)
    {
        for (var i = 0; i < Names.Length; i++)
        {
            var bit = 1UL << i;
            row[i] = (_present & bit) != 0 && (_empty & bit) == 0 ? _values[i] : double.NaN;
        }
    }

    public double? this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"The row has no column {key}.");

    public IEnumerable<string> Keys => Present().Select(i => Names[i]);

    public IEnumerable<double?> Values => Present().Select(At);

    public int Count => System.Numerics.BitOperations.PopCount(_present);

    public bool ContainsKey(string key) => Index.TryGetValue(key, out var i) && (_present & (1UL << i)) != 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out double? value)
    {
        if (Index.TryGetValue(key, out var i) && (_present & (1UL << i)) != 0)
        {
            value = At(i);
            return true;
        }

        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, double?>> GetEnumerator() => Present().Select(i => new KeyValuePair<string, double?>(Names[i], At(i))).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private double? At(int i) => (_empty & (1UL << i)) != 0 ? null : _values[i];

    private IEnumerable<int> Present()
    {
        for (var i = 0; i < Names.Length; i++)
        {
            if ((_present & (1UL << i)) != 0)
            {
                yield return i;
            }
        }
    }
}
