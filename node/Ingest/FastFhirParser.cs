using System.Text.Json;
using System.Text.RegularExpressions;
using FederatedTwin.Node.Deidentification;
using Hl7.Fhir.Introspection;
using Hl7.Fhir.Model;
using Hl7.Fhir.Utility;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The fast path for the hot resource types: one Utf8JsonReader pass, no POCOs. Acceptance follows
/// the Firely model, not a hand-written list: every element name is looked up in Firely's
/// ModelInspector class mappings (choice types by their suffix), JSON value kinds must match the
/// element's FHIR type, enum-bound codes must be known literals, and date/dateTime/instant values
/// must match the FHIR R4 patterns and be real calendar dates. Leaves the features need are collected
/// on the way and turned into the same <see cref="ClinicalRecord"/> the Firely path builds (tests
/// check both paths agree line by line). Anything it does not handle (other types, contained
/// resources, Consent) returns null and goes to the Firely path.
/// </summary>
public sealed partial class FastFhirParser
{
    private static readonly ModelInspector Inspector = Hl7.Fhir.Model.ModelInfo.ModelInspector;

    private static readonly Dictionary<string, ClassMapping> HotTypes = new[] { "Patient", "Condition", "Encounter", "Observation", "Claim", "ExplanationOfBenefit" }
        .ToDictionary(t => t, t => Inspector.FindClassMapping(t)!, StringComparer.Ordinal);

    private readonly List<(string Path, int Index, int Inner, string Value)> _leaves = new(64);

    /// <summary>The record, a rejection, or (null, null) when this line is for the Firely path.</summary>
    public (ClinicalRecord? Record, QuarantineReason? Reason, bool Handled) Parse(ReadOnlySpan<byte> json)
    {
        var type = PeekResourceType(json);
        if (type is null || !HotTypes.TryGetValue(type, out var mapping))
        {
            return (null, null, false);
        }

        _leaves.Clear();
        LastRefusal = null;
        var reader = new Utf8JsonReader(json);
        try
        {
            reader.Read();
            var outcome = WalkObject(ref reader, mapping, string.Empty, -1, -1, isRoot: true);
            if (outcome == Outcome.Delegate)
            {
                return (null, null, false);
            }

            if (outcome == Outcome.Invalid || reader.Read())
            {
                return (null, QuarantineReason.Invalid("fast-path"), true);
            }
        }
        catch (JsonException)
        {
            return (null, QuarantineReason.InvalidJson, true);
        }

        var id = Leaf("id");
        if (string.IsNullOrEmpty(id))
        {
            return (null, QuarantineReason.MissingId, true);
        }

        try
        {
            return (Build(type, id), null, true);
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException or OverflowException)
        {
            return (null, QuarantineReason.ImpossibleDate, true);
        }
    }

    /// <summary>The element and rule of the last refusal (element names only, never values): for tests and debugging.</summary>
    public string? LastRefusal { get; private set; }

    private Outcome Fail(string path, string rule)
    {
        LastRefusal = $"{path}: {rule}";
        return Outcome.Invalid;
    }

    private enum Outcome
    {
        Valid,
        Invalid,
        Delegate,
    }

    private Outcome WalkObject(ref Utf8JsonReader reader, ClassMapping mapping, string path, int topIndex, int innerIndex, bool isRoot = false)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return Outcome.Invalid;
        }

        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return Outcome.Valid;
            }

            var name = reader.GetString()!;
            reader.Read();
            if (isRoot && name == "resourceType")
            {
                continue;
            }

            if (name.StartsWith('_'))
            {
                // A primitive's id/extensions: Element-shaped; not used by the features.
                reader.Skip();
                continue;
            }

            var element = Element(mapping, name);
            if (element.Delegate)
            {
                return Outcome.Delegate; // contained or nested resources: the Firely path
            }

            var (property, choiceType, enumType) = (element.Property, element.Type, element.EnumType);
            if (property is null || choiceType is null)
            {
                return Fail(path + "." + name, "unknown element");
            }

            var childPath = path.Length == 0 ? name : ChildPath(path, name);
            var index = topIndex;
            if (property.IsCollection)
            {
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return Fail(childPath, "a list must be an array");
                }

                var i = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var outcome = WalkValue(ref reader, choiceType, enumType, childPath, path.Length == 0 ? i : index, i);
                    if (outcome != Outcome.Valid)
                    {
                        return outcome;
                    }

                    i++;
                }
            }
            else
            {
                var outcome = WalkValue(ref reader, choiceType, enumType, childPath, index, innerIndex);
                if (outcome != Outcome.Valid)
                {
                    return outcome;
                }
            }
        }

        return Outcome.Invalid;
    }

    private Outcome WalkValue(ref Utf8JsonReader reader, ClassMapping type, Type? enumType, string path, int topIndex, int innerIndex) =>
        type.IsFhirPrimitive || type.Name == "xhtml" ? Primitive(ref reader, type, enumType, path, topIndex, innerIndex) : WalkObject(ref reader, type, path, topIndex, innerIndex);

    private Outcome Primitive(ref Utf8JsonReader reader, ClassMapping type, Type? enumType, string path, int topIndex, int innerIndex)
    {
        string value;
        switch (type.Name)
        {
            case "boolean":
                if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                {
                    return Outcome.Invalid;
                }

                value = reader.GetBoolean() ? "true" : "false";
                break;
            case "integer" or "unsignedInt" or "positiveInt":
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var n) || (type.Name == "unsignedInt" && n < 0) || (type.Name == "positiveInt" && n < 1))
                {
                    return Outcome.Invalid;
                }

                value = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                break;
            case "decimal":
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var d))
                {
                    return Outcome.Invalid;
                }

                value = d.ToString(System.Globalization.CultureInfo.InvariantCulture);
                break;
            default:
                if (reader.TokenType != JsonTokenType.String)
                {
                    return Outcome.Invalid;
                }

                value = reader.GetString()!;
                if (!ValidText(type, enumType, value))
                {
                    return Fail(path, "value does not match its type");
                }

                break;
        }

        if (Wanted(path))
        {
            _leaves.Add((path, topIndex, innerIndex, value));
        }

        return Outcome.Valid;
    }

    private static bool ValidText(ClassMapping type, Type? enumType, string value)
    {
        if (value.Length == 0)
        {
            return false; // FHIR: strings are never empty
        }

        return type.Name switch
        {
            "date" => DatePattern().IsMatch(value) && RealDate(value),
            "dateTime" => DateTimePattern().IsMatch(value) && RealDate(value),
            "instant" => InstantPattern().IsMatch(value) && RealDate(value),
            "code" when enumType is not null => EnumLiterals.GetOrAdd((enumType, value), k => EnumUtility.ParseLiteral(k.Item2, k.Item1) is not null),
            _ => true,
        };
    }

    private static bool RealDate(string value) => value.Length < 10 || DateOnly.TryParseExact(value[..10], "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out _);

    private sealed record ElementInfo(PropertyMapping? Property, ClassMapping? Type, Type? EnumType, bool Delegate);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(ClassMapping, string), ElementInfo> Elements = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string, string), string> Paths = new();
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, string), bool> EnumLiterals = new();

    /// <summary>Model lookups are cached per (type, element name): the model is fixed, the lookups are hot.</summary>
    private static ElementInfo Element(ClassMapping mapping, string name) => Elements.GetOrAdd((mapping, name), key =>
    {
        if (key.Item1.FindMappedElementByName(key.Item2) is { Choice: ChoiceType.ResourceChoice })
        {
            return new ElementInfo(null, null, null, Delegate: true);
        }

        var (property, type) = Find(key.Item1, key.Item2);
        if (type is not null && (type.IsResource || property!.Choice == ChoiceType.ResourceChoice))
        {
            return new ElementInfo(null, null, null, Delegate: true);
        }

        var enumType = property?.ImplementingType is { IsGenericType: true } g && g.GetGenericTypeDefinition() == typeof(Code<>) ? g.GetGenericArguments()[0] : null;
        return new ElementInfo(property, type, enumType, Delegate: false);
    });

    private static string ChildPath(string path, string name) => Paths.GetOrAdd((path, name), k => k.Item1 + "." + k.Item2);

    /// <summary>An element by name: plain, or a choice element by its type suffix (onsetDateTime).</summary>
    private static (PropertyMapping? Property, ClassMapping? Type) Find(ClassMapping mapping, string name)
    {
        var property = mapping.FindMappedElementByName(name);
        if (property is not null && property.Choice == ChoiceType.None)
        {
            return (property, property.PropertyTypeMapping);
        }

        property = mapping.FindMappedElementByChoiceName(name);
        if (property is null || property.Choice == ChoiceType.None)
        {
            return (null, null);
        }

        var suffix = name[property.Name.Length..];
        if (suffix.Length == 0)
        {
            return (property, null); // a choice element needs its type suffix
        }

        var type = Inspector.FindClassMapping(suffix) ?? Inspector.FindClassMapping(char.ToLowerInvariant(suffix[0]) + suffix[1..]);
        if (type is null)
        {
            return (property, null);
        }

        var allowed = property.FhirType.Any(t => t == typeof(DataType) || t == type.NativeType || t.IsAssignableFrom(type.NativeType));
        return allowed ? (property, type) : (property, null);
    }

    private static readonly HashSet<string> WantedPaths =
    [
        "id", "gender", "birthDate", "deceasedDateTime", "address.postalCode", "meta.security.system", "meta.security.code",
        "code.coding.system", "code.coding.code", "subject.reference", "patient.reference", "onsetDateTime", "onsetPeriod.start", "recordedDate",
        "abatementDateTime", "abatementPeriod.start", "class.code", "period.start", "period.end", "reasonCode.coding.system", "reasonCode.coding.code",
        "effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "valueQuantity.value", "component.code.coding.system", "component.code.coding.code",
        "component.valueQuantity.value", "billablePeriod.start", "created", "total.value", "payment.amount.value", "total.amount.value",
    ];

    private static bool Wanted(string path) => WantedPaths.Contains(path);

    private string? Leaf(string path) => _leaves.FirstOrDefault(l => l.Path == path).Value;

    private IEnumerable<(int Index, string Value)> Leaves(string path) => _leaves.Where(l => l.Path == path).Select(l => (l.Index, l.Value));

    private ClinicalRecord Build(string type, string id)
    {
        var labels = Codings("meta.security", prefixHasCoding: false).Select(c => c.Item1 + "|" + c.Item2).ToList();
        ClinicalRecord record = type switch
        {
            "Patient" => new PatientRecord(id, Leaf("gender"), ParseDate(Leaf("birthDate")), Year(Leaf("deceasedDateTime")), SafeHarbor.Zip3(Leaves("address.postalCode").Where(l => l.Index == 0).Select(l => l.Value).FirstOrDefault())) { PatientId = id },
            "Condition" => new ConditionRecord(id, Codings("code"), Year(Leaf("onsetDateTime")) ?? Year(Leaf("onsetPeriod.start")) ?? Year(Leaf("recordedDate")), Year(Leaf("abatementDateTime")) ?? Year(Leaf("abatementPeriod.start"))) { PatientId = PatientOf(Leaf("subject.reference")) },
            "Encounter" => new EncounterRecord(id, Leaf("class.code"), Year(Leaf("period.start")), Days(Leaf("period.start"), Leaf("period.end")), Codings("reasonCode")) { PatientId = PatientOf(Leaf("subject.reference")) },
            "Observation" => new ObservationRecord(id, Year(Leaf("effectiveDateTime")) ?? Year(Leaf("effectivePeriod.start")) ?? Year(Leaf("effectiveInstant")), ObservationValues()) { PatientId = PatientOf(Leaf("subject.reference")) },
            "Claim" => new CostRecord("Claim", id, Year(Leaf("billablePeriod.start")) ?? Year(Leaf("created")), Decimal(Leaf("total.value"))) { PatientId = PatientOf(Leaf("patient.reference")) },
            _ => new CostRecord("ExplanationOfBenefit", id, Year(Leaf("billablePeriod.start")) ?? Year(Leaf("created")), Decimal(Leaf("payment.amount.value")) ?? Decimal(Leaves("total.amount.value").Where(l => l.Index == 0).Select(l => l.Value).FirstOrDefault())) { PatientId = PatientOf(Leaf("patient.reference")) },
        };
        return record with { SecurityLabels = labels };
    }

    /// <summary>Codings of a CodeableConcept (or of every element of a list of them), in document order, system and code paired by their coding element.</summary>
    private List<(string?, string?)> Codings(string prefix, int? index = null, bool prefixHasCoding = true)
    {
        var systemPath = prefix + (prefixHasCoding ? ".coding.system" : ".system");
        var codePath = prefix + (prefixHasCoding ? ".coding.code" : ".code");
        var order = new List<(int, int)>();
        var pairs = new Dictionary<(int, int), (string? System, string? Code)>();
        foreach (var (path, top, inner, value) in _leaves)
        {
            if ((path != systemPath && path != codePath) || (index is { } i && top != i))
            {
                continue;
            }

            if (!pairs.TryGetValue((top, inner), out var pair))
            {
                order.Add((top, inner));
            }

            pairs[(top, inner)] = path == systemPath ? (value, pair.Code) : (pair.System, value);
        }

        return order.Select(k => (pairs[k].System, pairs[k].Code)).ToList();
    }

    private List<(string, decimal)> ObservationValues()
    {
        var values = new List<(string, decimal)>();
        var code = Codings("code").FirstOrDefault(c => c.Item1 == "http://loinc.org").Item2;
        if (code is not null && Decimal(Leaf("valueQuantity.value")) is { } v)
        {
            values.Add((code, v));
        }

        var components = Leaves("component.valueQuantity.value").ToList();
        foreach (var (index, value) in components)
        {
            var loinc = Codings("component.code", index).FirstOrDefault(c => c.Item1 == "http://loinc.org").Item2;
            if (loinc is not null)
            {
                values.Add((loinc, decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture)));
            }
        }

        return values;
    }

    private static decimal? Decimal(string? value) => value is null ? null : decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture);

    private static int? Year(string? value) => value is null ? null : value.Length <= 10 && !value.Contains('T', StringComparison.Ordinal)
        ? ParseDate(value)?.Year
        : new FhirDateTime(value).ToDateTimeOffset(TimeSpan.Zero).Year;

    private static int Days(string? start, string? end)
    {
        if (start is null || end is null)
        {
            return 0;
        }

        var s = new FhirDateTime(start).ToDateTimeOffset(TimeSpan.Zero);
        var e = new FhirDateTime(end).ToDateTimeOffset(TimeSpan.Zero);
        return Math.Max(0, (int)Math.Round((e - s).TotalDays));
    }

    private static DateOnly? ParseDate(string? value) => FhirRecordParser.ParseDate(value);

    private static string? PatientOf(string? reference) => FhirRecordParser.PatientOf(reference);

    /// <summary>The top-level resourceType without a full parse; null when absent or not a string.</summary>
    private static string? PeekResourceType(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isType = reader.ValueTextEquals("resourceType");
                reader.Read();
                if (isType)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }

                reader.Skip();
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return null;
    }

    // FHIR R4 primitive patterns (http://hl7.org/fhir/R4/datatypes.html).
    [GeneratedRegex(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$")]
    private static partial Regex DatePattern();

    [GeneratedRegex(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$")]
    private static partial Regex DateTimePattern();

    [GeneratedRegex(@"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$")]
    private static partial Regex InstantPattern();
}
