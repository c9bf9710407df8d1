using Hl7.Fhir.Introspection;
using Hl7.Fhir.Model;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The fast path's view of the Firely model: for each complex type at a path, its elements resolved from Firely's
/// ModelInspector class mappings, and the structural rules the Firely deserializer applies to it: an element at
/// most once per object (a duplicate JSON key, or two forms of one choice element, is refused: RFC 8259 section 4
/// says names SHOULD be unique, and FHIR JSON has no meaning for a repeat), every element the model marks
/// mandatory (minimum cardinality 1, e.g. Observation.status and .code, Condition.subject, Extension.url) present
/// as a value or as its primitive's "_name" form, no empty object or array.
/// </summary>
public sealed partial class FastFhirParser
{
    /// <summary>
    /// A complex type at a path (e.g. Encounter.period): its elements, resolved lazily. Each element has an ordinal (its
    /// place in the class mapping), its primitive "_name" form the ordinal after all elements, and a resource's
    /// resourceType the last: one bit each while an object is walked finds repeats and missing mandatory elements.
    /// A "_name" object's context takes only id and extension (<paramref name="extensionsOnly"/>).
    /// </summary>
    private sealed class Context
    {
        private readonly Dictionary<byte[], Element> _children = new(Utf8Comparer.Instance);

        public Context(ClassMapping mapping, string path, string typeName, bool extensionsOnly = false)
        {
            (Mapping, Path, TypeName, ExtensionsOnly) = (mapping, path, typeName, extensionsOnly);
            Properties = [.. mapping.PropertyMappings];
            Words = ((2 * Properties.Count) + 1 + 63) / 64;
            Required = extensionsOnly ? [] : [.. Properties.Select((p, i) => (p, i)).Where(x => x.p.IsMandatoryElement).Select(x => x.i)];
        }

        public ClassMapping Mapping { get; }

        public string Path { get; }

        public string TypeName { get; }

        public bool ExtensionsOnly { get; }

        public IReadOnlyList<PropertyMapping> Properties { get; }

        /// <summary>The 64-bit words of the bits an object of this type is walked with.</summary>
        public int Words { get; }

        /// <summary>The ordinals of the mandatory elements.</summary>
        public int[] Required { get; }

        public int TwinOrdinal(int ordinal) => Properties.Count + ordinal;

        public int ResourceTypeOrdinal => 2 * Properties.Count;

        public string PathOf(int ordinal) => (Path.Length == 0 ? string.Empty : Path + ".") + Properties[ordinal].Name;

        public bool TryGet(ReadOnlySpan<byte> name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Element? element) =>
            _children.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(name, out element);

        public void Add(ReadOnlySpan<byte> name, Element element) => _children[name.ToArray()] = element;
    }

    /// <summary>One element of a context: how to validate its values, and whether the features want them.</summary>
    private sealed class Element
    {
        public bool Delegate { get; init; }

        public bool Unknown { get; init; }

        public bool IsCollection { get; init; }

        /// <summary>A primitive's "_name" form: an object (or, for a list, an array of objects or nulls) with id and extensions.</summary>
        public bool Twin { get; init; }

        /// <summary>Its bit in the object's walk (a choice element's forms share one).</summary>
        public int Ordinal { get; init; } = -1;

        public Primitive Primitive { get; init; }

        public Type? EnumType { get; init; }

        public Context? Complex { get; init; }

        public string Path { get; init; } = string.Empty;

        /// <summary>The element's slot in <see cref="FastRecordBuilder.SlotOf"/>, or -1 when the features do not want its values.</summary>
        public int Slot { get; init; } = -1;

        public bool Wanted => Slot >= 0;

        /// <summary>Whether its values repeat enough across lines to be interned.</summary>
        public bool Intern { get; init; }

        /// <summary>Enum literals, or values checked by <see cref="Lexical"/>, seen so far, valid or not (bounded: a flood of junk stops being cached).</summary>
        public Dictionary<byte[], bool>? Literals { get; init; }

        /// <summary>
        /// The lexical rule Firely's deserializer applies to a value of this primitive type (its IsValidValue: the R4 regex of
        /// id, code, uri, oid, uuid…), so the fast path refuses exactly what Firely refuses (PVAL124; found by the
        /// differential fuzz target: "http://a|b" as a Coding.system). Null for types with no rule beyond "not empty".
        /// </summary>
        public Func<string, bool>? Lexical { get; init; }
    }

    /// <summary>Resolves an element of a context against the Firely model (choice types by their suffix, primitives' "_name" forms); cached by the caller.</summary>
    private static Element Resolve(Context context, string name)
    {
        var path = context.Path.Length == 0 ? name : context.Path + "." + name;
        if (context.ExtensionsOnly && name is not ("id" or "extension"))
        {
            return new Element { Unknown = true, Path = path };
        }

        if (name.StartsWith('_'))
        {
            return Twin(context, name[1..], path);
        }

        if (context.Mapping.FindMappedElementByName(name) is { Choice: ChoiceType.ResourceChoice })
        {
            return new Element { Delegate = true, Path = path };
        }

        var (property, type) = Find(context.Mapping, name);
        if (property is null || type is null)
        {
            return new Element { Unknown = true, Path = path };
        }

        if (type.IsResource || property.Choice == ChoiceType.ResourceChoice)
        {
            return new Element { Delegate = true, Path = path };
        }

        var ordinal = IndexOf(context, property);
        if (context.ExtensionsOnly && name == "id")
        {
            return new Element { Primitive = Primitive.Text, Path = path, Ordinal = ordinal };
        }

        var enumType = property.ImplementingType is { IsGenericType: true } g && g.GetGenericTypeDefinition() == typeof(Code<>) ? g.GetGenericArguments()[0] : null;
        var primitive = PrimitiveOf(type);
        var lexical = primitive is Primitive.Text or Primitive.Code && enumType is null ? LexicalRule(type) : null;
        return new Element
        {
            IsCollection = property.IsCollection,
            Ordinal = ordinal,
            Primitive = primitive,
            EnumType = enumType,
            Literals = enumType is null && lexical is null ? null : new(Utf8Comparer.Instance),
            Lexical = lexical,
            Complex = primitive == Primitive.None ? new Context(type, path, context.TypeName) : null,
            Path = path,
            Slot = FastRecordBuilder.SlotOf(path),
            Intern = InternedPaths.Contains(path),
        };
    }

    /// <summary>"_name": the id and extensions of primitive element name (FHIR R4 JSON, "Representation of primitive elements"); not for a complex one.</summary>
    private static Element Twin(Context context, string name, string path)
    {
        var (property, type) = Find(context.Mapping, name);
        if (property is null || type is null || type.IsResource || PrimitiveOf(type) == Primitive.None)
        {
            return new Element { Unknown = true, Path = path };
        }

        return new Element
        {
            Twin = true,
            IsCollection = property.IsCollection,
            Ordinal = context.TwinOrdinal(IndexOf(context, property)),
            Complex = new Context(type, path, context.TypeName, extensionsOnly: true),
            Path = path,
        };
    }

    private static int IndexOf(Context context, PropertyMapping property)
    {
        for (var i = 0; i < context.Properties.Count; i++)
        {
            if (ReferenceEquals(context.Properties[i], property) || context.Properties[i].Name == property.Name)
            {
                return i;
            }
        }

        throw new InvalidOperationException("An element resolved by Firely is not among its class's elements.");
    }

    /// <summary>
    /// Firely's public static IsValidValue(string) of a primitive type, if it has one. string and markdown are left out: their
    /// R4 pattern ([ \r\n\t\S]+) accepts every non-empty string, and the walk refuses empty strings already.
    /// </summary>
    private static Func<string, bool>? LexicalRule(ClassMapping type) =>
        type.Name is "string" or "markdown" or "xhtml" ? null
        : type.NativeType.GetMethod("IsValidValue", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static, [typeof(string)]) is { } m
            && m.ReturnType == typeof(bool) ? m.CreateDelegate<Func<string, bool>>() : null;

    private static Primitive PrimitiveOf(ClassMapping type) => type.IsFhirPrimitive || type.Name == "xhtml"
        ? type.Name switch
        {
            "boolean" => Primitive.Boolean,
            "integer" => Primitive.Integer,
            "unsignedInt" => Primitive.UnsignedInt,
            "positiveInt" => Primitive.PositiveInt,
            "decimal" => Primitive.Decimal,
            "date" => Primitive.Date,
            "dateTime" => Primitive.DateTime,
            "instant" => Primitive.Instant,
            "code" => Primitive.Code,
            _ => Primitive.Text,
        }
        : Primitive.None;

    /// <summary>An element by its exact name (FHIR JSON names are case-sensitive; Firely's lookups are not): <see cref="FhirElementNames.Find"/>.</summary>
    private static (PropertyMapping? Property, ClassMapping? Type) Find(ClassMapping mapping, string name) => FhirElementNames.Find(mapping, name);

    /// <summary>Byte-wise equality and hashing for UTF-8 names, with span lookups (no string per element).</summary>
    private sealed class Utf8Comparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly Utf8Comparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
