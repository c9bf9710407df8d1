using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// A Bloom filter (Bloom 1970) over every resource key stored, persisted with the store, so that a
/// key new to its patient costs no lookup unless it may exist elsewhere. Sized for the keys stored plus
/// those a run brings, with room to double (24 bits per key: ~0.1% false positives, any of them costing
/// one scan of the store in that run), and kept while it is at least half that size. Keys are HMAC
/// outputs, so slices of their bits are the independent hash functions. The filter is trusted only if
/// it was saved after the store's last merge; otherwise (a run killed mid-merge) it is rebuilt.
/// </summary>
internal sealed class StoredKeyFilter
{
    private const int MinBits = 20, MaxBits = 31;
    private readonly ulong[] _words;
    private readonly int _log2;
    private long _generation;

    private StoredKeyFilter(int log2, ulong[]? words, long generation)
    {
        _log2 = log2;
        _words = words ?? new ulong[(1L << log2) / 64];
        _generation = generation;
    }

    /// <summary>The saved filter, or one rebuilt from the store's keys, sized for the keys stored and those incoming.</summary>
    public static StoredKeyFilter Load(PatientFactsQueries sql, long incoming)
    {
        var generation = sql.Generation();
        var saved = sql.SavedKeyFilter();
        var keys = sql.StoredEntries();
        var log2 = Math.Clamp(64 - (int)ulong.LeadingZeroCount((ulong)Math.Max(1, (((keys + incoming) * 2) + 100_000) * 24)), MinBits, MaxBits);
        if (saved is { } stored && stored.Generation == generation && stored.Data.Length * 16L >= 1L << log2 && (stored.Data.Length & (stored.Data.Length - 1)) == 0)
        {
            var data = stored.Data;
            var words = new ulong[data.Length / 8];
            Buffer.BlockCopy(data, 0, words, 0, data.Length);
            return new StoredKeyFilter(System.Numerics.BitOperations.Log2((ulong)data.Length * 8), words, generation);
        }

        // Missing, stale or under half the size the store and the run call for (then over ~1% false positives): rebuild from every stored key.
        var filter = new StoredKeyFilter(log2, null, generation);
        foreach (var bytes in sql.AllFactData())
        {
            foreach (var (offset, _) in EntryCodec.Split(bytes))
            {
                filter.Add(EntryCodec.Key(bytes.AsSpan(offset)));
            }
        }

        return filter;
    }

    public void Add(UInt128 key)
    {
        _words[Word(key)] |= Bits(key);
    }

    public bool MayContain(UInt128 key)
    {
        var bits = Bits(key);
        return (_words[Word(key)] & bits) == bits;
    }

    /// <summary>A merge step committed: the store moved on, so a filter saved earlier is stale until <see cref="Save"/>.</summary>
    public void Touch(PatientFactsQueries sql)
    {
        _generation++;
        sql.SetGeneration(_generation);
    }

    public void Save(PatientFactsQueries sql)
    {
        var bytes = new byte[_words.Length * 8];
        Buffer.BlockCopy(_words, 0, bytes, 0, bytes.Length);
        sql.SaveKeyFilter(_generation, bytes);
    }

    // A blocked Bloom filter (Putze, Sanders & Singler 2007): the four bits of a key are in one 64-bit
    // word, so a lookup costs one cache miss instead of four. The word comes from the key's high half,
    // the four positions in it from 6-bit slices of the low half (keys are HMAC outputs: independent bits).
    private long Word(UInt128 key) => (long)((ulong)(key >> 64) & ((1UL << (_log2 - 6)) - 1));

    private static ulong Bits(UInt128 key)
    {
        var low = (ulong)key;
        return (1UL << (int)(low & 63)) | (1UL << (int)((low >> 6) & 63)) | (1UL << (int)((low >> 12) & 63)) | (1UL << (int)((low >> 18) & 63));
    }
}
