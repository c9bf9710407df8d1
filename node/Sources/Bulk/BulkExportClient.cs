using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>
/// The Bulk Data Access client (HL7 FHIR Bulk Data Access IG v2.0.0): kick-off, status polling, manifest, cancel, and each
/// request's retries. Every request carries the bearer token from <see cref="IAccessTokenSource"/> where it is due; a 401 gets
/// one refreshed token and one more try. 429 and 503, and a 5xx whose OperationOutcome says `transient`, are retried up to
/// <see cref="BulkClientOptions.MaxRetries"/> times (each counted in <see cref="Retries"/>), honouring Retry-After (RFC 9110
/// section 10.2.3); any other error ends the export with the server's OperationOutcome text in the message.
/// Token rule: the kick-off and the status URL get the token when they are on the FHIR base's origin (RFC 6454); a status URL
/// elsewhere gets none (the token was issued for the FHIR server, not for whatever host its answers name). Files get it exactly
/// when the manifest's requiresAccessToken is true: the IG makes the server say whether its file URLs need it, and an
/// unsolicited token sent to, say, a storage host would hand that host the right to export the hospital's data.
/// </summary>
public sealed class BulkExportClient(HttpClient http, IAccessTokenSource tokens, BulkExportRequest request, BulkClientOptions? options = null, TimeProvider? time = null)
{
    private readonly BulkClientOptions _options = options ?? new BulkClientOptions();
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private int _retries;

    public BulkExportRequest Request => request;

    public BulkClientOptions Options => _options;

    /// <summary>Requests retried so far (kick-off, polls, files).</summary>
    public int Retries => Volatile.Read(ref _retries);

    /// <summary>The export's status URL once the kick-off was accepted.</summary>
    public Uri? StatusUrl { get; private set; }

    /// <summary>Kicks the export off and polls until the manifest; on cancellation sends the best-effort DELETE before it throws.</summary>
    public async Task<BulkManifest> ExportAsync(IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        UrlPolicyCheck();
        try
        {
            progress?.Report(new PullProgress("kick-off", 0, 0, 0, null));
            StatusUrl = await KickOffAsync(cancellationToken).ConfigureAwait(false);
            return await PollAsync(StatusUrl, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (StatusUrl is not null && (e is OperationCanceledException || e is BulkExportException { Code: "export_timeout" }))
        {
            await CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void UrlPolicyCheck() => Hosting.Security.UrlPolicy.Require(request.FhirBase, "the FHIR server URL");

    private async Task<Uri> KickOffAsync(CancellationToken cancellationToken)
    {
        var url = request.KickOffUrl();
        using var response = await SendAsync(() =>
        {
            var m = new HttpRequestMessage(HttpMethod.Get, url);
            m.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/fhir+json"));
            m.Headers.Add("Prefer", "respond-async"); // Kick-off: required, RFC 7240
            return m;
        }, bearer: true, "kick-off", cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            throw await Failure(response, "kick-off", cancellationToken).ConfigureAwait(false);
        }

        var location = response.Content.Headers.ContentLocation ?? (response.Headers.TryGetValues("Content-Location", out var v) && Uri.TryCreate(v.FirstOrDefault(), UriKind.RelativeOrAbsolute, out var u) ? u : null);
        if (location is null)
        {
            throw new BulkExportException("the FHIR server accepted the export (202) but sent no Content-Location status URL", "kick-off", 202, "no_content_location");
        }

        var status = location.IsAbsoluteUri ? location : new Uri(url, location);
        BulkManifest.CheckUrl(status, request.FhirBase, "the export's status URL");
        return status;
    }

    private async Task<BulkManifest> PollAsync(Uri status, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        var backoff = _options.InitialBackoff;
        var started = _time.GetTimestamp();
        var bearer = SameOrigin(status, request.FhirBase);
        while (true)
        {
            using var response = await SendAsync(() =>
            {
                var m = new HttpRequestMessage(HttpMethod.Get, status);
                m.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                return m;
            }, bearer, "status", cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var body = await ReadBounded(response, cancellationToken).ConfigureAwait(false);
                return BulkManifest.Parse(body, request.FhirBase);
            }

            if (response.StatusCode != HttpStatusCode.Accepted)
            {
                throw await Failure(response, "status", cancellationToken).ConfigureAwait(false);
            }

            // In-Progress Status: X-Progress is free text for display (the IG), Retry-After the server's pace.
            var serverProgress = response.Headers.TryGetValues("X-Progress", out var xp) ? Printable(xp.FirstOrDefault(), 100) : null;
            progress?.Report(new PullProgress("waiting", 0, 0, 0, serverProgress));
            if (_time.GetElapsedTime(started) > _options.MaxExportWait)
            {
                throw new BulkExportException($"the export was still in progress after {_options.MaxExportWait.TotalHours:0.#} hours; cancelled", "status", 202, "export_timeout");
            }

            var wait = RetryAfter(response) ?? backoff;
            backoff = TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, (long)(backoff.Ticks * _options.BackoffFactor)));
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Delete Request (IG "Bulk Data Delete Request"): tells the server to stop and discard the export. Best effort with a short
    /// timeout: a cancelled pull must not hang on a server that no longer answers.
    /// </summary>
    public async Task CancelAsync()
    {
        if (StatusUrl is not { } status)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(_options.CancelTimeout);
        try
        {
            using var m = new HttpRequestMessage(HttpMethod.Delete, status);
            if (SameOrigin(status, request.FhirBase))
            {
                m.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetAsync(false, timeout.Token).ConfigureAwait(false));
            }

            using var response = await http.SendAsync(m, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
        {
            // best effort: the server expires abandoned exports on its own
        }
    }

    /// <summary>
    /// A file's GET (Bulk Data File Request): `Accept: application/fhir+ndjson`, the token when the manifest requires it, with the
    /// same retries as any request. Gzip is negotiated by the handler (automatic decompression): the body read is the NDJSON.
    /// </summary>
    internal Task<HttpResponseMessage> GetFileAsync(Uri url, bool bearer, string stage, CancellationToken cancellationToken) =>
        SendAsync(() =>
        {
            var m = new HttpRequestMessage(HttpMethod.Get, url);
            m.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/fhir+ndjson"));
            return m;
        }, bearer, stage, cancellationToken);

    /// <summary>Counts one retry the caller made itself (a download resumed after a broken body).</summary>
    internal void CountRetry() => Interlocked.Increment(ref _retries);

    /// <summary>The wait before retry number <paramref name="attempt"/> (1-based) when the server gave no Retry-After.</summary>
    internal TimeSpan Backoff(int attempt) =>
        TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, (long)(_options.InitialBackoff.Ticks * Math.Pow(_options.BackoffFactor, attempt - 1))));

    internal TimeProvider Time => _time;

    /// <summary>
    /// Sends a request built afresh for each try: a 401 gets one refreshed token, a retryable answer or a broken connection waits
    /// (Retry-After or backoff) and tries again up to the bound. Returns the last response, which the caller judges.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> build, bool bearer, string stage, CancellationToken cancellationToken)
    {
        var refreshed = false;
        var refreshNow = false;
        for (var attempt = 0; ; attempt++)
        {
            using var message = build();
            if (bearer)
            {
                var token = await tokens.GetAsync(refreshNow, cancellationToken).ConfigureAwait(false);
                refreshNow = false;
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or TaskCanceledException && attempt < _options.MaxRetries)
            {
                Interlocked.Increment(ref _retries);
                await Task.Delay(Backoff(attempt + 1), _time, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or TaskCanceledException)
            {
                throw new BulkExportException($"the FHIR server could not be reached at the {stage} after {attempt + 1} attempts", stage, null, "unreachable");
            }

            if (response.StatusCode == HttpStatusCode.Unauthorized && bearer && !refreshed)
            {
                // SMART Backend Services: an expired or revoked token gets one new one, then the 401 stands.
                response.Dispose();
                refreshed = true;
                refreshNow = true;
                attempt--;
                continue;
            }

            if (attempt < _options.MaxRetries && await Retryable(response, cancellationToken).ConfigureAwait(false))
            {
                var wait = RetryAfter(response) ?? Backoff(attempt + 1);
                response.Dispose();
                Interlocked.Increment(ref _retries);
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            return response;
        }
    }

    /// <summary>429 and 503 always (RFC 6585 section 4, RFC 9110 section 15.6.4); another 5xx when its OperationOutcome says `transient` (the IG's error responses).</summary>
    private async Task<bool> Retryable(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (status is 429 or 503)
        {
            return true;
        }

        if (status < 500)
        {
            return false;
        }

        var body = await ReadBounded(response, cancellationToken).ConfigureAwait(false);
        response.Content = new ByteArrayContent(body); // the caller may still read it for the error message
        return OperationOutcomeSummary.Of(body).Codes.Contains("transient");
    }

    /// <summary>Retry-After as delta-seconds or an HTTP-date (RFC 9110 section 10.2.3), clamped to [0, MaxRetryAfter].</summary>
    private TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        TimeSpan? wait = header?.Delta ?? (header?.Date is { } date ? date - _time.GetUtcNow() : null);
        return wait is { } w ? TimeSpan.FromTicks(Math.Clamp(w.Ticks, 0, _options.MaxRetryAfter.Ticks)) : null;
    }

    private async Task<BulkExportException> Failure(HttpResponseMessage response, string stage, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var body = await ReadBounded(response, cancellationToken).ConfigureAwait(false);
        var outcome = OperationOutcomeSummary.Of(body);
        var code = outcome.Codes.Count > 0 ? outcome.Codes[0] : "http_" + status;
        var text = outcome.Text is { } t ? ": " + t : string.Empty;
        return new BulkExportException($"the FHIR server ended the export at the {stage} (HTTP {status}, issue code '{code}'){text}", stage, status, code);
    }

    private async Task<byte[]> ReadBounded(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > _options.MaxBodyBytes)
        {
            throw new BulkExportException($"the FHIR server's answer is larger than {_options.MaxBodyBytes} bytes; refused", "status", (int)response.StatusCode, "body_too_large");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > _options.MaxBodyBytes)
            {
                throw new BulkExportException($"the FHIR server's answer is larger than {_options.MaxBodyBytes} bytes; refused", "status", (int)response.StatusCode, "body_too_large");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>Same scheme, host and port (RFC 6454 section 4).</summary>
    internal static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase) && a.Port == b.Port;

    /// <summary>Server text for a console: printable characters only, bounded.</summary>
    internal static string? Printable(string? text, int max)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        var clean = new StringBuilder(Math.Min(text.Length, max));
        foreach (var ch in text)
        {
            if (clean.Length >= max)
            {
                clean.Append('…');
                break;
            }

            clean.Append(char.IsControl(ch) ? ' ' : ch);
        }

        return clean.ToString().Trim();
    }
}

/// <summary>An OperationOutcome's issue codes, severities and text (diagnostics or details.text), read leniently: a body that is not one gives none.</summary>
internal sealed record OperationOutcomeSummary(IReadOnlyList<string> Codes, IReadOnlyList<(string Severity, string Code)> Issues, string? Text)
{
    public static OperationOutcomeSummary Of(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            return Of(doc.RootElement);
        }
        catch (JsonException)
        {
            return new([], [], null);
        }
    }

    public static OperationOutcomeSummary Of(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("resourceType", out var rt) || rt.ValueKind != JsonValueKind.String || rt.GetString() != "OperationOutcome"
            || !root.TryGetProperty("issue", out var issues) || issues.ValueKind != JsonValueKind.Array)
        {
            return new([], [], null);
        }

        var codes = new List<string>();
        var pairs = new List<(string, string)>();
        var texts = new List<string>();
        foreach (var issue in issues.EnumerateArray())
        {
            if (issue.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var code = Code(issue, "code") ?? "unknown";
            var severity = Code(issue, "severity") ?? "unknown";
            codes.Add(code);
            pairs.Add((severity, code));
            if (Str(issue, "diagnostics") is { } d)
            {
                texts.Add(d);
            }
            else if (issue.TryGetProperty("details", out var details) && details.ValueKind == JsonValueKind.Object && Str(details, "text") is { } t)
            {
                texts.Add(t);
            }
        }

        return new(codes, pairs, BulkExportClient.Printable(string.Join("; ", texts), 500));
    }

    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A FHIR code (issue-type, issue-severity): letters, digits and '-' only, else "other" (it reaches the audit).</summary>
    private static string? Code(JsonElement e, string name) =>
        Str(e, name) is { } s ? (s.Length is > 0 and <= 40 && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') ? s : "other") : null;
}
