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

    public static IEnumerable<SourceLine> Read(string file, string sourceHash) =>
        IsBundleFile(file) ? BundleEntries(file, sourceHash) : NdjsonLines(file, sourceHash);

    private static IEnumerable<SourceLine> NdjsonLines(string file, string sourceHash)
    {
        using var raw = File.OpenRead(file);
        using Stream stream = file.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(raw, CompressionMode.Decompress) : raw;
        var buffer = new byte[1 << 20];
        var line = new MemoryStream();
        long lineNumber = 0, offset = 0, lineStart = 0;
        var oversized = false;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (buffer[i] != (byte)'\n')
                {
                    continue;
                }

                Append(line, buffer.AsSpan(start, i - start), ref oversized);
                lineNumber++;
                var bytes = TrimCr(line);
                if (bytes.Length > 0 || oversized)
                {
                    yield return new SourceLine(sourceHash, lineNumber, lineStart, bytes.ToArray(), oversized);
                }

                line.SetLength(0);
                oversized = false;
                lineStart = offset + i + 1;
                start = i + 1;
            }

            Append(line, buffer.AsSpan(start, read - start), ref oversized);
            offset += read;
        }

        if (line.Length > 0 || oversized)
        {
            lineNumber++;
            yield return new SourceLine(sourceHash, lineNumber, lineStart, TrimCr(line).ToArray(), oversized);
        }
    }

    private static void Append(MemoryStream line, ReadOnlySpan<byte> bytes, ref bool oversized)
    {
        if (oversized || line.Length + bytes.Length > MaxLineBytes)
        {
            oversized = true;
            line.SetLength(0);
            return;
        }

        line.Write(bytes);
    }

    private static ReadOnlySpan<byte> TrimCr(MemoryStream line)
    {
        var span = line.GetBuffer().AsSpan(0, (int)line.Length);
        return span.Length > 0 && span[^1] == (byte)'\r' ? span[..^1] : span;
    }

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
