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

    [Fact]
    public void A_Bundle_read_entry_by_entry_gives_what_a_whole_document_parse_does()
    {
        var files = Directory.GetFiles(DataTestSupport.BundleSample, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var expected = WholeDocumentEntries(File.ReadAllBytes(file));
            var actual = IngestSources.Read(file, "h", new ChunkPool()).ToList();
            Assert.Equal(expected.Count, actual.Count);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(i + 1, actual[i].LineNumber);
                Assert.Equal(expected[i].Offset, actual[i].ByteOffset);
                Assert.True(expected[i].Bytes.AsSpan().SequenceEqual(actual[i].Bytes.Span), $"entry {i + 1} differs");
            }
        }
    }

    [Fact]
    public void A_hostile_Bundle_is_streamed_its_oversized_entry_skipped_and_its_type_found_after_its_entries()
    {
        // A byte order mark, resourceType after the entries, an entry without a resource, a "resource" key deeper inside
        // a resource (not an entry), and one resource over the line limit between small ones.
        var small = "{\"resourceType\":\"Basic\",\"id\":\"b#\",\"code\":{\"text\":\"x\"},\"extension\":[{\"url\":\"http://example.org/resource\",\"valueString\":\"resource\"}],\"x\":{\"resource\":{\"a\":1}}}";
        var huge = "{\"resourceType\":\"Basic\",\"id\":\"huge\",\"code\":{\"text\":\"" + new string('y', IngestSources.MaxLineBytes + 10) + "\"}}";
        var parts = new List<string> { "\uFEFF{\"type\":\"collection\",\"entry\":[" };
        var expected = new List<(long Offset, string? Resource)>();
        string[] resources = [small.Replace("#", "1", StringComparison.Ordinal), huge, small.Replace("#", "2", StringComparison.Ordinal)];
        for (var i = 0; i < resources.Length; i++)
        {
            parts.Add((i == 0 ? string.Empty : ",") + "{\"fullUrl\":\"urn:uuid:" + i + "\",\"resource\":  ");
            expected.Add((System.Text.Encoding.UTF8.GetByteCount(string.Concat(parts)), resources[i].Length > IngestSources.MaxLineBytes ? null : resources[i]));
            parts.Add(resources[i] + "}");
        }

        parts.Add(",{\"request\":{\"method\":\"DELETE\",\"url\":\"Basic/b0\"}}],\"resourceType\":\"Bundle\"}");
        var file = Path.Combine(DataTestSupport.TempDir("hostile-bundle"), "bundle.json");
        File.WriteAllText(file, string.Concat(parts), new System.Text.UTF8Encoding(false));

        var lines = IngestSources.Read(file, "h", new ChunkPool()).ToList();
        Assert.Equal(expected.Count, lines.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(i + 1, lines[i].LineNumber);
            Assert.Equal(expected[i].Offset, lines[i].ByteOffset);
            Assert.Equal(expected[i].Resource is null, lines[i].Oversized);
            Assert.Equal(expected[i].Resource ?? string.Empty, System.Text.Encoding.UTF8.GetString(lines[i].Bytes.Span));
        }
    }

    [Fact]
    public void A_Bundle_that_breaks_off_keeps_the_entries_before_and_says_so()
    {
        var sample = Directory.GetFiles(DataTestSupport.BundleSample, "*.json").OrderBy(f => new FileInfo(f).Length).Last();
        var bytes = File.ReadAllBytes(sample);
        var whole = WholeDocumentEntries(bytes);
        var file = Path.Combine(DataTestSupport.TempDir("cut-bundle"), "bundle.json");
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);

        FileProblem? problem = null;
        var stream = SourceFile.Open(file, out _)!;
        var lines = IngestSources.Read(stream, SourceFormat.Bundle, "h", null, p => problem = p).ToList();
        Assert.Equal(FileProblem.MalformedBundle, problem);
        Assert.InRange(lines.Count, whole.Count / 4, whole.Count - 1);
        for (var i = 0; i < lines.Count; i++)
        {
            Assert.True(whole[i].Bytes.AsSpan().SequenceEqual(lines[i].Bytes.Span));
        }

        // A file that is not a Bundle is one line, as before: a resource, or JSON broken before its root's type.
        var single = Path.Combine(DataTestSupport.TempDir("single"), "patient.json");
        File.WriteAllText(single, "{\"resourceType\":\"Patient\",\"id\":\"p1\"}");
        Assert.Equal("{\"resourceType\":\"Patient\",\"id\":\"p1\"}", System.Text.Encoding.UTF8.GetString(Assert.Single(IngestSources.Read(single, "h")).Bytes.Span));
        File.WriteAllText(single, "{\"resourceType\":");
        Assert.Equal("{\"resourceType\":", System.Text.Encoding.UTF8.GetString(Assert.Single(IngestSources.Read(single, "h")).Bytes.Span));
    }

    /// <summary>The reference: the whole document parsed, then each entry.resource's byte range (the reader before issue 19).</summary>
    private static List<(long Offset, byte[] Bytes)> WholeDocumentEntries(byte[] bytes)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(bytes);
        Assert.Equal("Bundle", doc.RootElement.GetProperty("resourceType").GetString());
        var entries = new List<(long, byte[])>();
        var reader = new System.Text.Json.Utf8JsonReader(bytes);
        var depth = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case System.Text.Json.JsonTokenType.PropertyName when depth == 3 && reader.ValueTextEquals("resource"):
                    reader.Read();
                    var start = reader.TokenStartIndex;
                    reader.Skip();
                    entries.Add((start, bytes[(int)start..(int)reader.BytesConsumed]));
                    break;
                case System.Text.Json.JsonTokenType.StartObject or System.Text.Json.JsonTokenType.StartArray:
                    depth++;
                    break;
                case System.Text.Json.JsonTokenType.EndObject or System.Text.Json.JsonTokenType.EndArray:
                    depth--;
                    break;
            }
        }

        return entries;
    }

    [Fact]
    public void A_flood_of_blank_lines_needs_one_read_buffer()
    {
        // Blank lines are never handed out, so their buffers are reused at once: the flood costs one buffer, not 256.
        var file = Path.Combine(DataTestSupport.TempDir("blank"), "Observation.000.ndjson.gz");
        using (var gzip = new GZipStream(File.Create(file), CompressionLevel.Fastest))
        {
            var block = new byte[1 << 20];
            Array.Fill(block, (byte)'\n');
            for (var i = 0; i < 256; i++)
            {
                gzip.Write(block);
            }

            gzip.Write("{}\n"u8);
        }

        var pool = new ChunkPool();
        var lines = IngestSources.Read(file, "h", pool).ToList();
        var line = Assert.Single(lines);
        Assert.Equal((256L << 20) + 1, line.LineNumber);
        Assert.Equal(1 << 20, pool.RetiredBytes); // only the buffer the line was cut from waits for its batch
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
