using System.Text.Json;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Sources;

/// <summary>
/// Scheduled pulls in `ftwin node run` (issue 22): every source of node-config.json with an <see cref="DataSource.Every"/> is pulled
/// when due (<see cref="SourceSchedule"/>), since its watermark (the transaction time of its last successful pull: `--since last`),
/// through the <see cref="ISourcePuller"/> of its kind. Sources are pulled one at a time, so a source never has two pulls at once
/// and the ingest lock is never contended by the scheduler itself. A failed pull keeps the watermark (the puller records it only
/// on success) and is retried after min(every, 15 min), doubled for each failure in a row. node-config.json is read again before
/// every round, so a source added or removed with `ftwin node source` is picked up without a restart; a configuration that does
/// not parse keeps the last one that did, and is logged. Runs on the node's clock (<see cref="TimeProvider"/>).
/// </summary>
public sealed partial class SourceScheduler(NodeDirectory node, IEnumerable<ISourcePuller> pullers, TimeProvider time, ILogger<SourceScheduler> logger) : BackgroundService
{
    /// <summary>The longest sleep between rounds: how soon a configuration change is noticed.</summary>
    public static readonly TimeSpan MaxSleep = TimeSpan.FromMinutes(1);

    private readonly Dictionary<SourceKind, ISourcePuller> _pullers = pullers.GroupBy(p => p.Kind).ToDictionary(g => g.Key, g => g.Last());
    private readonly Dictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly HashSet<string> _noPullerAudited = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private IReadOnlyList<DataSource> _sources = [];
    private string? _configError;

    private readonly Dictionary<string, DateTimeOffset> _started = new(StringComparer.Ordinal);

    /// <summary>Failures in a row of a source as this scheduler counted them (null: none since it started).</summary>
    public int? Failures(string name)
    {
        lock (_gate)
        {
            return _failures.TryGetValue(name, out var n) ? n : null;
        }
    }

    /// <summary>
    /// When this scheduler pulls the source next: from the start of the last pull it ran (the stored last pull otherwise, which a
    /// puller may record when the pull ended) and the failures in a row it counted.
    /// </summary>
    public DateTimeOffset? NextRun(DataSource source, SourcePullState? state, DateTimeOffset now)
    {
        DateTimeOffset? started;
        lock (_gate)
        {
            started = _started.TryGetValue(source.Name, out var s) ? s : null;
        }

        if (started is { } at)
        {
            var failures = Failures(source.Name) ?? 0;
            state = (state ?? new SourcePullState(source.WatermarkKey, null, null, null, null, null)) with
            {
                LastPullAt = at.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                LastStatus = failures > 0 ? "failed" : "succeeded",
            };
            return SourceSchedule.NextRun(source, state, now, failures);
        }

        return SourceSchedule.NextRun(source, state, now, Failures(source.Name));
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan sleep;
            try
            {
                sleep = await RunDueAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // The store itself failed (full, locked too long): a hosted service that throws would stop the node, rounds and all;
                // the next round tries again.
                LogRoundFailed(logger, e.GetType().Name);
                sleep = MaxSleep;
            }

            try
            {
                await Task.Delay(sleep, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// One round: reloads the configuration and pulls, one after another, every scheduled source that is due. Returns how long to
    /// sleep before the next round (until the next source is due, at most <see cref="MaxSleep"/>).
    /// </summary>
    public async Task<TimeSpan> RunDueAsync(CancellationToken cancellationToken)
    {
        var sources = Reload();
        foreach (var source in sources.Where(s => s.Every is not null))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var state = node.Store.Read(c => SourceQueries.Get(c, source.WatermarkKey));
            if (NextRun(source, state, time.GetUtcNow()) > time.GetUtcNow())
            {
                continue;
            }

            await PullAsync(source, state, cancellationToken);
        }

        var now = time.GetUtcNow();
        var next = sources.Where(s => s.Every is not null)
            .Select(s => NextRun(s, node.Store.Read(c => SourceQueries.Get(c, s.WatermarkKey)), now) ?? now + MaxSleep)
            .DefaultIfEmpty(now + MaxSleep).Min();
        var sleep = next - now;
        return sleep < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : sleep > MaxSleep ? MaxSleep : sleep;
    }

    private async Task PullAsync(DataSource source, SourcePullState? before, CancellationToken cancellationToken)
    {
        var started = time.GetUtcNow();
        lock (_gate)
        {
            _started[source.Name] = started;
        }

        if (!_pullers.TryGetValue(source.Kind, out var puller))
        {
            // Said once per source and process (the retry every few minutes would fill the trail), and kept as the source's last outcome.
            LogNoPuller(logger, source.Name, SourceConfiguration.KindName(source.Kind));
            if (_noPullerAudited.Add(source.Name))
            {
                node.Audit.Append(NodeAuditRecords.SourcePullNotDone(source.Name, source.Kind, "no_puller"));
            }

            Failed(source, started, "no_puller", null);
            return;
        }

        var since = SourceSchedule.ParseTime(before?.Watermark); // `--since last`: the last successful export's transaction time
        LogPulling(logger, source.Name, since is null ? "everything" : since.Value.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            var summary = await puller.PullAsync(node, source, new PullOptions(since), cancellationToken);
            if (!summary.Complete)
            {
                // Some files not read to their end: the watermark stayed (the puller's rule), and the pull is retried like a failure.
                LogIncomplete(logger, source.Name);
                Count(source.Name, failed: true);
                return;
            }

            Count(source.Name, failed: false);
            LogPulled(logger, source.Name, summary.Accepted, summary.Quarantined, summary.Deleted);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The exception's type only: its message may quote a server's answer or a URL.
            LogFailed(logger, source.Name, e.GetType().Name);
            node.Audit.Append(NodeAuditRecords.SourcePullNotDone(source.Name, source.Kind, "failed", e.GetType().Name));
            var after = node.Store.Read(c => SourceQueries.Get(c, source.WatermarkKey));
            Failed(source, started, "failed", e.GetType().Name, recordOutcome: after?.LastPullAt == before?.LastPullAt);
        }
    }

    /// <summary>A pull that did not happen or did not end: counted, and kept as the source's last outcome unless the puller recorded its own.</summary>
    private void Failed(DataSource source, DateTimeOffset at, string reason, string? error, bool recordOutcome = true)
    {
        Count(source.Name, failed: true);
        if (recordOutcome)
        {
            var detail = JsonSerializer.Serialize(new Dictionary<string, string?> { ["reason"] = reason, ["error"] = error });
            node.Store.Write((c, t) =>
            {
                SourceQueries.Failed(c, t, source.WatermarkKey, at.ToString("O", System.Globalization.CultureInfo.InvariantCulture), detail);
                return 0;
            });
        }
    }

    private void Count(string name, bool failed)
    {
        lock (_gate)
        {
            _failures[name] = failed ? _failures.GetValueOrDefault(name) + 1 : 0;
        }
    }

    /// <summary>node-config.json as it is now; the last valid one when it does not parse (said once per error).</summary>
    private IReadOnlyList<DataSource> Reload()
    {
        try
        {
            _sources = NodeConfiguration.Load(node.Path).Sources;
            _configError = null;
        }
        catch (Exception e) when (e is NodeConfigurationException or IOException)
        {
            if (_configError != e.Message)
            {
                _configError = e.Message;
                LogConfigInvalid(logger, e.Message);
            }
        }

        lock (_gate)
        {
            foreach (var gone in _failures.Keys.Where(n => _sources.All(s => s.Name != n)).ToList())
            {
                _failures.Remove(gone);
                _started.Remove(gone);
                _noPullerAudited.Remove(gone);
            }
        }

        return _sources;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Source {Source}: no puller for kind {Kind} in this build; it is not pulled (audited as source_pull_not_done)")]
    private static partial void LogNoPuller(ILogger logger, string source, string kind);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source}: pulling (since {Since})")]
    private static partial void LogPulling(ILogger logger, string source, string since);

    [LoggerMessage(Level = LogLevel.Information, Message = "Source {Source}: pulled, {Accepted} accepted, {Quarantined} quarantined, {Deleted} deleted")]
    private static partial void LogPulled(ILogger logger, string source, long accepted, long quarantined, long deleted);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source}: pull incomplete (some files not read to their end); retried later, the watermark kept")]
    private static partial void LogIncomplete(ILogger logger, string source);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source {Source}: pull failed ({Error}); retried later, the watermark kept")]
    private static partial void LogFailed(ILogger logger, string source, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "A round of scheduled pulls failed ({Error}); tried again in a minute")]
    private static partial void LogRoundFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "node-config.json is not valid; the sources last read are kept: {Error}")]
    private static partial void LogConfigInvalid(ILogger logger, string error);
}
