namespace FederatedTwin.Node.Ingest;

/// <summary>One unit of input: an NDJSON line or a Bundle entry, with where it came from (never the file's name).</summary>
public readonly record struct SourceLine(string SourceHash, long LineNumber, long ByteOffset, ReadOnlyMemory<byte> Bytes, bool Oversized);

/// <summary>The formats of an export's files, by name: Bulk Data NDJSON (optionally gzip-compressed) or a FHIR Bundle (.json).</summary>
public enum SourceFormat
{
    Ndjson,
    NdjsonGzip,
    Bundle,
}

/// <summary>
/// Reads a Bulk Data $export folder (Type.NNN.ndjson, optionally .gz) or FHIR Bundle JSON files,
/// streaming with flat memory. A file is named by the SHA-256 of its content: Synthea names
/// Bundles after the patient, so file names never enter the store, logs or audit. Files are opened only
/// through <see cref="SourceFile"/>, which never reads anything but a regular file.
/// </summary>
public static class IngestSources
{
    /// <summary>Lines longer than this are quarantined without being buffered whole.</summary>
    public const int MaxLineBytes = 16 * 1024 * 1024;

    /// <summary>The UTF-8 byte order mark: skipped at the start of a file (RFC 8259 section 8.1 lets a parser ignore it).</summary>
    internal static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>
    /// The data files of an export folder (or the one file named), in ordinal order. Entries with a data file's name that
    /// are not regular files (a FIFO, a link to a device or to nothing, a directory) are listed too: the ingest reports
    /// each as a failed file, by the keyed hash of its path, instead of passing over it in silence.
    /// </summary>
    public static IReadOnlyList<string> Files(string path)
    {
        if (Directory.Exists(path))
        {
            return Directory.EnumerateFileSystemEntries(path)
                .Where(f => IsDataName(f) && (FormatOf(f) != SourceFormat.Bundle || LooksLikeFhir(f)))
                .Order(StringComparer.Ordinal)
                .ToList();
        }

        if (File.Exists(path) || IsLink(path))
        {
            return [path];
        }

        // Not the path itself: it is the operator's, but a file's path can hold a patient's name.
        throw new FileNotFoundException("No export folder or file at the given path.");
    }

    /// <summary>Files in an export folder that were not taken as data (manifests, notes), reported so nothing disappears silently.</summary>
    public static IReadOnlyList<string> Skipped(string path) => Directory.Exists(path)
        ? [.. Directory.EnumerateFiles(path).Except(Files(path)).Order(StringComparer.Ordinal)]
        : [];

    private static bool IsDataName(string file)
    {
        var name = Path.GetFileName(file);
        return !name.StartsWith("log.", StringComparison.OrdinalIgnoreCase) // the $export log is not data
            && (name.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".ndjson.gz", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".json", StringComparison.OrdinalIgnoreCase));
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>A .json file in a folder is a FHIR Bundle (or resource) only if it says so near its start; one that cannot be opened is listed (and reported).</summary>
    private static bool LooksLikeFhir(string file)
    {
        using var stream = SourceFile.Open(file, out _);
        if (stream is null)
        {
            return true;
        }

        var head = new byte[4096];
        var n = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return head.AsSpan(0, n).IndexOf("\"resourceType\""u8) >= 0;
    }

    /// <summary>The file's source id (the SHA-256 of its content, as the quarantine keeps it), or null when it cannot be opened.</summary>
    public static string? ContentHash(string file)
    {
        using var stream = SourceFile.Open(file, out _);
        return stream is null ? null : SourceFile.ContentHash(stream);
    }

    public static SourceFormat FormatOf(string file) =>
        file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? SourceFormat.Bundle
        : file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? SourceFormat.NdjsonGzip
        : SourceFormat.Ndjson;

    /// <summary>
    /// The lines of a file, for tools and tests that read one file alone: a file that cannot be opened, or that fails
    /// midway (a truncated gzip file, a broken Bundle), throws <see cref="InvalidDataException"/> with the reason.
    /// </summary>
    public static IEnumerable<SourceLine> Read(string file, string sourceHash, ChunkPool? pool = null)
    {
        var stream = SourceFile.Open(file, out var problem) ?? throw new InvalidDataException(problem!.Text);
        return Read(stream, FormatOf(file), sourceHash, pool, p => throw new InvalidDataException(p.Text));
    }

    /// <summary>
    /// The lines of an opened file (disposed once read). Without a pool, a line stays valid for as long as it is
    /// referenced; with one, the read buffers come from the pool and are handed to <see cref="ChunkPool.Retire"/> once
    /// the reader has cut their last line, and the caller returns them when it no longer uses any line yielded before
    /// that. A file that ends early (see <see cref="FileProblem"/>) calls <paramref name="failed"/> once, after its
    /// last line: the lines before stay good.
    /// </summary>
    public static IEnumerable<SourceLine> Read(Stream stream, SourceFormat format, string sourceHash, ChunkPool? pool, Action<FileProblem> failed) =>
        format == SourceFormat.Bundle ? Owned(stream, BundleReader.Read(stream, sourceHash, pool, failed))
        : NdjsonLines(format == SourceFormat.NdjsonGzip ? new CheckedGzipStream(stream) : stream, sourceHash, pool, failed);

    private static IEnumerable<SourceLine> Owned(Stream stream, IEnumerable<SourceLine> lines)
    {
        using (stream)
        {
            foreach (var line in lines)
            {
                yield return line;
            }
        }
    }

    /// <summary>Lines are cut from chunks of this size, which they share (no array per line).</summary>
    internal const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Lines as slices of large read buffers, and the garbage collector sees one large array per megabyte instead
    /// of one small one per line (which the batches in flight kept alive long enough to be copied between
    /// generations). Without a pool a buffer is never reused; with one, a buffer is retired when the reader moves
    /// on, or, when no line was cut from it (blank lines), reused at once: a gigabyte of newlines then costs one
    /// buffer, not a gigabyte of retired ones waiting for a batch that never fills. A line that does not end in its
    /// buffer moves, alone, to the start of the next one. A UTF-8 byte order mark at the start is skipped.
    /// </summary>
    private static IEnumerable<SourceLine> NdjsonLines(Stream stream, string sourceHash, ChunkPool? pool, Action<FileProblem> failed)
    {
        using var owned = stream;
        var chunk = pool?.Rent() ?? new byte[ChunkBytes];
        var cut = false; // a line was handed out from this chunk
        int filled = 0, start = 0, read;
        long lineNumber = 0, chunkOffset = 0, oversizedStart = 0;
        var oversized = false;
        FileProblem? problem = null;
        while (filled < Utf8Bom.Length && (read = ReadSome(stream, chunk, filled, ref problem)) > 0)
        {
            filled += read;
        }

        if (chunk.AsSpan(0, filled).StartsWith(Utf8Bom))
        {
            start = Utf8Bom.Length;
        }

        var scan = start;
        while (true)
        {
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
                    cut |= length <= MaxLineBytes;
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
                    Release(pool, chunk, cut); // lines already cut from this one may still be in use
                    (chunk, cut) = (pool?.Rent() ?? new byte[ChunkBytes], false);
                }

                chunkOffset += filled;
                filled = start = 0;
            }
            else if (filled == chunk.Length)
            {
                var size = Math.Min(Math.Max(ChunkBytes, partial * 2), MaxLineBytes + ChunkBytes);
                var next = size == ChunkBytes && pool is not null ? pool.Rent() : new byte[size];
                chunk.AsSpan(start, partial).CopyTo(next);
                chunkOffset += start;
                Release(pool, chunk, cut);
                (chunk, cut) = (next, false);
                filled = partial;
                start = 0;
            }

            scan = filled;
            if ((read = ReadSome(stream, chunk, filled, ref problem)) == 0)
            {
                break;
            }

            filled += read;
        }

        if (oversized)
        {
            yield return new SourceLine(sourceHash, lineNumber + 1, oversizedStart, ReadOnlyMemory<byte>.Empty, true);
        }
        else if (Line(chunk, start, filled) is var (from, length) && length > 0)
        {
            cut |= length <= MaxLineBytes;
            yield return length > MaxLineBytes
                ? new SourceLine(sourceHash, lineNumber + 1, chunkOffset + start, ReadOnlyMemory<byte>.Empty, true)
                : new SourceLine(sourceHash, lineNumber + 1, chunkOffset + start, chunk.AsMemory(from, length), false);
        }

        Release(pool, chunk, cut);
        problem ??= (stream as CheckedGzipStream)?.Problem;
        if (problem is not null)
        {
            failed(problem);
        }
    }

    /// <summary>A buffer the reader is done with: retired if lines were cut from it (they may be in use), otherwise reused at once.</summary>
    private static void Release(ChunkPool? pool, byte[] chunk, bool cut)
    {
        if (cut)
        {
            pool?.Retire(chunk);
        }
        else
        {
            pool?.Recycle(chunk);
        }
    }

    /// <summary>Reads into the rest of the buffer; a read that fails ends the file (0) with its problem, keeping the lines before.</summary>
    private static int ReadSome(Stream stream, byte[] chunk, int filled, ref FileProblem? problem)
    {
        if (problem is not null)
        {
            return 0;
        }

        try
        {
            return stream.Read(chunk, filled, chunk.Length - filled);
        }
        catch (InvalidDataException)
        {
            problem = stream is CheckedGzipStream { FileExhausted: true } ? FileProblem.TruncatedGzip : FileProblem.CorruptGzip;
        }
        catch (IOException)
        {
            problem = FileProblem.ReadError;
        }

        return 0;
    }

    /// <summary>The line between start and end (exclusive), without a final carriage return.</summary>
    private static (int From, int Length) Line(byte[] chunk, int start, int end) =>
        (start, end > start && chunk[end - 1] == (byte)'\r' ? end - start - 1 : end - start);
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

    /// <summary>The reader's side: no line will be cut from this buffer any more (any size: a long line's buffer is counted too).</summary>
    public void Retire(byte[] chunk)
    {
        _retired.Add(chunk);
        RetiredBytes += chunk.Length;
    }

    /// <summary>The reader's side: a buffer no line was cut from (blank lines only), free again at once.</summary>
    public void Recycle(byte[] chunk)
    {
        if (chunk.Length == IngestSources.ChunkBytes && _free.Count < capacity)
        {
            _free.Add(chunk);
        }
    }

    /// <summary>The reader's thread: the size of the buffers retired since the last <see cref="TakeRetired"/> (a batch is handed on before they grow large).</summary>
    public long RetiredBytes { get; private set; }

    /// <summary>The reader's thread, between lines: the buffers retired so far (to travel with the lines handed on).</summary>
    public List<byte[]>? TakeRetired()
    {
        if (_retired.Count == 0)
        {
            return null;
        }

        var taken = _retired;
        _retired = [];
        RetiredBytes = 0;
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
