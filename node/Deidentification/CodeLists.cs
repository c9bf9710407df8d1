using System.Reflection;

namespace FederatedTwin.Node.Deidentification;

/// <summary>A (system, code) → category list loaded from an embedded CSV data file that cites its sources; a code ending in * is a prefix.</summary>
public sealed class CodeList
{
    private readonly Dictionary<(string System, string Code), string> _exact = [];
    private readonly List<(string System, string Prefix, string Category)> _prefixes = [];

    private CodeList(string resource)
    {
        foreach (var line in ReadLines(resource).Skip(1))
        {
            var parts = line.Split(',');
            if (parts[2].EndsWith('*'))
            {
                _prefixes.Add((parts[1], parts[2][..^1], parts[0]));
            }
            else
            {
                _exact[(parts[1], parts[2])] = parts[0];
            }
        }

        Categories = _exact.Values.Concat(_prefixes.Select(p => p.Category)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    public static CodeList ChronicConditions { get; } = new("chronic-conditions.csv");

    public static CodeList Sensitive { get; } = new("sensitive-codes.csv");

    /// <summary>Conditions that entitle a person under 65 to Medicare (ESRD), as eligibility proxies.</summary>
    public static CodeList MedicareProxies { get; } = new("medicare-proxies.csv");

    public IReadOnlyList<string> Categories { get; }

    /// <summary>The category of a coding, or null. ICD-10-CM codes are compared without their dot.</summary>
    public string? Match(string? system, string? code)
    {
        if (system is null || code is null)
        {
            return null;
        }

        if (_exact.TryGetValue((system, code), out var category))
        {
            return category;
        }

        var bare = code.Replace(".", string.Empty, StringComparison.Ordinal);
        foreach (var (s, prefix, c) in _prefixes)
        {
            if (s == system && bare.StartsWith(prefix, StringComparison.Ordinal))
            {
                return c;
            }
        }

        return null;
    }

    internal static IEnumerable<string> ReadLines(string resource)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(resource) ?? throw new InvalidOperationException($"Missing data file {resource}.");
        using var reader = new StreamReader(stream);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && !line.StartsWith('#'))
            {
                yield return line.Trim();
            }
        }
    }
}
