using System.Globalization;
using System.Text.Json;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>One file of a completed export's manifest (`output`, `deleted` or `error` item): its resource type, URL and line count.</summary>
public sealed record BulkFile(string Type, Uri Url, long? Count);

/// <summary>
/// The Complete Status response of a Bulk Data export (IG v2.0.0, "Bulk Data Status Request", "Response - Complete Status"):
/// the transaction time (the next `_since`), whether files need the bearer token, and the data, deleted and error files.
/// </summary>
public sealed record BulkManifest(string TransactionTime, DateTimeOffset TransactionInstant, string? Request, bool RequiresAccessToken, IReadOnlyList<BulkFile> Output, IReadOnlyList<BulkFile> Deleted, IReadOnlyList<BulkFile> Error)
{
    /// <summary>
    /// Reads a manifest and checks every URL in it against the transport rule (<see cref="UrlPolicy"/>: https, or http on loopback)
    /// and against its base: a manifest from an https server handing out plain-http files is refused, whatever the host.
    /// </summary>
    public static BulkManifest Parse(ReadOnlySpan<byte> json, Uri fhirBase)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException)
        {
            throw new BulkExportException("the export's manifest is not JSON (RFC 8259)", "manifest", 200, "manifest_invalid");
        }

        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw Invalid("it is not a JSON object");
            }

            var time = Text(root, "transactionTime") ?? throw Invalid("it has no transactionTime");
            if (!DateTimeOffset.TryParse(time, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant) || !time.Contains('T', StringComparison.Ordinal))
            {
                throw Invalid("its transactionTime is not a FHIR instant");
            }

            var requires = root.TryGetProperty("requiresAccessToken", out var r) && r.ValueKind == JsonValueKind.True;
            return new BulkManifest(time, instant, Text(root, "request"), requires, Files(root, "output", fhirBase), Files(root, "deleted", fhirBase), Files(root, "error", fhirBase));
        }
    }

    private static List<BulkFile> Files(JsonElement root, string name, Uri fhirBase)
    {
        if (!root.TryGetProperty(name, out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            throw Invalid($"its '{name}' is not an array");
        }

        var files = new List<BulkFile>();
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object || Text(item, "url") is not { } text || !Uri.TryCreate(text, UriKind.Absolute, out var url))
            {
                throw Invalid($"an item of '{name}' has no absolute url");
            }

            CheckUrl(url, fhirBase, "a file URL of the manifest");
            var count = item.TryGetProperty("count", out var c) && c.TryGetInt64(out var n) ? n : (long?)null;
            files.Add(new BulkFile(Text(item, "type") ?? string.Empty, url, count));
        }

        return files;
    }

    /// <summary>
    /// A URL the server handed out (status or file) obeys the same transport rule as the base, and an https base never hands out
    /// http (a downgrade would carry PHI, and perhaps the token, in the clear). The message names the origin, never the path.
    /// </summary>
    public static void CheckUrl(Uri url, Uri fhirBase, string what)
    {
        UrlPolicy.Require(url, what);
        if (fhirBase.Scheme == Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttps)
        {
            throw new InsecureUrlException($"{UrlPolicy.HttpsRequired}: {what} at {url.GetLeftPart(UriPartial.Authority)} is plain http while the FHIR server is https; refused");
        }
    }

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static BulkExportException Invalid(string why) => new($"the export's manifest is not a Bulk Data manifest: {why}", "manifest", 200, "manifest_invalid");
}

/// <summary>
/// A Bulk Data export that could not be completed. <see cref="Exception.Message"/> is for the operator's console and may quote the
/// server's OperationOutcome text (server text, not patient data); the audit trail takes only <see cref="Stage"/>,
/// <see cref="HttpStatus"/> and <see cref="Code"/>.
/// </summary>
public sealed class BulkExportException(string message, string stage, int? httpStatus, string code) : Exception(message)
{
    /// <summary>Where it failed: kick-off, status, manifest, download, deleted, error, ingest.</summary>
    public string Stage { get; } = stage;

    public int? HttpStatus { get; } = httpStatus;

    /// <summary>The OperationOutcome's first issue code, or our own reason code (manifest_invalid, export_timeout, ...).</summary>
    public string Code { get; } = code;
}
