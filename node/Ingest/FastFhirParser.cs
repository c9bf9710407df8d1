using System.Text.Json;
using Hl7.Fhir.Introspection;
using Hl7.Fhir.Model;
using Hl7.Fhir.Utility;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The fast path for the hot resource types: one Utf8JsonReader pass, no POCOs. This is its validation:
/// acceptance follows the Firely model, not a hand-written list: every element name is looked up in Firely's
/// ModelInspector class mappings (choice types by their suffix), JSON value kinds must match the
/// element's FHIR type, enum-bound codes must be known literals, and date/dateTime/instant values
/// must match the FHIR R4 patterns and be real calendar dates. Leaves the features need are collected
/// on the way and handed to <see cref="FastRecordBuilder"/>, which turns them into the same
/// <see cref="ClinicalRecord"/> the Firely path builds (tests check both paths agree line by line).
/// Anything it does not handle (other types, contained resources, Consent) returns null and goes to the Firely path.
/// </summary>
public sealed partial class FastFhirParser
{
    private static readonly ModelInspector Inspector = Hl7.Fhir.Model.ModelInfo.ModelInspector;

    private static readonly Dictionary<string, ClassMapping> HotTypes = new[] { "Patient", "Condition", "Encounter", "Observation", "Claim", "ExplanationOfBenefit" }
        .ToDictionary(t => t, t => Inspector.FindClassMapping(t)!, StringComparer.Ordinal);

    private readonly FastRecordBuilder _record = new();

    // Values that repeat across lines (code systems, codes, classes, genders) are kept as one string each
    // instead of one per line; bounded, so a flood of distinct values stops being cached.
    private readonly Dictionary<byte[], string> _interned = new(Utf8Comparer.Instance);
    private const int MaxInterned = 16_384;

    // Per-instance caches of the model, keyed by the element name's UTF-8 bytes: the hot loop
    // neither allocates a string per element nor hashes a tuple; misses fall back to Firely's
    // ModelInspector. One parser per thread (instances are not thread-safe).
    private readonly Dictionary<byte[], Context> _roots = new(Utf8Comparer.Instance);
    private readonly Dictionary<byte[], Context>.AlternateLookup<ReadOnlySpan<byte>> _rootLookup;
    private readonly Dictionary<byte[], string>.AlternateLookup<ReadOnlySpan<byte>> _internLookup;

    public FastFhirParser()
    {
        _rootLookup = _roots.GetAlternateLookup<ReadOnlySpan<byte>>();
        _internLookup = _interned.GetAlternateLookup<ReadOnlySpan<byte>>();
        foreach (var (name, mapping) in HotTypes)
        {
            _roots[System.Text.Encoding.UTF8.GetBytes(name)] = new Context(mapping, string.Empty, name);
        }
    }

    /// <summary>The record, a rejection, or (null, null) when this line is for the Firely path.</summary>
    public (ClinicalRecord? Record, QuarantineReason? Reason, bool Handled) Parse(ReadOnlySpan<byte> json)
    {
        var root = PeekResourceType(json);
        if (root is null)
        {
            return (null, null, false);
        }

        _record.Clear();
        LastRefusal = null;
        var reader = new Utf8JsonReader(json);
        try
        {
            reader.Read();
            var outcome = WalkObject(ref reader, root, -1, -1, isRoot: true);
            if (outcome == Outcome.Delegate)
            {
                return (null, null, false);
            }

            if (outcome == Outcome.Duplicate)
            {
                // Refused whatever else the line holds, as the Firely path's first check refuses it (unless it is not JSON at all).
                return (null, FhirRecordParser.JsonShape(json) ?? QuarantineReason.DuplicateKey, true);
            }

            if (outcome == Outcome.Invalid || reader.Read())
            {
                // The walk stops at the first element it refuses; the Firely path reads the whole line first. A line that is not
                // JSON further on, or repeats a name further on, gets that reason on both paths (found by the differential fuzz
                // target). Only refused lines pay for the second read.
                return (null, FhirRecordParser.JsonShape(json) ?? QuarantineReason.Invalid("fast-path"), true);
            }
        }
        catch (JsonException)
        {
            return (null, QuarantineReason.InvalidJson, true);
        }

        var id = _record.Id;
        if (string.IsNullOrEmpty(id))
        {
            return (null, QuarantineReason.MissingId, true);
        }

        try
        {
            return (_record.Build(root.TypeName, id), null, true);
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
        Duplicate,
    }

    private enum Primitive
    {
        None,
        Boolean,
        Integer,
        UnsignedInt,
        PositiveInt,
        Decimal,
        Date,
        DateTime,
        Instant,
        Code,
        Text,
    }

    private Outcome WalkObject(ref Utf8JsonReader reader, Context context, int topIndex, int innerIndex, bool isRoot = false)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return Outcome.Invalid;
        }

        // One bit per element, "_name" form and resourceType of this object (a word or two: 51 elements at most in the hot types).
        Span<ulong> seen = stackalloc ulong[context.Words];
        var empty = true;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject)
            {
                return empty ? Fail(context.Path, "an object must have properties") : context.Required.Length == 0 ? Outcome.Valid : RequiredPresent(context, seen);
            }

            var name = Plain(ref reader) ? reader.ValueSpan : UnescapedCopy(ref reader);
            reader.Read();
            if (isRoot && name.SequenceEqual("resourceType"u8))
            {
                if (!See(seen, context.ResourceTypeOrdinal))
                {
                    return Outcome.Duplicate;
                }

                continue; // its value was read by PeekResourceType; a resource with nothing else is empty (Firely: JSON120)
            }

            empty = false;

            if (!context.TryGet(name, out var element))
            {
                element = Resolve(context, System.Text.Encoding.UTF8.GetString(name));
                context.Add(name, element);
            }

            if (element.Delegate)
            {
                return Outcome.Delegate; // contained or nested resources: the Firely path
            }

            if (element.Unknown)
            {
                return Fail(element.Path, "unknown element");
            }

            if (!See(seen, element.Ordinal))
            {
                LastRefusal = $"{element.Path}: given twice";
                return Outcome.Duplicate;
            }

            if (element.IsCollection)
            {
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    return Fail(element.Path, "a list must be an array");
                }

                var i = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    // A list's "_name" form has null where an item has no id or extension.
                    var outcome = element.Twin && reader.TokenType == JsonTokenType.Null ? Outcome.Valid : WalkValue(ref reader, element, isRoot ? i : topIndex, i);
                    if (outcome != Outcome.Valid)
                    {
                        return outcome;
                    }

                    i++;
                }

                if (i == 0)
                {
                    return Fail(element.Path, "an array must not be empty");
                }
            }
            else
            {
                var outcome = WalkValue(ref reader, element, topIndex, innerIndex);
                if (outcome != Outcome.Valid)
                {
                    return outcome;
                }
            }
        }

        return Outcome.Invalid;
    }

    /// <summary>Marks an element seen in its object; false when it was already.</summary>
    private static bool See(Span<ulong> seen, int ordinal)
    {
        ref var word = ref seen[ordinal >> 6];
        var bit = 1UL << (ordinal & 63);
        if ((word & bit) != 0)
        {
            return false;
        }

        word |= bit;
        return true;
    }

    private static bool Seen(ReadOnlySpan<ulong> seen, int ordinal) => (seen[ordinal >> 6] & (1UL << (ordinal & 63))) != 0;

    /// <summary>Every mandatory element of the object was given, as a value or as its "_name" form (Firely accepts either).</summary>
    private Outcome RequiredPresent(Context context, ReadOnlySpan<ulong> seen)
    {
        foreach (var ordinal in context.Required)
        {
            if (!Seen(seen, ordinal) && !Seen(seen, context.TwinOrdinal(ordinal)))
            {
                return Fail(context.PathOf(ordinal), "required element missing");
            }
        }

        return Outcome.Valid;
    }

    private Outcome WalkValue(ref Utf8JsonReader reader, Element element, int topIndex, int innerIndex) =>
        element.Complex is { } complex ? WalkObject(ref reader, complex, topIndex, innerIndex) : PrimitiveValue(ref reader, element, topIndex, innerIndex);

    private Outcome PrimitiveValue(ref Utf8JsonReader reader, Element element, int topIndex, int innerIndex)
    {
        string? value = null;
        decimal number = 0;
        switch (element.Primitive)
        {
            case Primitive.Boolean:
                if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
                {
                    return Outcome.Invalid;
                }

                if (element.Wanted)
                {
                    value = reader.GetBoolean() ? "true" : "false";
                }

                break;
            case Primitive.Integer or Primitive.UnsignedInt or Primitive.PositiveInt:
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var n) || (element.Primitive == Primitive.UnsignedInt && n < 0) || (element.Primitive == Primitive.PositiveInt && n < 1))
                {
                    return Outcome.Invalid;
                }

                if (element.Wanted)
                {
                    value = n.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }

                break;
            case Primitive.Decimal:
                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetDecimal(out var d))
                {
                    return Outcome.Invalid;
                }

                number = d;

                break;
            default:
                if (reader.TokenType != JsonTokenType.String)
                {
                    return Outcome.Invalid;
                }

                var bytes = Plain(ref reader) ? reader.ValueSpan : UnescapedCopy(ref reader);
                if (!ValidText(element, bytes, ref reader))
                {
                    return Fail(element.Path, "value does not match its type");
                }

                if (element.Wanted)
                {
                    value = element.Intern ? Interned(bytes) : FastRecordBuilder.IsReference(element.Slot) ? _record.Reference(bytes) : reader.GetString();
                }

                break;
        }

        if (element.Wanted)
        {
            _record.Add(element.Slot, topIndex, innerIndex, value, number);
        }

        return Outcome.Valid;
    }

    private static bool ValidText(Element element, scoped ReadOnlySpan<byte> value, ref Utf8JsonReader reader)
    {
        if (value.Length == 0)
        {
            return false; // FHIR: strings are never empty
        }

        switch (element.Primitive)
        {
            case Primitive.Date or Primitive.DateTime or Primitive.Instant:
                var syntax = element.Primitive switch { Primitive.Date => FhirDateSyntax.IsDate(value), Primitive.DateTime => FhirDateSyntax.IsDateTime(value), _ => FhirDateSyntax.IsInstant(value) };
                return syntax && FhirDateSyntax.IsCalendarDate(value);
            case Primitive.Code when element.EnumType is not null:
                var literals = element.Literals!.GetAlternateLookup<ReadOnlySpan<byte>>();
                if (literals.TryGetValue(value, out var known))
                {
                    return known;
                }

                var literal = reader.GetString()!;
                var valid = EnumUtility.ParseLiteral(literal, element.EnumType!) is not null;
                if (element.Literals.Count < 1024)
                {
                    element.Literals[value.ToArray()] = valid;
                }

                return valid;
            default:
                return element.Lexical is null || Lexically(element, value, ref reader);
        }
    }

    /// <summary>Firely's lexical rule for the value, cached per element: systems and codes repeat across lines.</summary>
    private static bool Lexically(Element element, scoped ReadOnlySpan<byte> value, ref Utf8JsonReader reader)
    {
        var cache = element.Literals!.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (cache.TryGetValue(value, out var known))
        {
            return known;
        }

        var valid = element.Lexical!(reader.GetString()!);
        if (element.Literals.Count < 1024)
        {
            element.Literals[value.ToArray()] = valid;
        }

        return valid;
    }

    /// <summary>The current token's text as UTF-8 without JSON escapes; names and values are rarely escaped, so callers use the raw span otherwise.</summary>
    private static byte[] UnescapedCopy(ref Utf8JsonReader reader) => System.Text.Encoding.UTF8.GetBytes(reader.GetString()!);

    private static bool Plain(ref Utf8JsonReader reader) => !reader.ValueIsEscaped && !reader.HasValueSequence;

    private static readonly HashSet<string> InternedPaths =
    [
        "gender", "meta.security.system", "meta.security.code", "code.coding.system", "code.coding.code", "class.code",
        "reasonCode.coding.system", "reasonCode.coding.code", "component.code.coding.system", "component.code.coding.code",
    ];

    private string Interned(ReadOnlySpan<byte> bytes)
    {
        if (_internLookup.TryGetValue(bytes, out var text))
        {
            return text;
        }

        text = System.Text.Encoding.UTF8.GetString(bytes);
        if (_interned.Count < MaxInterned)
        {
            _interned[bytes.ToArray()] = text;
        }

        return text;
    }

    /// <summary>The context of a hot top-level resourceType without a full parse; null when absent, not a string, or not hot.</summary>
    private Context? PeekResourceType(ReadOnlySpan<byte> json)
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
                var isType = reader.ValueTextEquals("resourceType"u8);
                reader.Read();
                if (isType)
                {
                    return reader.TokenType == JsonTokenType.String && _rootLookup.TryGetValue(Plain(ref reader) ? reader.ValueSpan : UnescapedCopy(ref reader), out var root) ? root : null;
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
}
