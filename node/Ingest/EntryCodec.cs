using System.Buffers.Binary;
using System.Text;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The binary layout of entries: [key 16][hash 16][version 8][body length 4][body]. The body holds the
/// type and the de-identified payload; the header alone lets a merge compare keys and hashes without
/// decoding it.
/// </summary>
public static class EntryCodec
{
    public const int HeaderSize = 44;

    [ThreadStatic]
    private static BinaryWriter? _writer;

    private const byte TagNone = 0, TagFacts = 1, TagPatient = 2, TagConsent = 3;

    /// <summary>
    /// Encodes an entry into the arena (runs in the ingest's parallel stage). The hash is of the body
    /// (xxHash3-128, not keyed: the body is stored in the clear beside it), so a resource counts as changed
    /// only when what the store keeps of it changed.
    /// </summary>
    public static ReadOnlyMemory<byte> Encode(string type, string? codeListsTag, in StoredPayload payload, UInt128 key, long version, EntryArena arena)
    {
        // The body goes through one writer per thread, reused; the entry into the arena (no array per line).
        var w = _writer ??= new BinaryWriter(new MemoryStream(256), Encoding.UTF8, leaveOpen: false);
        var body = (MemoryStream)w.BaseStream;
        body.SetLength(0);
        w.Write(type);
        WriteNullable(w, codeListsTag);
        WritePayload(w, payload);
        w.Flush();
        var content = body.GetBuffer().AsSpan(0, (int)body.Length);
        var (block, at) = arena.Reserve(HeaderSize + content.Length);
        WriteHeader(block.AsSpan(at), key, System.IO.Hashing.XxHash128.HashToUInt128(content), version, content.Length);
        content.CopyTo(block.AsSpan(at + HeaderSize));
        return block.AsMemory(at, HeaderSize + content.Length);
    }

    public static UInt128 Key(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadUInt128BigEndian(entry);

    public static UInt128 Hash(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadUInt128BigEndian(entry[16..]);

    public static long Version(ReadOnlySpan<byte> entry) => BinaryPrimitives.ReadInt64LittleEndian(entry[32..]);

    /// <summary>
    /// Whether two entries store the same thing (their bodies are equal). Compared directly rather than by
    /// the hash field, so entries written when that field held a keyed hash of the source line compare too.
    /// </summary>
    public static bool SameContent(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) => a[HeaderSize..Length(a)].SequenceEqual(b[HeaderSize..Length(b)]);

    /// <summary>The length of the entry that starts the span (header and body).</summary>
    public static int Length(ReadOnlySpan<byte> entry) => HeaderSize + BinaryPrimitives.ReadInt32LittleEndian(entry[40..]);

    private static readonly byte[] ConsentType = [7, .. "Consent"u8];

    /// <summary>Whether the entry is a Consent's (its body starts with the type, as BinaryWriter writes a string).</summary>
    public static bool IsConsent(ReadOnlySpan<byte> entry) => entry[HeaderSize..].StartsWith(ConsentType);

    /// <summary>The entries of a value (a patient's row, or a staged batch's entries), as offsets and lengths.</summary>
    public static List<(int Offset, int Length)> Split(ReadOnlySpan<byte> data)
    {
        var list = new List<(int, int)>();
        for (var offset = 0; offset < data.Length;)
        {
            var length = Length(data[offset..]);
            list.Add((offset, length));
            offset += length;
        }

        return list;
    }

    public static StoredEntry Decode(ReadOnlySpan<byte> entry)
    {
        var r = new BodyReader(entry[HeaderSize..Length(entry)]);
        var type = r.String();
        var lists = r.NullableString();
        StoredPatient? patient = null;
        StoredConsent? consent = null;
        var facts = new List<StoredFact>();
        switch (r.Byte())
        {
            case TagFacts:
                for (var n = r.Int32(); n > 0; n--)
                {
                    facts.Add(new StoredFact(r.Int16(), r.String(), r.NullableString(), r.Double(), r.NullableString()));
                }

                break;
            case TagPatient:
                patient = new StoredPatient(r.NullableString(), r.String(), r.NullableInt32(), r.NullableInt32(), r.Byte() != 0);
                break;
            case TagConsent:
                consent = new StoredConsent(r.String(), r.NullableString(), r.NullableInt32(), r.String());
                break;
        }

        return new StoredEntry { Key = Key(entry), Hash = Hash(entry), Version = Version(entry), Type = type, CodeListsTag = lists, Patient = patient, Consent = consent, Facts = facts };
    }

    /// <summary>Only the facts, skipping those in sensitive categories not allowed (the hot path of feature building).</summary>
    public static void ReadFacts(ReadOnlySpan<byte> data, IReadOnlySet<string> allowedSensitive, List<StoredFact> into)
    {
        for (var offset = 0; offset < data.Length;)
        {
            var length = Length(data[offset..]);
            var r = new BodyReader(data.Slice(offset + HeaderSize, length - HeaderSize));
            offset += length;
            r.SkipString();
            r.NullableString();
            if (r.Byte() != TagFacts)
            {
                continue;
            }

            for (var n = r.Int32(); n > 0; n--)
            {
                var fact = new StoredFact(r.Int16(), r.String(), r.NullableString(), r.Double(), r.NullableString());
                if (fact.Sensitive is null || allowedSensitive.Contains(fact.Sensitive))
                {
                    into.Add(fact);
                }
            }
        }
    }

    /// <summary>A Patient's or Consent's payload (null for other entries), the facts' count, last year and sensitive categories, and the code lists' tag, without decoding the rest.</summary>
    public static (StoredEntry? PatientOrConsent, int Facts, int? LastYear, string? CodeListsTag) Summarize(ReadOnlySpan<byte> entry, int maxYear, Dictionary<string, int> sensitive)
    {
        var r = new BodyReader(entry[HeaderSize..Length(entry)]);
        r.SkipString();
        var lists = r.NullableString();
        var tag = r.Byte();
        if (tag is TagPatient or TagConsent)
        {
            return (Decode(entry), 0, null, lists);
        }

        if (tag != TagFacts)
        {
            return (null, 0, null, lists);
        }

        var count = r.Int32();
        int? last = null;
        for (var n = count; n > 0; n--)
        {
            int year = r.Int16();
            r.SkipString();
            if (r.Byte() != 0)
            {
                r.SkipString();
            }

            r.Double();
            if (year <= maxYear && (last is null || year > last))
            {
                last = year;
            }

            if (r.NullableString() is { } category)
            {
                sensitive[category] = sensitive.GetValueOrDefault(category) + 1;
            }
        }

        return (null, count, last, lists);
    }

    private static void WriteHeader(Span<byte> bytes, UInt128 key, UInt128 hash, long version, int bodyLength)
    {
        BinaryPrimitives.WriteUInt128BigEndian(bytes, key);
        BinaryPrimitives.WriteUInt128BigEndian(bytes[16..], hash);
        BinaryPrimitives.WriteInt64LittleEndian(bytes[32..], version);
        BinaryPrimitives.WriteInt32LittleEndian(bytes[40..], bodyLength);
    }

    private static void WritePayload(BinaryWriter w, in StoredPayload payload)
    {
        if (payload.Patient is { } patient)
        {
            w.Write(TagPatient);
            WriteNullable(w, patient.Sex);
            w.Write(patient.Zip3);
            WriteNullable(w, patient.DeceasedYear);
            WriteNullable(w, patient.BirthYear);
            w.Write(patient.NinetyPlus);
            return;
        }

        if (payload.Consent is { } consent)
        {
            w.Write(TagConsent);
            w.Write(consent.Status);
            WriteNullable(w, consent.Scope);
            WriteNullable(w, consent.Year);
            w.Write(consent.RulesJson);
            return;
        }

        var facts = payload.Facts;
        w.Write(facts.Count == 0 ? TagNone : TagFacts);
        if (facts.Count > 0)
        {
            w.Write(facts.Count);
            for (var i = 0; i < facts.Count; i++)
            {
                var f = facts[i];
                w.Write((short)f.Year);
                w.Write(f.Kind);
                WriteNullable(w, f.Category);
                w.Write(f.Value);
                WriteNullable(w, f.Sensitive);
            }
        }
    }

    private static void WriteNullable(BinaryWriter w, string? value)
    {
        w.Write(value is not null);
        if (value is not null)
        {
            w.Write(value);
        }
    }

    private static void WriteNullable(BinaryWriter w, int? value)
    {
        w.Write(value is not null);
        if (value is not null)
        {
            w.Write(value.Value);
        }
    }

    /// <summary>Reads what <see cref="BinaryWriter"/> wrote (7-bit length-prefixed UTF-8 strings, little-endian numbers) straight from the span.</summary>
    private ref struct BodyReader(ReadOnlySpan<byte> span)
    {
        private readonly ReadOnlySpan<byte> _span = span;
        private int _at;

        public byte Byte() => _span[_at++];

        public short Int16()
        {
            var v = BinaryPrimitives.ReadInt16LittleEndian(_span[_at..]);
            _at += 2;
            return v;
        }

        public int Int32()
        {
            var v = BinaryPrimitives.ReadInt32LittleEndian(_span[_at..]);
            _at += 4;
            return v;
        }

        public double Double()
        {
            var v = BinaryPrimitives.ReadDoubleLittleEndian(_span[_at..]);
            _at += 8;
            return v;
        }

        public int? NullableInt32() => Byte() != 0 ? Int32() : null;

        public string? NullableString() => Byte() != 0 ? String() : null;

        public string String()
        {
            var length = Length7();
            var value = Strings.Get(_span.Slice(_at, length));
            _at += length;
            return value;
        }

        public void SkipString()
        {
            var length = Length7(); // not `_at += Length7()`: that would add to _at as it was before the prefix
            _at += length;
        }

        private int Length7()
        {
            int value = 0, shift = 0;
            byte b;
            do
            {
                b = _span[_at++];
                value |= (b & 0x7F) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0);
            return value;
        }
    }

    /// <summary>The store's strings (types, kinds, categories) come from small sets: one instance each per thread, not one per fact.</summary>
    private static class Strings
    {
        [ThreadStatic]
        private static Dictionary<string, string>? _cache;

        public static string Get(ReadOnlySpan<byte> utf8)
        {
            if (utf8.Length > 64)
            {
                return Encoding.UTF8.GetString(utf8);
            }

            Span<char> chars = stackalloc char[64];
            var n = Encoding.UTF8.GetChars(utf8, chars);
            var cache = _cache ??= new Dictionary<string, string>(StringComparer.Ordinal);
            var lookup = cache.GetAlternateLookup<ReadOnlySpan<char>>();
            if (lookup.TryGetValue(chars[..n], out var known))
            {
                return known;
            }

            var value = new string(chars[..n]);
            if (cache.Count < 4096)
            {
                cache[value] = value;
            }

            return value;
        }
    }
}
