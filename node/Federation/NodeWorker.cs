using FederatedTwin.Crypto;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Audit;
using FederatedTwin.Protocol.Federation;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Node.Federation;

/// <summary>What the node's status page and health checks report about its link to the coordinator.</summary>
public sealed class NodeStatus
{
    public DateTimeOffset? LastContact { get; set; }

    public string? LastError { get; set; }

    public bool PolicyValid { get; set; }
}

/// <summary>
/// Pull, never push: the node long-polls the coordinator for work and answers it. The coordinator
/// never opens a connection to a node. State is in node.db, so a restart resumes.
/// </summary>
public sealed partial class NodeWorker(
    NodeDirectory node,
    RoundParticipant participant,
    IAdditiveThresholdScheme scheme,
    NodeStatus status,
    IHttpClientFactory httpClients,
    IOptions<NodeOptions> options,
    TimeProvider time,
    ILogger<NodeWorker> logger) : BackgroundService
{
    // Work items of different studies run at once (Handle), so what they share is thread-safe: the refused items, and the store,
    // where every check and charge is one serializable transaction (StudyDecisions.Decide, ReleaseLedger, RoundParticipant).
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _refused = new(StringComparer.Ordinal);
    private string? _rosterRefused;
    private readonly StudyDecisions _decisions = new(node, participant.MaxParties);
    private string? _lastRejection;
    private DateTimeOffset _secretsCheckedAt;

    /// <summary>Each study's items in flight (at most one task per study, so a study's items stay in order), by study id.</summary>
    private readonly Dictionary<string, Task> _running = new(StringComparer.Ordinal);

    /// <summary>Bounds the studies this node works on at once (Node:MaxConcurrentStudies).</summary>
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrentStudies, options.Value.MaxConcurrentStudies);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retry = TimeSpan.FromMilliseconds(options.Value.RetryDelayMilliseconds);
        await ResumeRotation(stoppingToken); // a key rotation a crash left pending is finished before anything else is signed
        Features.DataSnapshot.Collect(node.Store, time); // pins of studies that ended while the node was down
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var client = Connect();
                if (client is null)
                {
                    await Task.Delay(retry, stoppingToken);
                    continue;
                }

                // The published data version rides on the signed poll (docs/privacy.md, "Data freshness"): the coordinator learns only
                // that this hospital's data changed, which its study templates' refresh rules count.
                // A t-of-n member left out of the decrypting set is never asked for its share: its committee secret (like any attempt
                // secret) is deleted once its attempt is past the node's own deadline, checked at most every 30 s while the node polls.
                if (time.GetUtcNow() - _secretsCheckedAt > TimeSpan.FromSeconds(30))
                {
                    _secretsCheckedAt = time.GetUtcNow();
                    participant.RetireExpiredSecrets();
                }

                var dataVersion = node.Store.Read(Storage.FeatureQueries.PublishedVersion);
                var work = await client.Get<WorkResponse>($"/v1/node/work?wait={options.Value.PollWaitSeconds}&{FederationProtocol.DataVersionQuery}={dataVersion}", stoppingToken);
                status.LastContact = time.GetUtcNow();
                status.LastError = null;
                _lastRejection = null;
                await RefreshRoster(client, work.RosterVersion, work.RosterSha256, stoppingToken);
                await RefreshModels(client, work.ModelsSha256, stoppingToken);
                await Dispatch(client, work.Items, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                await Drain();
                return;
            }
            catch (Exception e) when (FederatedTwin.Hosting.Storage.StoreSizeCap.IsFull(e))
            {
                // node.db at its size cap (or the disk full): the step's transaction rolled back, nothing half-written; the work is
                // asked for again after the retry delay, and goes on once the cap is raised (a restart) or space is freed.
                status.LastError = FederatedTwin.Hosting.Storage.StoreSizeCap.Message("the node's store (node.db)", "--max-store-mb", "Node:MaxStoreMegabytes", node.Store.MaxSizeBytes);
                LogStoreFull(logger, status.LastError);
                await Task.Delay(retry, stoppingToken);
            }
            catch (Exception e) when (e is HttpRequestException or CoordinatorRefusedException or TaskCanceledException or System.Text.Json.JsonException)
            {
                // An answer that fails authentication is audited once per distinct failure, not once per retry,
                // and without the unauthenticated body's text (only our own sentence naming the check).
                if (e is CoordinatorRefusedException { Title: CoordinatorClient.UntrustedResponse } untrusted
                    && untrusted.Detail[..(untrusted.Detail.IndexOf(')', StringComparison.Ordinal) + 1)] is { Length: > 0 } failure
                    && failure != _lastRejection)
                {
                    node.Audit.Append(NodeAuditRecords.CoordinatorResponseRejected(untrusted.Status, failure));
                    _lastRejection = failure;
                }

                status.LastError = e.Message;
                LogPollFailed(logger, e.Message);
                var refused = e is CoordinatorRefusedException r && await OnRefused(r, stoppingToken);
                await Task.Delay(refused ? RefusedRetryDelay(retry) : retry, stoppingToken);
            }
        }
    }

    /// <summary>
    /// Starts the items of every study not already in flight, one task per study (its items in the order the coordinator lists them),
    /// at most Node:MaxConcurrentStudies at once; then waits until one study's task ends, so the next poll (which lists the items in
    /// flight again until they are answered) does not spin. A task's failure (the coordinator unreachable, a refusal of the
    /// request) surfaces here, into the poll loop's handling, when its study's task is collected.
    /// </summary>
    private async Task Dispatch(CoordinatorClient client, IReadOnlyList<WorkItem> items, CancellationToken cancellationToken)
    {
        foreach (var study in items.GroupBy(i => i.Study.Id.Value, StringComparer.Ordinal))
        {
            if (!_running.ContainsKey(study.Key))
            {
                var ordered = study.ToList();
                _running[study.Key] = Task.Run(() => HandleStudy(client, ordered, cancellationToken), cancellationToken);
            }
        }

        if (_running.Count > 0)
        {
            await Task.WhenAny(_running.Values);
        }

        Exception? failure = null;
        foreach (var (id, task) in _running.Where(r => r.Value.IsCompleted).ToList())
        {
            _running.Remove(id);
            if (task.Exception?.InnerException is { } e)
            {
                failure ??= e; // the first failure is handled as a failed poll; the others are the same outage, observed here
            }
        }

        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
    }

    private async Task HandleStudy(CoordinatorClient client, IReadOnlyList<WorkItem> items, CancellationToken cancellationToken)
    {
        await _slots.WaitAsync(cancellationToken);
        try
        {
            foreach (var item in items)
            {
                await Handle(client, item, cancellationToken);
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>On shutdown: lets the studies' tasks in flight end (they see the same cancellation), so none outlives the worker.</summary>
    private async Task Drain()
    {
        try
        {
            await Task.WhenAll(_running.Values);
        }
        catch (Exception)
        {
            // cancelled or failed on the way down: their state is in node.db, and the next start resumes from it
        }

        _running.Clear();
    }

    public override void Dispose()
    {
        _slots.Dispose();
        base.Dispose();
    }

    private CoordinatorClient? Connect()
    {
        var enrollment = node.Store.GetEnrollment();
        if (enrollment is null)
        {
            status.LastError = "not enrolled: run `ftwin node enroll` with a token from the ACO";
            return null;
        }

        var policy = node.LoadPolicy();
        status.PolicyValid = true;
        if (!policy.Trusts(enrollment.CoordinatorPublicKey))
        {
            status.LastError = "the coordinator this node enrolled with is not among the policy's trusted_coordinators: refusing to talk to it";
            return null;
        }

        // An enrollment from before https was required may name a plain http coordinator beyond loopback: nothing is sent to it.
        if (UrlPolicy.Refusal(new Uri(enrollment.CoordinatorUrl), "the coordinator URL this node enrolled with") is { } insecure)
        {
            status.LastError = insecure;
            return null;
        }

        var http = httpClients.CreateClient("coordinator");
        http.BaseAddress = new Uri(enrollment.CoordinatorUrl);
        http.Timeout = TimeSpan.FromSeconds(options.Value.PollWaitSeconds + 60);
        return new CoordinatorClient(http, node.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(options.Value.SignatureWindowSeconds), AuditHead, time);
    }

    /// <summary>This node's audit chain head, sent (signed) with every request so the coordinator holds it.</summary>
    private string AuditHead()
    {
        var head = node.Store.Read(c => FederatedTwin.Protocol.Audit.AuditLog.Head(c, null));
        return FederationProtocol.AuditHead(head?.Seq ?? 0, head?.Hash);
    }

    private async Task Handle(CoordinatorClient client, WorkItem item, CancellationToken cancellationToken)
    {
        var key = $"{item.Kind}/{item.Study.Id}/{item.Round}/{item.Attempt}";
        if (_refused.ContainsKey(key))
        {
            return;
        }

        var attemptPath = $"/v1/node/attempts/{item.Study.Id}/{item.Round}/{item.Attempt}";
        try
        {
            switch (item.Kind)
            {
                case WorkKind.StudyOffer:
                    var decision = _decisions.Decide(item.Study);
                    node.Store.Event(decision.Accept ? "study_accepted" : "study_refused", item.Study.Id.Value, $"{decision.Rule}: {decision.Reason}");
                    await client.Post($"/v1/node/studies/{item.Study.Id}/decision", new StudyDecision(item.Study.Id, decision.Accept, decision.Rule, decision.Reason), cancellationToken);
                    break;
                case WorkKind.CommitKeyShare:
                    await client.Post($"{attemptPath}/{ContributionKind.KeyShareCommitment}", participant.CommitKeyShare(item), cancellationToken);
                    break;
                case WorkKind.OpenKeyShare:
                    var keyCommitments = await client.Get<CommitmentSet>($"{attemptPath}/commitments/{ContributionKind.KeyShare}", cancellationToken);
                    await client.Post($"{attemptPath}/{ContributionKind.KeyShare}", participant.OpenKeyShare(item, keyCommitments), cancellationToken);
                    break;
                case WorkKind.CommitUpdate:
                    var collectiveKey = await client.Get<CollectiveKeyAnnouncement>($"{attemptPath}/key", cancellationToken, ResponseLimits.KeyAnnouncement(scheme, Parties(item)));
                    var dealt = item.Study.CommitteeThreshold is null ? null
                        : await client.Get<DealtShares>($"{attemptPath}/shares", cancellationToken, ResponseLimits.DealtShares(scheme, Parties(item)));
                    await client.Post($"{attemptPath}/{ContributionKind.UpdateCommitment}", participant.CommitUpdate(item, collectiveKey, dealt), cancellationToken);
                    break;
                case WorkKind.DealShares:
                    var dealingKey = await client.Get<CollectiveKeyAnnouncement>($"{attemptPath}/key", cancellationToken, ResponseLimits.KeyAnnouncement(scheme, Parties(item)));
                    await client.Post($"{attemptPath}/{ContributionKind.ShareDeal}", participant.DealShares(item, dealingKey), cancellationToken);
                    break;
                case WorkKind.DecryptReady:
                    var checkedAggregate = await client.Get<AggregateAnnouncement>($"{attemptPath}/aggregate", cancellationToken, ResponseLimits.AggregateAnnouncement(scheme, Parties(item), item.Request?.ValueCount ?? scheme.MaxValuesPerDecryption));
                    await client.Post($"{attemptPath}/{ContributionKind.DecryptReady}", participant.DecryptReady(item, checkedAggregate), cancellationToken);
                    break;
                case WorkKind.OpenUpdate:
                    var updateCommitments = await client.Get<CommitmentSet>($"{attemptPath}/commitments/{ContributionKind.Update}", cancellationToken);
                    await client.Post($"{attemptPath}/{ContributionKind.Update}", participant.OpenUpdate(item, updateCommitments), cancellationToken);
                    break;
                case WorkKind.Decrypt:
                    var aggregate = await client.Get<AggregateAnnouncement>($"{attemptPath}/aggregate", cancellationToken, ResponseLimits.AggregateAnnouncement(scheme, Parties(item), item.Request?.ValueCount ?? scheme.MaxValuesPerDecryption));
                    await client.Post($"{attemptPath}/{ContributionKind.DecryptionShare}", participant.DecryptionShare(item, aggregate), cancellationToken);
                    Features.DataSnapshot.Collect(node.Store, time); // a study's last round may end its pin on the data (docs/architecture.md, "Snapshots")
                    break;
            }
        }
        catch (Exception e) when (e is ParticipationRefusedException or InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException or OverflowException)
        {
            // A study this node cannot compute (a parameter missing or malformed, a vector it lacks) is refused
            // for this item, recorded and logged; it does not stop the worker, which serves the other studies.
            _refused.TryAdd(key, true);
            var rule = e is ParticipationRefusedException { Rule: { } r } ? $" [{r}]" : string.Empty;
            node.Store.Event("contribution_refused", item.Study.Id.Value, $"{item.Kind} round {item.Round} attempt {item.Attempt}{rule}: {e.Message}");
            RoundParticipant.LogRefusal(logger, item.Study.Id.Value, item.Round, item.Attempt, e.Message);
        }
    }

    /// <summary>
    /// How many parties an announcement of the study may carry: the max_nodes of the study as this node accepted it (the work item's
    /// own copy only when it accepted none, and the round is refused after the read anyway), bounded by the scheme's parties.
    /// </summary>
    private int Parties(WorkItem item)
    {
        int parties;
        try
        {
            parties = AcceptedStudy.Load(node.Store, item.Study.Id).Spec.MaxNodes;
        }
        catch (ParticipationRefusedException)
        {
            parties = item.Study.MaxNodes;
        }

        return Math.Clamp(parties, 1, scheme.MaxParties);
    }

    /// <summary>
    /// When the coordinator relays a roster version newer than the pinned one, fetch it and try to pin it: it is pinned only if this
    /// site's compliance officers approved it (<see cref="PinnedRoster"/>); a refusal is audited once per document and not retried
    /// for the same document (the ACO may relay the same version again with more approvals). The coordinator is only a courier here:
    /// it cannot make a node accept a member.
    /// </summary>
    private async Task RefreshRoster(CoordinatorClient client, int? relayed, string? relayedSha256, CancellationToken cancellationToken)
    {
        if (relayed is not { } version || (relayedSha256 is not null && relayedSha256 == _rosterRefused) || version <= (PinnedRoster.Load(node.Store)?.Version ?? 0))
        {
            return;
        }

        var document = await client.GetBytes("/v1/node/roster", cancellationToken);
        try
        {
            var pinned = PinnedRoster.Pin(node, document, "relayed by the coordinator");
            LogRosterPinned(logger, pinned.Roster.Federation, pinned.Version);
        }
        catch (RosterRefusedException e)
        {
            _rosterRefused = SignedStatement.Digest(document); // not fetched again unless the ACO relays another document (more approvals)
            LogRosterRefused(logger, version, e.Rule, e.Message);
        }
    }

    /// <summary>
    /// When the coordinator relays a model catalog digest other than the one this node last fetched, fetch the catalog and keep the
    /// models whose coordinator signature verifies under the pinned key (<see cref="Twins.NodeModelRegistry"/>). A failure is logged
    /// and retried at the next poll; the node's rounds do not wait on it.
    /// </summary>
    private async Task RefreshModels(CoordinatorClient client, string? relayed, CancellationToken cancellationToken)
    {
        if (relayed is null || relayed == Twins.NodeModelRegistry.CatalogDigest(node) || node.Store.GetEnrollment() is not { } enrollment)
        {
            return;
        }

        var result = await Twins.NodeModelRegistry.Fetch(node, client, enrollment.CoordinatorPublicKey, cancellationToken);
        LogModelsFetched(logger, result.Stored, result.Refused, result.Offered);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Fetched the federation's models: {Stored} new, {Refused} refused, of {Offered}")]
    private static partial void LogModelsFetched(ILogger logger, int stored, int refused, int offered);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pinned federation roster {Federation} version {Version}")]
    private static partial void LogRosterPinned(ILogger logger, string federation, int version);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused the roster version {Version} the coordinator relays [{Rule}]: {Reason}")]
    private static partial void LogRosterRefused(ILogger logger, int version, string rule, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "A round step failed: {Reason}")]
    private static partial void LogStoreFull(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling the coordinator failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
