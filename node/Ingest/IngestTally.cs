using FederatedTwin.Node.Deidentification;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The writer's side of a run, line by line in input order: counts, the quarantine within its caps, and the
/// resources seen so far, so that one given again with different content is flagged rather than silently replacing
/// the first (a conflict: which of the two is right cannot be told; the later one is quarantined, the earlier kept).
/// The same resource given again with the same content is no conflict (a file listed twice, say).
/// </summary>
internal sealed class IngestTally(IngestLimits limits, RunResources resources, KeyedHasher hasher)
{
    private readonly Dictionary<string, long> _storedPerFile = new(StringComparer.Ordinal);
    private long _stored;

    public long Read { get; private set; }

    public long Accepted { get; private set; }

    public long Quarantined { get; private set; }

    public long NotStored { get; private set; }

    public long Bytes { get; private set; }

    public long Unchecked { get; private set; }

    public SortedDictionary<string, long> PerType { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, long> Reasons { get; } = new(StringComparer.Ordinal);

    public void Add(in ParsedLine parsed, IngestWriter writer)
    {
        Read++;
        Bytes += parsed.Line.Bytes.Length + 1;
        if (parsed.Reason is { } reason)
        {
            Quarantine(parsed.Line, parsed.LineHmac!, reason, writer);
            return;
        }

        switch (resources.See(EntryCodec.Key(parsed.Entry.Span), Content(parsed)))
        {
            case RunResources.Seen.Conflict:
                Quarantine(parsed.Line, hasher.Line(parsed.Line.Bytes.Span), QuarantineReason.ConflictingDuplicate, writer);
                return;
            case RunResources.Seen.Unchecked:
                Unchecked++;
                break;
        }

        Accepted++;
        PerType[parsed.Type!] = PerType.GetValueOrDefault(parsed.Type!) + 1;
        writer.Stage(parsed.Group, parsed.Entry.Span);
    }

    private void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason, IngestWriter writer)
    {
        Quarantined++;
        Reasons[reason.Code] = Reasons.GetValueOrDefault(reason.Code) + 1;
        var inFile = _storedPerFile.GetValueOrDefault(line.SourceHash);
        if (inFile >= limits.QuarantinePerFile || _stored >= limits.QuarantinePerRun)
        {
            NotStored++;
            return;
        }

        _storedPerFile[line.SourceHash] = inFile + 1;
        _stored++;
        writer.Quarantine(line, lineHmac, reason);
    }

    /// <summary>What the store would keep of the line (its body's hash) and whom it belongs to, in 64 bits.</summary>
    private static ulong Content(in ParsedLine parsed)
    {
        var hash = EntryCodec.Hash(parsed.Entry.Span);
        var group = parsed.Group.Value;
        var owner = ((ulong)(group >> 64) ^ (ulong)group) * 0x9E3779B97F4A7C15UL;
        return (ulong)(hash >> 64) ^ (ulong)hash ^ owner ^ (parsed.Group.Ownerless ? 1UL : 0UL);
    }
}

/// <summary>
/// The resources of one run, by key: an open-addressing table of 64-bit key and content fingerprints (keys are HMAC
/// outputs, so their bits are uniform; two distinct keys share a fingerprint with odds of about n²/2⁶⁵, 1 in 4 million
/// for 3 million resources). It grows up to <paramref name="maxBytes"/> (a quarter of the ingest's memory limit, besides
/// the entries held up to the limit: taken from them, it made a run that fitted spill); past that, new keys are no longer
/// recorded and counted as unchecked.
/// </summary>
internal sealed class RunResources(long maxBytes)
{
    // Key and content side by side (slot i at 2i and 2i + 1): one cache line per probe, in the writer's serial stage.
    private ulong[] _slots = new ulong[2 * InitialSlots(maxBytes)];
    private int _count;

    public enum Seen
    {
        New,
        Same,
        Conflict,
        Unchecked,
    }

    /// <summary>The table's memory.</summary>
    public long Bytes => _slots.Length * 8L;

    public Seen See(UInt128 key, ulong content)
    {
        var k = (ulong)key | 1; // 0 marks an empty slot
        var mask = (_slots.Length / 2) - 1;
        var i = (int)(k >> 1) & mask;
        while (_slots[2 * i] != 0)
        {
            if (_slots[2 * i] == k)
            {
                return _slots[(2 * i) + 1] == content ? Seen.Same : Seen.Conflict;
            }

            i = (i + 1) & mask;
        }

        if ((_count + 1) * 20L > _slots.Length * 7L)
        {
            if (Bytes * 2 > maxBytes)
            {
                return Seen.Unchecked;
            }

            Grow(Bytes * 4 <= maxBytes ? 4 : 2); // by four while there is room: fewer rehashes of the whole table
            return See(key, content);
        }

        (_slots[2 * i], _slots[(2 * i) + 1]) = (k, content);
        _count++;
        return Seen.New;
    }

    /// <summary>65,536 slots (1 MB) to start, fewer when the bound is lower (1,024 at least).</summary>
    private static int InitialSlots(long maxBytes)
    {
        var slots = 1 << 16;
        while (slots > 1024 && slots * 16L > maxBytes)
        {
            slots /= 2;
        }

        return slots;
    }

    private void Grow(int factor)
    {
        var old = _slots;
        _slots = new ulong[old.Length * factor];
        var mask = (_slots.Length / 2) - 1;
        for (var j = 0; j < old.Length; j += 2)
        {
            if (old[j] == 0)
            {
                continue;
            }

            var i = (int)(old[j] >> 1) & mask;
            while (_slots[2 * i] != 0)
            {
                i = (i + 1) & mask;
            }

            (_slots[2 * i], _slots[(2 * i) + 1]) = (old[j], old[j + 1]);
        }
    }
}
