using System.Diagnostics;
using System.Globalization;
using System.Net;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>
/// Pulls a FHIR server's Bulk Data export (<see cref="SourceKind.FhirBulk"/>) into the node: kick-off at the source's level with its
/// types and type filter and `_since` = <see cref="PullOptions.Since"/>, the manifest, the error and deleted files, then the data
/// files streamed into <see cref="IngestPipeline"/>. The watermark (the manifest's transactionTime) is recorded only when the
/// export completed and every file was read to its end; any failure records the failure and leaves the previous watermark.
/// Both outcomes are audited (<c>source_pulled</c>, <c>source_pull_failed</c>) in the transaction that writes the pull state.
/// </summary>
/// <param name="tokens">The bearer tokens for a source, given the HttpClient the pull uses (SMART Backend Services in production).</param>
/// <param name="handler">The HTTP handler; null: a SocketsHttpHandler with automatic gzip decompression (the client then asks for gzip).</param>
/// <param name="clientOptions">Retries, delays, parallelism, <see cref="BulkClientOptions.SaveTo"/>.</param>
/// <param name="time">The node's clock for the pull state and the ingest (the client's waits use the system clock).</param>
public sealed class BulkPuller(Func<DataSource, HttpClient, IAccessTokenSource> tokens, HttpMessageHandler? handler = null, BulkClientOptions? clientOptions = null, TimeProvider? time = null) : ISourcePuller
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public SourceKind Kind => SourceKind.FhirBulk;

    /// <summary>The source id the quarantine gives a downloaded file: "bulk:" and a keyed hash of its URL, never the URL.</summary>
    public static string SourceId(NodeDirectory node, Uri url) => "bulk:" + node.Pseudonymizer.SourcePath(url.AbsoluteUri);

    public async Task<PullSummary> PullAsync(NodeDirectory node, DataSource source, PullOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        if (source.Kind != SourceKind.FhirBulk || !Uri.TryCreate(source.FhirBase, UriKind.Absolute, out var fhirBase))
        {
            throw new ArgumentException("A Bulk Data source needs an absolute FHIR base URL.", nameof(source));
        }

        var started = Stopwatch.StartNew();
        var key = source.WatermarkKey;
        var since = options.Since is { } s ? BulkExportRequest.FhirInstant(s) : null;
        var request = new BulkExportRequest(fhirBase, source.Level, source.Group, source.Types, source.TypeFilter, options.Since);
        var progress = options.Progress;
        var stage = "configuration";
        BulkExportClient? client = null;
        IAccessTokenSource? tokenSource = null;
        HttpClient? http = null; // outlives the try: a cancelled pull still sends its DELETE through it
        try
        {
            UrlPolicy.Require(fhirBase, "the FHIR server URL"); // before a token is asked for or a connection opened
            http = handler is null
                ? new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.GZip, PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
                : new HttpClient(handler, disposeHandler: false);
            http.Timeout = TimeSpan.FromMinutes(5); // to the response headers; a body streams as long as it takes
            tokenSource = tokens(source, http);
            client = new BulkExportClient(http, tokenSource, request, clientOptions, TimeProvider.System);
            stage = "export";
            var manifest = await client.ExportAsync(progress, cancellationToken).ConfigureAwait(false);

            stage = "error";
            var errors = await BulkSideFiles.ErrorCountsAsync(client, manifest.Error, manifest.RequiresAccessToken, cancellationToken).ConfigureAwait(false);
            stage = "deleted";
            var deletions = await BulkSideFiles.DeletionsAsync(client, manifest.Deleted, manifest.RequiresAccessToken, cancellationToken).ConfigureAwait(false);

            stage = "ingest";
            progress?.Report(new PullProgress("downloading", 0, manifest.Output.Count, 0, null));
            IngestSummary ingest;
            int failedDownloads;
            long bytes;
            var downloads = new BulkDownloads(client, manifest.Output, manifest.RequiresAccessToken, url => SourceId(node, url), progress, cancellationToken);
            try
            {
                progress?.Report(new PullProgress("ingesting", 0, manifest.Output.Count, 0, null));
                ingest = await Task.Factory.StartNew(
                    () => new IngestPipeline(node, time: _time).Run(downloads.Inputs, deletions.Resources, null, cancellationToken),
                    cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
            }
            finally
            {
                await downloads.DisposeAsync().ConfigureAwait(false);
            }

            failedDownloads = downloads.Failed;
            bytes = downloads.Bytes;
            var complete = ingest.Complete && failedDownloads == 0;
            var summary = new PullSummary(manifest.Output.Count, ingest.LinesRead, ingest.Accepted, ingest.Quarantined, manifest.TransactionTime, since, client.Retries + TokenRetries(tokenSource), started.Elapsed.TotalSeconds)
            {
                Deleted = ingest.Deleted, // removed from the store; those the node never held are the ingest's deleted_not_found
                ExportErrors = errors,
                Bytes = bytes,
                Complete = complete,
            };
            var at = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
            node.Store.Write((c, t) =>
            {
                if (complete)
                {
                    SourceQueries.Succeeded(c, t, key, manifest.TransactionTime, at, $"{summary.Files} files, {summary.LinesRead} lines, {summary.Accepted} accepted, {summary.Quarantined} quarantined");
                    node.Audit.Append(c, t, NodeAuditRecords.SourcePulled(key, source.Kind, source.Level, source.Types, summary, deletions.Malformed, 0));
                }
                else
                {
                    // Files not read to their end: the data read stays (the ingest run audits it), the watermark does not move.
                    var code = failedDownloads > 0 ? "download_failed" : "ingest_incomplete";
                    SourceQueries.Failed(c, t, key, at, $"download: {code} ({failedDownloads} files failed)");
                    node.Audit.Append(c, t, NodeAuditRecords.SourcePullFailed(key, source.Kind, source.Level, "download", downloads.FirstFailureStatus, code, summary.Retries));
                }

                return 0;
            });
            return summary;
        }
        catch (Exception e)
        {
            var (failedStage, status, code) = e switch
            {
                BulkExportException b => (b.Stage, b.HttpStatus, b.Code),
                Smart.SmartAuthorizationException a => ("token", a.Status, a.Error ?? "authorization_failed"),
                Smart.SmartClientKeyException => ("token", (int?)null, "no_client_key"),
                InsecureUrlException => (stage, (int?)null, "https_required"),
                OperationCanceledException => (stage, null, "cancelled"),
                _ => (stage, null, e.GetType().Name),
            };
            if (e is OperationCanceledException && stage != "export" && client is not null)
            {
                await client.CancelAsync().ConfigureAwait(false); // the export itself sent it when cancelled while waiting
            }

            RecordFailure(node, source, key, failedStage, status, code, client?.Retries ?? 0);
            throw;
        }
        finally
        {
            (tokenSource as IDisposable)?.Dispose();
            http?.Dispose();
        }
    }

    private static int TokenRetries(IAccessTokenSource? tokens) => tokens is Smart.SmartSourceTokens smart ? smart.Retries : 0;

    private void RecordFailure(NodeDirectory node, DataSource source, string key, string stage, int? status, string code, int retries)
    {
        var at = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
        var detail = status is { } s ? $"{stage}: {code} (HTTP {s.ToString(CultureInfo.InvariantCulture)})" : $"{stage}: {code}";
        node.Store.Write((c, t) =>
        {
            SourceQueries.Failed(c, t, key, at, detail);
            node.Audit.Append(c, t, NodeAuditRecords.SourcePullFailed(key, source.Kind, source.Level, stage, status, code, retries));
            return 0;
        });
    }
}
