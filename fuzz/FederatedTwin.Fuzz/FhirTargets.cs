using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Fuzz;

/// <summary>
/// The ingest's readers and parsers, as a hospital's export reaches them. The fast path exists for speed only: on every line it
/// handles it must give Firely's verdict (accepted or the same quarantine code) and, when accepted, the same record. Neither
/// parser may throw: the ingest would quarantine such a line as <c>parser_failure</c>, a defect "to report".
/// </summary>
internal static class FhirTargets
{
    private static readonly FastFhirParser Fast = new();
    private static readonly FhirRecordParser Firely = new();

    private static readonly JsonSerializerOptions Describe = new()
    {
        IncludeFields = true, // the records' code lists are value tuples
        Encoder = JavaScriptEncoder.Create(UnicodeRanges.All),
    };

    public static void Warm() => Differential("{\"resourceType\":\"Patient\",\"id\":\"p\",\"birthDate\":\"1950-01-01\"}"u8.ToArray());

    public static void Differential(byte[] line)
    {
        // The ingest quarantines a line that is not UTF-8 before any parser sees it (IngestPipeline's line parser).
        if (!System.Text.Unicode.Utf8.IsValid(line))
        {
            return;
        }

        var (fast, fastReason, handled) = Fast.Parse(line);
        var (firely, firelyReason) = Firely.Parse(line);
        if (!handled)
        {
            return;
        }

        if (fastReason?.Code != firelyReason?.Code || (fast is null) != (firely is null))
        {
            throw new ParsersDisagreeException($"fast path: {fastReason?.Code ?? "accepted"} ({Fast.LastRefusal}), Firely: {firelyReason?.Code ?? "accepted"} ({firelyReason?.Text})");
        }

        if (fast is not null && firely is not null)
        {
            var (a, b) = (JsonSerializer.Serialize(fast, fast.GetType(), Describe), JsonSerializer.Serialize(firely, firely.GetType(), Describe));
            if (a != b)
            {
                throw new ParsersDisagreeException($"different records: fast path {a}, Firely {b}");
            }
        }
    }

    public static void Bundle(byte[] data) => Lines(data, SourceFormat.Bundle);

    /// <summary>An odd first byte: the rest as .ndjson.gz (CheckedGzipStream); even: as plain NDJSON (the line cutter).</summary>
    public static void NdjsonGzip(byte[] data)
    {
        if (data.Length > 0)
        {
            Lines(data[1..], (data[0] & 1) != 0 ? SourceFormat.NdjsonGzip : SourceFormat.Ndjson);
        }
    }

    private static void Lines(byte[] data, SourceFormat format)
    {
        // A file that ends early reports itself through the callback, never by throwing (the other files go on).
        foreach (var line in IngestSources.Read(new MemoryStream(data), format, "fuzz", null, _ => { }))
        {
            if (!line.Oversized && System.Text.Unicode.Utf8.IsValid(line.Bytes.Span))
            {
                var (_, _, handled) = Fast.Parse(line.Bytes.Span);
                if (!handled)
                {
                    _ = Firely.Parse(line.Bytes.Span);
                }
            }
        }
    }
}

/// <summary>The fast path and Firely gave different answers on one line.</summary>
public sealed class ParsersDisagreeException(string message) : Exception(message);
