using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace FederatedTwin.Node.Ingest;

/// <summary>One unit of input: an NDJSON line or a Bundle entry, with where it came from (never the file's name).</summary>
public readonly record struct SourceLine(string SourceHash, long LineNumber, long ByteOffset, ReadOnlyMemory<byte> Bytes, bool Oversized);

/// <summary>
/// Reads a Bulk Data $export folder (Type.NNN.ndjson, optionally .gz) or FHIR Bundle JSON files,
/// streaming NDJSON with flat memory. A file is named by the SHA-256 of its content: Synthea names
/// Bundles after the patient, so file names never enter the store, logs or audit.
/// </summary>
public static class IngestSources
{
    /// <summary>Lines longer than this are quarantined without being buffered whole.</summary>
    public const int MaxLineBytes = 16 * 1024 * 1024;

    public static IReadOnlyList<string> Files(string path)
    {
        if (File.Exists(path))
        {
            return [path];
        }

        if (!Directory.Exists(path))
        {
            throw new FileNotFoundException($"No export folder or file at {path}.");
        }

        return Directory.EnumerateFiles(path)
            .Where(f => f.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".ndjson.gz", StringComparison.OrdinalIgnoreCase) || (f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && LooksLikeFhir(f)))
            .Where(f => !Path.GetFileName(f).StartsWith("log.", StringComparison.OrdinalIgnoreCase)) // the $export log is not data
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Files in an export folder that were not taken as data (manifests, notes), reported so nothing disappears silently.</summary>
    public static IReadOnlyList<string> Skipped(string path) => Directory.Exists(path)
        ? [.. Directory.EnumerateFiles(path).Except(Files(path)).Order(StringComparer.Ordinal)]
        : [];

    /// <summary>A .json file in a folder is a FHIR Bundle (or resource) only if it says so near its start.</summary>
    private static bool LooksLikeFhir(string file)
    {
        using var stream = File.OpenRead(file);
        var head = new byte[4096];
        var n = stream.Read(head, 0, head.Length);
        return head.AsSpan(0, n).IndexOf("\"resourceType\""u8) >= 0;
    }

    public static string ContentHash(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream))[..32];
    }

    public static bool IsBundleFile(string file) => file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The lines of a file. Without a pool, a line stays valid for as long as it is referenced; with one, the
    /// read buffers come from the pool and are handed to <see cref="ChunkPool.Retire"/> once the reader has cut
    /// their last line, and the caller returns them when it no longer uses any line yielded before that.
    /// </summary>
    public static IEnumerable<SourceLine> Read(string file, string sourceHash, ChunkPool? pool = null) =>
        IsBundleFile(file) ? BundleEntries(file, sourceHash) : NdjsonLines(file, sourceHash, pool);

    /// <summary>Lines are cut from chunks of this size, which they share (no array per line).</summary>
    internal const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Lines as slices of large read buffers, and the garbage collector sees one large array per megabyte instead
    /// of one small one per line (which the batches in flight kept alive long enough to be copied between
    /// generations). Without a pool a buffer is never reused; with one, it is retired when the reader moves on.
    /// A line that does not end in its buffer moves, alone, to the start of the next one.
    /// </summary>
    private static IEnumerable<SourceLine> NdjsonLines(string file, string sourceHash, ChunkPool? pool)
    {
        using var raw = File.OpenRead(file);
        using Stream stream = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
        var chunk = pool?.Rent() ?? new byte[ChunkBytes];
        int filled = 0, start = 0;
        long lineNumber = 0, chunkOffset = 0, oversizedStart = 0;
        var oversized = false;
        int read;
        while ((read = stream.Read(chunk, filled, chunk.Length - filled)) > 0)
        {
            var scan = filled;
            filled += read;
            int newline;
            while ((newline = chunk.AsSpan(scan, filled - scan).IndexOf((byte)'\n')) >= 0)
            {
                newline += scan;
                lineNumber++;
                if (oversized)
                {
                    yield return new SourceLine(sourceHash, lineNumber, oversizedStart, ReadOnlyMemory<byte>.Empty, true);
                    oversized = false;
                }
                else if (Line(chunk, start, newline) is var (from, length) && length > 0)
                {
                    yield return length > MaxLineBytes
                        ? new SourceLine(sourceHash, lineNumber, chunkOffset + start, ReadOnlyMemory<byte>.Empty, true)
                        : new SourceLine(sourceHash, lineNumber, chunkOffset + start, chunk.AsMemory(from, length), false);
                }

                start = scan = newline + 1;
            }

            var partial = filled - start;
            if (oversized || partial > MaxLineBytes)
            {
                // Longer than the limit: quarantined without being buffered whole; its bytes are skipped.
                if (!oversized)
                {
                    oversized = true;
                    oversizedStart = chunkOffset + start;
                    pool?.Retire(chunk); // lines already cut from this one may still be in use
                    chunk = pool?.Rent() ?? new byte[ChunkBytes];
                }

                chunkOffset += filled;
                filled = start = 0;
                continue;
            }

            if (filled < chunk.Length)
            {
                continue; // room left in this buffer
            }

            var size = Math.Min(Math.Max(ChunkBytes, partial * 2), MaxLineBytes + ChunkBytes);
            var next = size == ChunkBytes && pool is not null ? pool.Rent() : new byte[size];
            chunk.AsSpan(start, partial).CopyTo(next);
            chunkOffset += start;
            pool?.Retire(chunk);
            chunk = next;
            filled = partial;
            start = 0;
        }

        if (oversized)
        {
            yield return new SourceLine(sourceHash, lineNumber + 1, oversizedStart, ReadOnlyMemory<byte>.Empty, true);
        }
        else if (Line(chunk, start, filled) is var (from, length) && length > 0)
        {
            yield return length > MaxLineBytes
                ? new SourceLine(sourceHash, lineNumber + 1, chunkOffset + start, ReadOnlyMemory<byte>.Empty, true)
                : new SourceLine(sourceHash, lineNumber + 1, chunkOffset + start, chunk.AsMemory(from, length), false);
        }

        pool?.Retire(chunk);
    }

    /// <summary>The line between start and end (exclusive), without a final carriage return.</summary>
    private static (int From, int Length) Line(byte[] chunk, int start, int end) =>
        (start, end > start && chunk[end - 1] == (byte)'\r' ? end - start - 1 : end - start);

    /// <summary>Each Bundle entry's resource is one line (numbered from 1, with its byte offset in the file).</summary>
    private static IEnumerable<SourceLine> BundleEntries(string file, string sourceHash)
    {
        var bytes = File.ReadAllBytes(file);
        var entries = new List<(long Offset, ReadOnlyMemory<byte> Resource)>();
        bool malformed;
        try
        {
            malformed = !FindEntries(bytes, entries);
        }
        catch (JsonException)
        {
            malformed = true;
        }

        if (malformed)
        {
            // A Bundle that cannot be read as one is one bad line: the whole file.
            yield return new SourceLine(sourceHash, 1, 0, bytes.Length > MaxLineBytes ? ReadOnlyMemory<byte>.Empty : bytes, bytes.Length > MaxLineBytes);
            yield break;
        }

        for (var i = 0; i < entries.Count; i++)
        {
            yield return new SourceLine(sourceHash, i + 1, entries[i].Offset, entries[i].Resource, entries[i].Resource.Length > MaxLineBytes);
        }
    }

    private static bool FindEntries(byte[] bytes, List<(long, ReadOnlyMemory<byte>)> entries)
    {
        using var doc = JsonDocument.Parse(bytes);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("resourceType", out var type) || type.GetString() != "Bundle")
        {
            return false;
        }

        // Re-scan with a reader to get each entry.resource's byte range (JsonElement has no offsets).
        var reader = new Utf8JsonReader(bytes);
        var depth = 0;
        var inEntries = false;
        var entryDepth = -1;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName when depth == 1 && reader.ValueTextEquals("entry"):
                    inEntries = true;
                    break;
                case JsonTokenType.PropertyName when inEntries && depth == entryDepth + 1 && reader.ValueTextEquals("resource"):
                    reader.Read();
                    var start = reader.TokenStartIndex;
                    reader.Skip();
                    var end = reader.BytesConsumed;
                    entries.Add((start, bytes.AsMemory((int)start, (int)(end - start))));
                    break;
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    depth++;
                    if (inEntries && reader.TokenType == JsonTokenType.StartObject && entryDepth < 0)
                    {
                        entryDepth = depth - 1;
                    }

                    break;
                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    depth--;
                    if (inEntries && depth == 1)
                    {
                        inEntries = false;
                    }

                    break;
            }
        }

        return true;
    }
}

/// <summary>
/// Read buffers for one reader and its consumer: the reader rents them and retires each once it has cut its
/// last line; the consumer takes the retired ones with the batch of lines it hands on (every line of a retired
/// buffer was yielded before it was retired) and returns them when that batch is done with. Reusing them keeps
/// the ingest from allocating its whole input again on the large-object heap, whose growth sets off full
/// collections. Buffers of any other size (a long line's) are left to the garbage collector.
/// </summary>
public sealed class ChunkPool(int capacity = 64)
{
    private readonly System.Collections.Concurrent.ConcurrentBag<byte[]> _free = [];
    private List<byte[]> _retired = [];

    /// <summary>The reader's side: a buffer of <see cref="IngestSources.ChunkBytes"/>.</summary>
    public byte[] Rent() => _free.TryTake(out var chunk) ? chunk : new byte[IngestSources.ChunkBytes];

    /// <summary>The reader's side: no line will be cut from this buffer any more.</summary>
    public void Retire(byte[] chunk) => _retired.Add(chunk);

    /// <summary>The reader's thread, between lines: the buffers retired so far (to travel with the lines handed on).</summary>
    public List<byte[]>? TakeRetired()
    {
        if (_retired.Count == 0)
        {
            return null;
        }

        var taken = _retired;
        _retired = [];
        return taken;
    }

    /// <summary>The consumer's side, any thread: nothing uses these buffers' lines any more.</summary>
    public void Return(List<byte[]>? chunks)
    {
        foreach (var chunk in chunks ?? [])
        {
            if (chunk.Length == IngestSources.ChunkBytes && _free.Count < capacity)
            {
                _free.Add(chunk);
            }
        }
    }
}
