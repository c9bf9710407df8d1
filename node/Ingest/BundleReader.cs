using System.Text.Json;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// A FHIR Bundle file read entry by entry from a stream: a Utf8JsonReader over a buffer that holds at most one
/// entry's resource (up to <see cref="IngestSources.MaxLineBytes"/>) and is refilled as the reader moves on, so a
/// Bundle of any size costs the same memory (read whole, a 54 MB Bundle took 463 MB). Each entry.resource is one line,
/// numbered from 1, with its byte offset in the file; a resource over the limit is skipped token by token and
/// reported as an oversized line. The file's root resourceType is found first (it may come after the entries); a file
/// that is not a Bundle is one line, as before. JSON that breaks off or goes wrong midway ends the file with
/// <see cref="Problem"/> set, the entries before kept. A UTF-8 byte order mark at the start is skipped (RFC 8259
/// section 8.1 lets a parser ignore one).
/// </summary>
internal sealed class BundleReader
{
    private const int FirstBuffer = 64 << 10;
    private const int MaxBuffer = IngestSources.MaxLineBytes + IngestSources.ChunkBytes;

    private readonly Stream _stream;
    private readonly string _source;
    private readonly ChunkPool? _pool;
    private byte[] _buffer = new byte[FirstBuffer];
    private int _start, _end;
    private long _base; // the file offset of _buffer[0]
    private bool _eof;
    private JsonReaderState _state;
    private int _depth;
    private bool _inEntries;
    private long _entries;

    // An oversized resource being skipped: the depth it returns to, and where it started.
    private bool _skipping;
    private int _skipDepth;
    private long _skipOffset;

    // Copies of resources handed out, cut from pooled buffers as NDJSON lines are.
    private byte[]? _out;
    private int _outUsed;

    private BundleReader(Stream stream, string source, ChunkPool? pool)
    {
        (_stream, _source, _pool) = (stream, source, pool);
    }

    /// <summary>Set when the file ended early: the entries before were handed out.</summary>
    public FileProblem? Problem { get; private set; }

    /// <summary>
    /// The file's lines: a Bundle's entries, or the whole file as one line when it is not a Bundle (a single resource,
    /// or JSON that breaks off before its root's resourceType: the parsers quarantine it with the precise reason).
    /// </summary>
    public static IEnumerable<SourceLine> Read(Stream stream, string source, ChunkPool? pool, Action<FileProblem> failed)
    {
        var (isBundle, problem) = RootIsBundle(stream);
        stream.Position = 0;
        if (!isBundle)
        {
            if (problem is not null && stream.Length > IngestSources.MaxLineBytes)
            {
                failed(problem); // too large to be quarantined as one line, and no Bundle to read entries from
                yield break;
            }

            if (WholeFile(stream, source, out var readError) is { } whole)
            {
                yield return whole;
            }
            else
            {
                failed(readError!);
            }

            yield break;
        }

        var reader = new BundleReader(stream, source, pool);
        while (reader.TryNext(out var line))
        {
            yield return line;
        }

        reader.Finish();
        if (reader.Problem is { } p)
        {
            failed(p);
        }
    }

    private static SourceLine? WholeFile(Stream stream, string source, out FileProblem? problem)
    {
        problem = null;
        if (stream.Length > IngestSources.MaxLineBytes)
        {
            return new SourceLine(source, 1, 0, ReadOnlyMemory<byte>.Empty, true);
        }

        var bytes = new byte[stream.Length];
        try
        {
            stream.ReadExactly(bytes);
        }
        catch (IOException)
        {
            problem = FileProblem.ReadError; // EndOfStreamException too: the file shrank while read
            return null;
        }

        var bom = bytes.AsSpan().StartsWith(IngestSources.Utf8Bom) ? IngestSources.Utf8Bom.Length : 0;
        return new SourceLine(source, 1, bom, bytes.AsMemory(bom), false);
    }

    /// <summary>Whether the root is an object whose resourceType is "Bundle"; the problem when the JSON broke off before that was known.</summary>
    private static (bool IsBundle, FileProblem? Problem) RootIsBundle(Stream stream)
    {
        var scan = new BundleReader(stream, string.Empty, null);
        return scan.FindRootType() is var (type, problem) ? (type == "Bundle", problem) : (false, null);
    }

    private (string? Type, FileProblem? Problem) FindRootType()
    {
        while (true)
        {
            var step = Scan(findRoot: true, out _, out var type);
            if (step == Step.Found)
            {
                return (type, null);
            }

            if (step == Step.End)
            {
                return (null, Problem);
            }

            if (!Refill())
            {
                return (null, Problem);
            }
        }
    }

    private bool TryNext(out SourceLine line)
    {
        while (true)
        {
            var step = Scan(findRoot: false, out line, out _);
            if (step == Step.Found)
            {
                return true;
            }

            if (step == Step.End || !Refill())
            {
                return false;
            }
        }
    }

    private void Finish()
    {
        if (_out is not null)
        {
            _pool?.Retire(_out);
            _out = null;
        }
    }

    private enum Step
    {
        Found,
        NeedData,
        End,
    }

    /// <summary>Reads tokens from the buffered bytes until an entry (or the root's type) is found, more bytes are needed, or the JSON ends.</summary>
    private Step Scan(bool findRoot, out SourceLine line, out string? rootType)
    {
        line = default;
        rootType = null;
        if (_base == 0 && _start == 0 && _end >= 3 && _buffer.AsSpan(0, 3).SequenceEqual(IngestSources.Utf8Bom))
        {
            _start = 3;
        }

        var reader = new Utf8JsonReader(_buffer.AsSpan(_start, _end - _start), _eof, _state);
        try
        {
            while (true)
            {
                var saved = reader;
                if (!reader.Read())
                {
                    // With the final block, the reader ends only after a complete JSON value (an incomplete one throws).
                    return Save(ref reader, _eof ? Step.End : Step.NeedData);
                }

                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        if (_depth == 0 && reader.TokenType != JsonTokenType.StartObject)
                        {
                            return Save(ref reader, Step.End); // not an object: not a Bundle
                        }

                        _depth++;
                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        _depth--;
                        _inEntries &= _depth > 1;
                        if (_skipping && _depth == _skipDepth)
                        {
                            _skipping = false;
                            line = new SourceLine(_source, ++_entries, _skipOffset, ReadOnlyMemory<byte>.Empty, true);
                            return Save(ref reader, Step.Found);
                        }

                        break; // after the root's end, the reader refuses anything but whitespace

                    case JsonTokenType.PropertyName when _depth == 1 && findRoot && reader.ValueTextEquals("resourceType"u8):
                        if (!reader.Read())
                        {
                            reader = saved;
                            return Save(ref reader, Step.NeedData);
                        }

                        // Compared, not decoded: GetString throws on a value that is not UTF-8 (found by the bundle fuzz target),
                        // and only "Bundle" matters; anything else is read as one resource and quarantined with its precise reason.
                        rootType = reader.TokenType != JsonTokenType.String ? null : reader.ValueTextEquals("Bundle"u8) ? "Bundle" : "other";
                        return Save(ref reader, Step.Found);
                    case JsonTokenType.PropertyName when _depth == 1 && reader.ValueTextEquals("entry"u8):
                        _inEntries = true;
                        break;
                    case JsonTokenType.PropertyName when _depth == 3 && _inEntries && !_skipping && !findRoot && reader.ValueTextEquals("resource"u8):
                        var afterName = reader;
                        if (!reader.Read())
                        {
                            reader = saved;
                            return Save(ref reader, Step.NeedData);
                        }

                        var at = reader.TokenStartIndex;
                        var offset = _base + _start + at;
                        if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !reader.TrySkip())
                        {
                            if (_end - _start - at < IngestSources.MaxLineBytes)
                            {
                                reader = saved;
                                return Save(ref reader, Step.NeedData); // the whole resource, once more is read
                            }

                            // Longer than the limit: skipped token by token from here, without buffering it whole.
                            reader = afterName;
                            (_skipping, _skipDepth, _skipOffset) = (true, _depth, offset);
                            break;
                        }

                        var length = reader.BytesConsumed - at;
                        var start = _start + (int)at;
                        line = length > IngestSources.MaxLineBytes
                            ? new SourceLine(_source, ++_entries, offset, ReadOnlyMemory<byte>.Empty, true)
                            : new SourceLine(_source, ++_entries, offset, Copy(_buffer.AsSpan(start, (int)length)), false);
                        return Save(ref reader, Step.Found);
                }
            }
        }
        catch (JsonException)
        {
            Problem = FileProblem.MalformedBundle;
            return Step.End;
        }
    }

    private Step Save(ref Utf8JsonReader reader, Step step)
    {
        _start += (int)reader.BytesConsumed;
        _state = reader.CurrentState;
        return step;
    }

    /// <summary>Moves the unread bytes to the front and reads more, growing the buffer up to the limit; false at the end of the file or past the limit.</summary>
    private bool Refill()
    {
        if (_eof)
        {
            Problem ??= FileProblem.MalformedBundle; // the JSON wanted more than the file has
            return false;
        }

        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            (_base, _end, _start) = (_base + _start, _end - _start, 0);
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= MaxBuffer)
            {
                Problem = FileProblem.OversizedValue; // one token, or a value outside any resource, longer than the limit
                return false;
            }

            Array.Resize(ref _buffer, Math.Min(_buffer.Length * 2, MaxBuffer));
        }

        int n;
        try
        {
            n = _stream.Read(_buffer, _end, _buffer.Length - _end);
        }
        catch (IOException)
        {
            Problem = FileProblem.ReadError;
            return false;
        }

        _end += n;
        _eof = n == 0;
        return true;
    }

    /// <summary>A resource's bytes, copied out of the read buffer (which moves on) into a pooled buffer shared by several.</summary>
    private ReadOnlyMemory<byte> Copy(ReadOnlySpan<byte> resource)
    {
        if (_pool is null || resource.Length > IngestSources.ChunkBytes)
        {
            var own = resource.ToArray();
            _pool?.Retire(own); // counted with the batch that holds it, as a long NDJSON line's buffer is
            return own;
        }

        if (_out is null || _out.Length - _outUsed < resource.Length)
        {
            Finish();
            (_out, _outUsed) = (_pool.Rent(), 0);
        }

        resource.CopyTo(_out.AsSpan(_outUsed));
        var copy = _out.AsMemory(_outUsed, resource.Length);
        _outUsed += resource.Length;
        return copy;
    }
}
