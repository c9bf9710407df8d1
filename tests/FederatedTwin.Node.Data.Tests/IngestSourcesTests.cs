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
}
