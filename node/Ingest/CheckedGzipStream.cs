using System.IO.Compression;
using System.Security.Cryptography;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Decompresses a gzip file and says whether it ended where gzip data ends. .NET's GZipStream checks each complete
/// member's CRC-32 and length (RFC 1952 section 2.3.1) but returns end-of-stream, without an error, when its input
/// runs out inside a member: a truncated export file would be read as a shorter, valid one. So a marker member is
/// appended to the file's bytes (a gzip file is a series of members, RFC 1952 section 2.2): after a complete file the
/// decompressor reads it as one more member and yields the marker; after a truncated one it reads the marker's bytes
/// as the rest of the cut member, and yields garbage or fails. The marker is 16 random bytes drawn per process, so a
/// crafted file cannot imitate it; it is never passed on as data, nor is anything decompressed after the file's own bytes
/// ran out unless the marker follows it.
/// </summary>
internal sealed class CheckedGzipStream : Stream
{
    private static readonly byte[] Marker = RandomNumberGenerator.GetBytes(16);
    private static readonly byte[] MarkerMember = Compress(Marker);

    // Output decompressed after the file's bytes ran out: the marker, and before it (in a complete file) whatever the
    // same read produced. More than this is not a marker's.
    private const int MaxAfterEnd = (1 << 20) + (64 << 10);

    private readonly FileThenMarker _input;
    private readonly GZipStream _gzip;
    private byte[] _pending = [];
    private int _pendingAt;
    private bool _ended;

    public CheckedGzipStream(Stream file)
    {
        _input = new FileThenMarker(file);
        _gzip = new GZipStream(_input, CompressionMode.Decompress);
    }

    /// <summary>Set once the stream has ended: null when it ended where gzip data ends, otherwise what was wrong.</summary>
    public FileProblem? Problem { get; private set; }

    /// <summary>Whether the file's own bytes had all been read when the decompressor failed (a cut, rather than corruption in the middle).</summary>
    public bool FileExhausted => _input.InMarker;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_ended)
        {
            var n = Math.Min(buffer.Length, _pending.Length - _pendingAt);
            _pending.AsSpan(_pendingAt, n).CopyTo(buffer);
            _pendingAt += n;
            return n;
        }

        var read = _gzip.Read(buffer);
        if (!_input.InMarker)
        {
            if (read == 0)
            {
                // The decompressor stopped before the file's end: .NET ignores bytes after a member that do not start another.
                End(FileProblem.TrailingData, []);
            }

            return read;
        }

        // This read went past the file's own bytes: what it produced, and everything after, is held back until the end,
        // where it must end with the marker (a base-stream read happens only once earlier output is handed out, so output
        // decompressed from the file's bytes before that was already returned).
        var after = new MemoryStream();
        after.Write(buffer[..read]);
        var more = new byte[64 << 10];
        int n2;
        while (after.Length <= MaxAfterEnd && (n2 = _gzip.Read(more)) > 0)
        {
            after.Write(more, 0, n2);
        }

        var tail = after.GetBuffer().AsSpan(0, (int)after.Length);
        if (tail.Length <= MaxAfterEnd && tail.EndsWith(Marker))
        {
            End(null, tail[..^Marker.Length].ToArray());
        }
        else
        {
            End(FileProblem.TruncatedGzip, []);
        }

        return Read(buffer);
    }

    private void End(FileProblem? problem, byte[] pending)
    {
        (_ended, Problem, _pending, _pendingAt) = (true, problem, pending, 0);
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gzip.Dispose();
        }

        base.Dispose(disposing);
    }

    private static byte[] Compress(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>The file's bytes, then the marker member; never a read that spans both.</summary>
    private sealed class FileThenMarker(Stream file) : Stream
    {
        private int _markerAt;

        public bool InMarker { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (!InMarker)
            {
                var n = file.Read(buffer);
                if (n > 0)
                {
                    return n;
                }

                InMarker = true;
            }

            var m = Math.Min(buffer.Length, MarkerMember.Length - _markerAt);
            MarkerMember.AsSpan(_markerAt, m).CopyTo(buffer);
            _markerAt += m;
            return m;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                file.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
