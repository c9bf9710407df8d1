using System.IO.Compression;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>The NDJSON reader cuts lines from shared buffers: it must give exactly what a plain split does.</summary>
public sealed class IngestSourcesTests
{
    [Theory]
    [InlineData(false, true)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Lines_numbers_offsets_and_oversized_lines_match_a_plain_split(bool gzip, bool finalNewline)
    {
        var (file, expected) = Sample(gzip, finalNewline);
        var actual = IngestSources.Read(file, "h").ToList();
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Number, actual[i].LineNumber);
            Assert.Equal(expected[i].Offset, actual[i].ByteOffset);
            Assert.Equal(expected[i].Oversized, actual[i].Oversized);
            Assert.True(expected[i].Bytes.AsSpan().SequenceEqual(actual[i].Bytes.Span), $"line {expected[i].Number} differs");
        }
    }

    /// <summary>
    /// With a pool, buffers come back for reuse: the consumer takes the retired ones with each batch and returns
    /// them once the batch is done, as the ingest does. The returned buffers are overwritten first, so a buffer
    /// retired while a later batch still had a line in it would show up as a changed line.
    /// </summary>
    [Theory]
    [InlineData(false, 100, 2)]
    [InlineData(true, 1000, 3)]
    public void Pooled_buffers_are_never_reused_while_a_line_in_them_is_pending(bool gzip, int batchLines, int maxBuffers)
    {
        var (file, expected) = Sample(gzip, finalNewline: true);
        var pool = new ChunkPool();
        var seen = 0;
        var batch = new List<SourceLine>();
        void Done(List<byte[]>? retired)
        {
            foreach (var line in batch)
            {
                Assert.Equal(expected[seen].Number, line.LineNumber);
                Assert.True(expected[seen].Bytes.AsSpan().SequenceEqual(line.Bytes.Span), $"line {expected[seen].Number} changed before its batch was done");
                seen++;
            }

            batch.Clear();
            foreach (var chunk in retired ?? [])
            {
                Array.Fill(chunk, (byte)'#');
            }

            pool.Return(retired);
        }

        var rented = new HashSet<byte[]>(ReferenceEqualityComparer.Instance);
        foreach (var line in IngestSources.Read(file, "h", pool))
        {
            batch.Add(line);
            if (System.Runtime.InteropServices.MemoryMarshal.TryGetArray(line.Bytes, out var segment) && segment.Array is { Length: 1 << 20 } array)
            {
                rented.Add(array);
            }

            if (batch.Count == batchLines)
            {
                Done(pool.TakeRetired());
            }
        }

        Done(pool.TakeRetired());
        Assert.Equal(expected.Count, seen);
        // The lines fill some 6 buffers of 1 MB; in flight at once are those of one batch, plus the one being read.
        Assert.InRange(rented.Count, 1, maxBuffers);
    }

    private static (string File, List<(long Number, long Offset, byte[] Bytes, bool Oversized)> Expected) Sample(bool gzip, bool finalNewline)
    {
        var random = new Random(7);
        var parts = new List<byte[]>();
        for (var i = 0; i < 4000; i++)
        {
            // Mostly small lines (many cross the 1 MB buffer boundaries), some empty, some CRLF, one of 3 MB and one over the limit.
            var length = i switch { 1000 => 3 * 1024 * 1024, 2500 => IngestSources.MaxLineBytes + 5, _ when i % 97 == 0 => 0, _ => random.Next(1, 2000) };
            var line = new byte[length];
            for (var j = 0; j < length; j++)
            {
                line[j] = (byte)('a' + (j + i) % 26);
            }

            parts.Add(i % 13 == 0 && length > 0 ? [.. line, (byte)'\r'] : line);
        }

        var bytes = new List<byte>();
        for (var i = 0; i < parts.Count; i++)
        {
            bytes.AddRange(parts[i]);
            if (i < parts.Count - 1 || finalNewline)
            {
                bytes.Add((byte)'\n');
            }
        }

        var file = Path.Combine(DataTestSupport.TempDir("reader"), gzip ? "Observation.000.ndjson.gz" : "Observation.000.ndjson");
        if (gzip)
        {
            using var output = new GZipStream(File.Create(file), CompressionLevel.Fastest);
            output.Write(bytes.ToArray());
        }
        else
        {
            File.WriteAllBytes(file, [.. bytes]);
        }

        var expected = new List<(long Number, long Offset, byte[] Bytes, bool Oversized)>();
        long offset = 0;
        for (var i = 0; i < parts.Count; i++)
        {
            var line = parts[i].Length > 0 && parts[i][^1] == '\r' ? parts[i][..^1] : parts[i];
            if (line.Length > IngestSources.MaxLineBytes)
            {
                expected.Add((i + 1, offset, [], true));
            }
            else if (line.Length > 0)
            {
                expected.Add((i + 1, offset, line, false));
            }

            offset += parts[i].Length + 1;
        }

        return (file, expected);
    }
}
