using FederatedTwin.Node.Deidentification;

namespace FederatedTwin.Node.Sources.Omop;

/// <summary>One row of omop-concept-sets.csv: a feature condition, an ancestor standard concept, and its SNOMED CT code.</summary>
public sealed record ConceptSetRoot(string Condition, long AncestorConceptId, string SnomedCode, string Name);

/// <summary>
/// The feature schema's conditions as OMOP concept sets (node/Data/omop-concept-sets.csv, which cites its sources), and what a
/// CDM's vocabulary expands them to: each standard concept id in a set, with the first set (in the file's order) it belongs to.
/// </summary>
public sealed class ConceptSets
{
    private readonly Dictionary<long, ConceptSetRoot> _members;

    public ConceptSets(IReadOnlyDictionary<long, ConceptSetRoot> members, bool fromAncestorTable)
    {
        _members = new Dictionary<long, ConceptSetRoot>(members);
        FromAncestorTable = fromAncestorTable;
    }

    /// <summary>The rows of omop-concept-sets.csv, in order. Each row's code is checked to map to its condition in chronic-conditions.csv.</summary>
    public static IReadOnlyList<ConceptSetRoot> Roots { get; } = LoadRoots();

    /// <summary>Whether the expansion came from CONCEPT_ANCESTOR (else from CONCEPT_RELATIONSHIP 'Is a').</summary>
    public bool FromAncestorTable { get; }

    /// <summary>Concept ids in any set.</summary>
    public int Count => _members.Count;

    /// <summary>The set a standard concept id belongs to (its first in the file's order), or null.</summary>
    public ConceptSetRoot? SetOf(long conceptId) => _members.GetValueOrDefault(conceptId);

    /// <summary>Every concept id of a condition's sets.</summary>
    public IReadOnlySet<long> Members(string condition) => _members.Where(m => m.Value.Condition == condition).Select(m => m.Key).ToHashSet();

    private static List<ConceptSetRoot> LoadRoots()
    {
        var roots = new List<ConceptSetRoot>();
        foreach (var line in CodeList.ReadLines("omop-concept-sets.csv").Skip(1))
        {
            var p = line.Split(',');
            var root = new ConceptSetRoot(p[0], long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture), p[2], p[3]);
            if (CodeList.ChronicConditions.Match("http://snomed.info/sct", root.SnomedCode) != root.Condition)
            {
                throw new InvalidOperationException($"omop-concept-sets.csv: SNOMED {root.SnomedCode} is not {root.Condition} in chronic-conditions.csv.");
            }

            roots.Add(root);
        }

        return roots;
    }
}
