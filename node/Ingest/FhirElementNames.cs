using System.Text.Json;
using Hl7.Fhir.Introspection;
using Hl7.Fhir.Model;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Element names as FHIR R4 JSON spells them. JSON names are case-sensitive (RFC 8259 section 8.3 compares names code unit by code
/// unit) and FHIR R4 JSON ("JSON Representation of Resources") names every element exactly as its definition does, a choice
/// element as its name followed by its type's name with the first letter capitalized (onsetDateTime). Firely's deserializer finds
/// elements and choice suffixes without regard to case: it read "iD" as the id, "oNsetDateTime" and "onsetdateTime" as the onset
/// (found by the differential fuzz target). Both parsers therefore resolve names here, spelled exactly, and the Firely path walks a
/// line with <see cref="FirstProblem"/> before Firely reads it, so that a line both paths see gets one verdict.
/// </summary>
internal static class FhirElementNames
{
    private static readonly ModelInspector Inspector = ModelInfo.ModelInspector;

    private static readonly ClassMapping AnyResource = Inspector.FindClassMapping(typeof(Resource))!;

    /// <summary>An element by its exact name: plain, or a choice element by its exact type suffix. (property, null) for a choice element with no or a wrong suffix.</summary>
    public static (PropertyMapping? Property, ClassMapping? Type) Find(ClassMapping mapping, string name)
    {
        var property = mapping.FindMappedElementByName(name);
        if (property is not null && property.Choice == ChoiceType.None)
        {
            return string.Equals(property.Name, name, StringComparison.Ordinal) ? (property, property.PropertyTypeMapping) : (null, null);
        }

        if (property is { Choice: ChoiceType.ResourceChoice })
        {
            // contained, Bundle.entry.resource: any resource, whose type its own resourceType names
            return string.Equals(property.Name, name, StringComparison.Ordinal) ? (property, AnyResource) : (null, null);
        }

        property = mapping.FindMappedElementByChoiceName(name);
        if (property is null || property.Choice == ChoiceType.None || !name.StartsWith(property.Name, StringComparison.Ordinal))
        {
            return (null, null);
        }

        var suffix = name[property.Name.Length..];
        if (suffix.Length == 0)
        {
            return (property, null); // a choice element needs its type suffix
        }

        // The suffix is a type's name with its first letter capitalized, nothing else: "DateTime", "Quantity", never "dateTime" or "DatETime".
        var type = Inspector.FindClassMapping(char.ToLowerInvariant(suffix[0]) + suffix[1..]) ?? Inspector.FindClassMapping(suffix);
        if (type is null || !string.Equals(char.ToUpperInvariant(type.Name[0]) + type.Name[1..], suffix, StringComparison.Ordinal))
        {
            return (property, null);
        }

        var allowed = property.FhirType.Any(t => t == typeof(DataType) || t == type.NativeType || t.IsAssignableFrom(type.NativeType));
        return allowed ? (property, type) : (property, null);
    }

    /// <summary>
    /// The first rule, in document order, that a resource breaks among those the fast path enforces and Firely does not: a name not
    /// spelled as R4 spells it (or not an element at all), two forms of one choice element, a date, dateTime or instant off the R4
    /// patterns or the calendar (Firely reads "2019-05-01T00Z" as a partial time; R4's dateTime pattern requires hh:mm:ss).
    /// Null when there is none. Elements Firely itself refuses for other reasons are left to Firely.
    /// </summary>
    public static QuarantineReason? FirstProblem(JsonElement resource) =>
        resource.TryGetProperty("resourceType", out var type) && type.ValueKind == JsonValueKind.String && Inspector.FindClassMapping(type.GetString()!) is { IsResource: true } mapping
            ? Walk(resource, mapping, isResource: true, extensionsOnly: false, depth: 0)
            : null;

    // Deeper than any R4 resource nests; a line nested further is refused by Firely's own depth limit anyway.
    private const int MaxDepth = 64;

    private static QuarantineReason? Walk(JsonElement obj, ClassMapping mapping, bool isResource, bool extensionsOnly, int depth)
    {
        if (depth > MaxDepth)
        {
            return null;
        }

        HashSet<string>? seen = null;
        foreach (var member in obj.EnumerateObject())
        {
            var name = member.Name;
            if (isResource && name == "resourceType")
            {
                continue;
            }

            var twin = name.StartsWith('_');
            var bare = twin ? name[1..] : name;
            if (extensionsOnly)
            {
                if (bare is not ("id" or "extension") || twin)
                {
                    return QuarantineReason.Structure("unknown-element");
                }
            }

            var (property, elementType) = bare.Length == 0 ? (null, null) : Find(mapping, bare);
            if (property is null || elementType is null)
            {
                return QuarantineReason.Structure("unknown-element");
            }

            // A choice element in two forms (onsetDateTime and onsetString): one element given twice.
            if (property.Choice != ChoiceType.None && !twin && !(seen ??= new(StringComparer.Ordinal)).Add(property.Name))
            {
                return QuarantineReason.DuplicateKey;
            }

            var problem = member.Value.ValueKind == JsonValueKind.Array
                ? Items(member.Value, elementType, twin, depth)
                : Value(member.Value, elementType, twin, depth);
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    private static QuarantineReason? Items(JsonElement array, ClassMapping type, bool twin, int depth)
    {
        foreach (var item in array.EnumerateArray())
        {
            if (Value(item, type, twin, depth) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static QuarantineReason? Value(JsonElement value, ClassMapping type, bool twin, int depth)
    {
        var primitive = type.IsFhirPrimitive || type.Name == "xhtml";
        if (twin || !primitive)
        {
            if (value.ValueKind != JsonValueKind.Object)
            {
                return null; // a wrong kind of value: Firely refuses it
            }

            if (twin)
            {
                return Walk(value, type, isResource: false, extensionsOnly: true, depth + 1);
            }

            if (type.IsResource)
            {
                // contained, Bundle.entry.resource, Parameters.parameter.resource: the resource's own type
                return value.TryGetProperty("resourceType", out var rt) && rt.ValueKind == JsonValueKind.String
                    && Inspector.FindClassMapping(rt.GetString()!) is { IsResource: true } inner
                    && string.Equals(inner.Name, rt.GetString(), StringComparison.Ordinal)
                    ? Walk(value, inner, isResource: true, extensionsOnly: false, depth + 1)
                    : null;
            }

            return Walk(value, type, isResource: false, extensionsOnly: false, depth + 1);
        }

        if (value.ValueKind == JsonValueKind.String && type.Name is "date" or "dateTime" or "instant")
        {
            var text = System.Text.Encoding.UTF8.GetBytes(value.GetString()!);
            var syntax = type.Name switch { "date" => FhirDateSyntax.IsDate(text), "dateTime" => FhirDateSyntax.IsDateTime(text), _ => FhirDateSyntax.IsInstant(text) };
            if (!syntax || !FhirDateSyntax.IsCalendarDate(text))
            {
                return QuarantineReason.Structure("date-pattern");
            }
        }

        return null;
    }
}
