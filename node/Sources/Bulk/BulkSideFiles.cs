using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>What the export's `deleted` files said: the resources to remove, and the entries that could not be read (counted, not applied).</summary>
public sealed record BulkDeletions(IReadOnlyList<DeletedResource> Resources, long Malformed);

/// <summary>
/// The manifest's `error` and `deleted` files, downloaded whole (they are small) before the data files. Error files are NDJSON of
/// OperationOutcome (IG "Response - Complete Status", `error`): summarised as counts by issue severity and code, their text never
/// kept. Deleted files are NDJSON of transaction Bundles whose entries say `request.method` DELETE and `request.url` "Type/id"
/// (IG v2.0.0, `deleted`).
/// </summary>
public static partial class BulkSideFiles
{
    /// <summary>Counts by "severity:code" of every issue in the error files; a line that is not an OperationOutcome counts as "malformed".</summary>
    public static async Task<Dictionary<string, long>> ErrorCountsAsync(BulkExportClient client, IReadOnlyList<BulkFile> files, bool bearer, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            await ReadLinesAsync(client, file, bearer, "error", line =>
            {
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    var outcome = OperationOutcomeSummary.Of(doc.RootElement);
                    if (outcome.Issues.Count == 0)
                    {
                        Add(counts, "malformed");
                    }

                    foreach (var (severity, code) in outcome.Issues)
                    {
                        Add(counts, severity + ":" + code);
                    }
                }
                catch (JsonException)
                {
                    Add(counts, "malformed");
                }
            }, cancellationToken).ConfigureAwait(false);
        }

        return counts;
    }

    /// <summary>The resources the deleted files name; an entry that is not a DELETE of "Type/id" is counted as malformed.</summary>
    public static async Task<BulkDeletions> DeletionsAsync(BulkExportClient client, IReadOnlyList<BulkFile> files, bool bearer, CancellationToken cancellationToken)
    {
        var resources = new List<DeletedResource>();
        long malformed = 0;
        foreach (var file in files)
        {
            await ReadLinesAsync(client, file, bearer, "deleted", line => malformed += ParseDeletedBundle(line, resources), cancellationToken).ConfigureAwait(false);
        }

        return new BulkDeletions(resources, malformed);
    }

    /// <summary>One line of a deleted file: its DELETE entries added; returns how many entries (or the line itself) could not be read.</summary>
    public static long ParseDeletedBundle(ReadOnlySpan<byte> line, List<DeletedResource> into)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !Is(root, "resourceType", "Bundle") || !root.TryGetProperty("entry", out var entries) || entries.ValueKind != JsonValueKind.Array)
            {
                return 1;
            }

            long bad = 0;
            foreach (var entry in entries.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("request", out var request) && request.ValueKind == JsonValueKind.Object
                    && Is(request, "method", "DELETE") && request.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String
                    && TypeSlashId().Match(url.GetString()!) is { Success: true } m)
                {
                    into.Add(new DeletedResource(m.Groups[1].Value, m.Groups[2].Value));
                }
                else
                {
                    bad++;
                }
            }

            return bad;
        }
        catch (JsonException)
        {
            return 1;
        }
    }

    /// <summary>A relative reference "Type/id": a resource type name and a FHIR id (R4 datatypes, "id": [A-Za-z0-9\-\.]{1,64}).</summary>
    [GeneratedRegex(@"^([A-Z][A-Za-z]{1,63})/([A-Za-z0-9\-\.]{1,64})$")]
    private static partial Regex TypeSlashId();

    private static bool Is(JsonElement e, string name, string value) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == value;

    private static void Add(Dictionary<string, long> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;

    /// <summary>The file's lines (a failed download is retried from the start: nothing of it was used yet), bounded in size.</summary>
    private static async Task ReadLinesAsync(BulkExportClient client, BulkFile file, bool bearer, string stage, Action<byte[]> onLine, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var lines = new List<byte[]>();
            int? status = null;
            try
            {
                using var response = await client.GetFileAsync(file.Url, bearer, stage, cancellationToken).ConfigureAwait(false);
                status = (int)response.StatusCode;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new HttpRequestException(null, null, response.StatusCode);
                }

                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                using var text = new MemoryStream();
                var chunk = new byte[81920];
                int read;
                while ((read = await body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (text.Length + read > client.Options.MaxSideFileBytes)
                    {
                        throw new BulkExportException($"an export's {stage} file is larger than {client.Options.MaxSideFileBytes} bytes; refused", stage, 200, "file_too_large");
                    }

                    text.Write(chunk, 0, read);
                }

                var all = text.GetBuffer().AsMemory(0, (int)text.Length);
                foreach (var range in Lines(all.Span))
                {
                    lines.Add(all[range].ToArray());
                }
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or TaskCanceledException)
            {
                if (attempt < client.Options.MaxRetries && (status is null or >= 500))
                {
                    client.CountRetry();
                    await Task.Delay(client.Backoff(attempt + 1), client.Time, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw new BulkExportException($"an export's {stage} file could not be downloaded (HTTP {(status is { } s ? s.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none")}) after its retries", stage, status, "download_failed");
            }

            foreach (var line in lines)
            {
                onLine(line);
            }

            return;
        }
    }

    private static List<Range> Lines(ReadOnlySpan<byte> all)
    {
        var ranges = new List<Range>();
        var start = 0;
        while (start < all.Length)
        {
            var end = all[start..].IndexOf((byte)'\n');
            var stop = end < 0 ? all.Length : start + end;
            var line = all[start..stop].TrimEnd((byte)'\r');
            if (!line.Trim(" \t"u8).IsEmpty)
            {
                ranges.Add(start..(start + line.Length));
            }

            start = stop + 1;
        }

        return ranges;
    }
}
