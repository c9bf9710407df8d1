using System.IO.Pipelines;
using System.Net;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Sources.Bulk;

/// <summary>
/// The export's data files streamed into the ingest: each file is an <see cref="IngestInput"/> whose stream is the read end of a
/// bounded pipe (<see cref="BulkClientOptions.BufferBytesPerFile"/>) that its download fills, so the ingest reads file 1 while the
/// next ones download, memory stays bounded and nothing is written to disk (unless <see cref="BulkClientOptions.SaveTo"/>).
/// Downloads start in the order the ingest reads them, at most <see cref="BulkClientOptions.ParallelDownloads"/> at once: the file
/// the ingest waits on has always been started, so a full pipe ahead of it can never starve it.
/// A download that breaks part-way is requested again and the bytes already handed to the ingest are skipped, so no line is read
/// twice or lost; one that fails after its retries fails its file alone (<c>download_failed</c>).
/// </summary>
public sealed class BulkDownloads : IAsyncDisposable
{
    /// <summary>A file whose download failed after its retries, before any byte reached the ingest.</summary>
    public static FileProblem DownloadFailed(int? status) => new("download_failed", status is { } s
        ? $"the Bulk Data file could not be downloaded (HTTP {s}) after its retries; nothing read"
        : "the Bulk Data file could not be downloaded (no answer) after its retries; nothing read");

    private readonly BulkExportClient _client;
    private readonly List<FileDownload> _files;
    private readonly CancellationTokenSource _stop;
    private readonly Task _dispatch;
    private long _bytes;
    private int _done;

    public BulkDownloads(BulkExportClient client, IReadOnlyList<BulkFile> files, bool requiresAccessToken, Func<Uri, string> sourceId, IProgress<PullProgress>? progress, CancellationToken cancellationToken)
    {
        _client = client;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var options = client.Options;
        if (options.SaveTo is { } folder)
        {
            CreateOwnerOnlyFolder(folder);
        }

        var perType = new Dictionary<string, int>(StringComparer.Ordinal);
        _files = [.. files.Select(f =>
        {
            var type = SafeType(f.Type);
            var n = perType[type] = perType.GetValueOrDefault(type) + 1;
            var save = options.SaveTo is { } dir ? Path.Combine(dir, $"{type}.{n - 1:000}.ndjson") : null;
            return new FileDownload(this, f, requiresAccessToken, sourceId(f.Url), save);
        })];
        Inputs = [.. _files.Select(f => new IngestInput(f.Source, SourceFormat.Ndjson, f.Open))];
        var total = _files.Count;
        _dispatch = Task.Run(async () =>
        {
            var slots = new SemaphoreSlim(options.ParallelDownloads);
            var running = new List<Task>();
            try
            {
                foreach (var file in _files)
                {
                    await slots.WaitAsync(_stop.Token).ConfigureAwait(false);
                    file.Started = true;
                    running.Add(RunAndRelease(file, slots, total, progress));
                }
            }
            catch (OperationCanceledException)
            {
                // stopped: the files not started are abandoned by DisposeAsync
            }

            await Task.WhenAll(running).ConfigureAwait(false);
            slots.Dispose();
        }, CancellationToken.None); // stops through _stop inside, so the downloads already started are awaited
    }

    private async Task RunAndRelease(FileDownload file, SemaphoreSlim slots, int total, IProgress<PullProgress>? progress)
    {
        try
        {
            await file.RunAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            file.Broken(); // anything unforeseen fails this file alone, as a failed download
        }
        finally
        {
            slots.Release();
            progress?.Report(new PullProgress("downloading", Interlocked.Increment(ref _done), total, Interlocked.Read(ref _bytes), null));
        }
    }

    /// <summary>The files as the ingest reads them, in manifest order.</summary>
    public IReadOnlyList<IngestInput> Inputs { get; }

    /// <summary>Bytes handed to the ingest (after decompression).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>Files that did not reach the ingest whole.</summary>
    public int Failed => _files.Count(f => f.Failed);

    /// <summary>The HTTP status (or 0: no answer) of the first failed file, for the audit.</summary>
    public int? FirstFailureStatus => _files.FirstOrDefault(f => f.Failed)?.Status;

    /// <summary>Stops every download still running (the ingest is over) and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _dispatch.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopped
        }

        foreach (var f in _files.Where(f => !f.Started))
        {
            f.Abandon();
        }

        _stop.Dispose();
    }

    private static string SafeType(string type) => type.Length is > 0 and <= 64 && type.All(char.IsAsciiLetter) ? type : "data";

    /// <summary>Owner-only (0700): the saved files are the EHR's export, PHI.</summary>
    private static void CreateOwnerOnlyFolder(string folder)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(folder);
        }
        else
        {
            Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private sealed class FileDownload(BulkDownloads owner, BulkFile file, bool bearer, string source, string? savePath)
    {
        private readonly Pipe _pipe = new(new PipeOptions(
            pauseWriterThreshold: owner._client.Options.BufferBytesPerFile,
            resumeWriterThreshold: owner._client.Options.BufferBytesPerFile / 2,
            useSynchronizationContext: false));

        private readonly TaskCompletionSource _opened = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public string Source { get; } = source;

        public bool Failed { get; private set; }

        public int? Status { get; private set; }

        /// <summary>Its download was started (it then completes the pipe itself, whatever happens).</summary>
        public bool Started { get; set; }

        /// <summary>The ingest's reader reaches the file: wait until its download answered, then read the pipe.</summary>
        public Stream Open()
        {
            try
            {
                _opened.Task.GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new IngestInputException(new FileProblem("download_cancelled", "the pull was stopped before this Bulk Data file was downloaded; nothing read"));
            }

            return _pipe.Reader.AsStream();
        }

        public void Abandon()
        {
            _opened.TrySetCanceled();
            _pipe.Writer.Complete(new IOException("the pull stopped before this file was downloaded to its end"));
        }

        public async Task RunAsync(CancellationToken cancellationToken)
        {
            var client = owner._client;
            long handed = 0;
            var buffer = new byte[81920];
            FileStream? save = savePath is null ? null : OpenSave(savePath);
            try
            {
                for (var attempt = 0; ; attempt++)
                {
                    HttpResponseMessage? response = null;
                    try
                    {
                        response = await client.GetFileAsync(file.Url, bearer, "download", cancellationToken).ConfigureAwait(false);
                        if (response.StatusCode != HttpStatusCode.OK)
                        {
                            Status = (int)response.StatusCode;
                            if (attempt < client.Options.MaxRetries && (int)response.StatusCode >= 500)
                            {
                                client.CountRetry(); // a 500 on a file is retried too: a file is a static resource, worth another try
                                await Task.Delay(client.Backoff(attempt + 1), client.Time, cancellationToken).ConfigureAwait(false);
                                continue;
                            }

                            Fail(Status);
                            return;
                        }

                        Status = 200;
                        _opened.TrySetResult();
                        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                        var skip = handed; // resumed: these bytes reached the ingest already
                        int read;
                        while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                        {
                            var from = 0;
                            if (skip > 0)
                            {
                                from = (int)Math.Min(skip, read);
                                skip -= from;
                                if (from == read)
                                {
                                    continue;
                                }
                            }

                            var fresh = buffer.AsMemory(from, read - from);
                            if (save is not null)
                            {
                                await save.WriteAsync(fresh, cancellationToken).ConfigureAwait(false);
                            }

                            var flushed = await _pipe.Writer.WriteAsync(fresh, cancellationToken).ConfigureAwait(false);
                            handed += fresh.Length;
                            Interlocked.Add(ref owner._bytes, fresh.Length);
                            if (flushed.IsCompleted)
                            {
                                return; // the ingest stopped reading this file
                            }
                        }

                        if (skip > 0)
                        {
                            throw new IOException("the file is shorter than what was already read of it");
                        }

                        await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
                        return;
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or InvalidDataException or TaskCanceledException && attempt < client.Options.MaxRetries)
                    {
                        client.CountRetry();
                        await Task.Delay(client.Backoff(attempt + 1), client.Time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or IOException or InvalidDataException or TaskCanceledException or BulkExportException)
                    {
                        Fail(Status);
                        return;
                    }
                    finally
                    {
                        response?.Dispose();
                    }
                }
            }
            catch (OperationCanceledException)
            {
                _opened.TrySetCanceled(cancellationToken);
                await _pipe.Writer.CompleteAsync(new IOException("the pull was stopped before this file was downloaded to its end")).ConfigureAwait(false);
            }
            finally
            {
                if (save is not null)
                {
                    await save.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        public void Broken() => Fail(Status);

        private void Fail(int? status)
        {
            Failed = true;
            // Before any byte: the ingest reports the file as not read; after some: a read error, and the lines before it stay.
            if (!_opened.TrySetException(new IngestInputException(DownloadFailed(status))))
            {
                _pipe.Writer.Complete(new IOException("the Bulk Data file's download broke off and could not be resumed after its retries"));
            }
            else
            {
                _pipe.Writer.Complete();
            }
        }

        private static FileStream OpenSave(string path)
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 1 << 16, Options = FileOptions.Asynchronous };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            return new FileStream(path, options);
        }
    }
}
