using System.Reflection;

namespace FederatedTwin.Node.Deidentification;

/// <summary>A (system, code) → category list loaded from an embedded CSV data file that cites its sources; a code ending in * is a prefix.</summary>
public sealed class CodeList
{
    private readonly Dictionary<(string System, string Code), (string Category, int Rank)> _exact = [];
    private readonly List<(string System, string Prefix, string Category, int Rank)> _prefixes = [];

    private CodeList(string resource)
        : this(ReadLines(resource).Skip(1).Select(l => l.Split(',')).Select(p => (p[0], p[1], p[2], 0)))
    {
    }

    /// <param name="entries">(category, system, code, rank): a code ending in * is a prefix; where two entries match, the lower rank decides.</param>
    private CodeList(IEnumerable<(string Category, string System, string Code, int Rank)> entries)
    {
        foreach (var (category, system, code, rank) in entries)
        {
            if (code.EndsWith('*'))
            {
                _prefixes.Add((system, code[..^1].Replace(".", string.Empty, StringComparison.Ordinal), category, rank));
            }
            else if (!_exact.TryGetValue((system, code), out var known) || rank < known.Rank)
            {
                _exact[(system, code)] = (category, rank);
            }
        }

        Categories = _exact.Values.Select(e => e.Category).Concat(_prefixes.Select(p => p.Category)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// This list with more (category, system, code) entries, e.g. a site policy's custom sensitive categories. A code
    /// this list already covers (exactly or by prefix) keeps this list's category: a site's own list can add codes,
    /// never take a 42 CFR Part 2 or HIV record out of its category.
    /// </summary>
    public CodeList With(IEnumerable<(string Category, string System, string Code)> more) =>
        new(_exact.Select(e => (e.Value.Category, e.Key.System, e.Key.Code, e.Value.Rank))
            .Concat(_prefixes.Select(p => (p.Category, p.System, p.Prefix + "*", p.Rank)))
            .Concat(more.Select(m => (m.Category, m.System, m.Code, _exact.Values.Select(e => e.Rank).Concat(_prefixes.Select(p => p.Rank)).DefaultIfEmpty(0).Max() + 1))));

    public static CodeList ChronicConditions { get; } = new("chronic-conditions.csv");

    public static CodeList Sensitive { get; } = new("sensitive-codes.csv");

    /// <summary>Conditions that entitle a person under 65 to Medicare (ESRD), as eligibility proxies.</summary>
    public static CodeList MedicareProxies { get; } = new("medicare-proxies.csv");

    public IReadOnlyList<string> Categories { get; }

    /// <summary>The category of a coding, or null. ICD-10-CM codes are compared without their dot.</summary>
    public string? Match(string? system, string? code) => Ranked(system, code)?.Category;

    /// <summary>
    /// The category of a record coded several ways: of its codings that match, the one from the earliest list (built-in before a
    /// site's own), so a record coded both as 42 CFR Part 2 SUD and under a custom category stays <c>sud</c>.
    /// </summary>
    public string? MatchAny(IEnumerable<(string? System, string? Code)> codings)
    {
        (string Category, int Rank)? best = null;
        foreach (var (system, code) in codings)
        {
            if (Ranked(system, code) is { } match && (best is null || match.Rank < best.Value.Rank))
            {
                best = match;
            }
        }

        return best?.Category;
    }

    private (string Category, int Rank)? Ranked(string? system, string? code)
    {
        if (system is null || code is null)
        {
            return null;
        }

        (string Category, int Rank)? best = _exact.TryGetValue((system, code), out var exact) ? exact : null;
        var bare = code.Replace(".", string.Empty, StringComparison.Ordinal);
        foreach (var (s, prefix, c, rank) in _prefixes)
        {
            if ((best is null || rank < best.Value.Rank) && s == system && bare.StartsWith(prefix, StringComparison.Ordinal))
            {
                best = (c, rank);
            }
        }

        return best;
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
