using Dapper;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Audit;
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
    NodeStatus status,
    IHttpClientFactory httpClients,
    IOptions<NodeOptions> options,
    ILogger<NodeWorker> logger) : BackgroundService
{
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    private string? _lastRejection;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retry = TimeSpan.FromMilliseconds(options.Value.RetryDelayMilliseconds);
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

                var work = await client.Get<WorkResponse>($"/v1/node/work?wait={options.Value.PollWaitSeconds}", stoppingToken);
                status.LastContact = DateTimeOffset.UtcNow;
                status.LastError = null;
                _lastRejection = null;
                foreach (var item in work.Items)
                {
                    await Handle(client, item, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
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
                await Task.Delay(retry, stoppingToken);
            }
        }
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

        var http = httpClients.CreateClient("coordinator");
        http.BaseAddress = new Uri(enrollment.CoordinatorUrl);
        http.Timeout = TimeSpan.FromSeconds(options.Value.PollWaitSeconds + 60);
        return new CoordinatorClient(http, node.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(options.Value.SignatureWindowSeconds), AuditHead);
    }

    /// <summary>This node's audit chain head, sent (signed) with every request so the coordinator holds it.</summary>
    private string AuditHead()
    {
        var head = node.Store.Read(c => FederatedTwin.Protocol.Audit.AuditLog.Head(c, null));
        return FederationProtocol.AuditHead(head?.Seq ?? 0, head?.Hash);
    }

    /// <summary>
    /// The policy decision, recorded with the privacy it spends in one transaction: the ρ a study declares is
    /// charged to the purpose's budget for the calendar year when the node accepts (whether or not the study
    /// later completes — its noisy statistics may already have left), so concurrent offers cannot overspend.
    /// </summary>
    private PolicyDecision Decide(StudySpec study) => node.Store.Write((c, t) =>
    {
        var year = DateTimeOffset.UtcNow.Year;
        var existing = c.QuerySingleOrDefault<(long accept, string rule, string reason)?>("SELECT accept, rule, reason FROM decisions WHERE study_id=@s", new { s = study.Id.Value }, t);
        if (existing is { } known)
        {
            return new PolicyDecision(known.accept == 1, known.rule, known.reason); // an offer seen again: the same answer, charged once
        }

        var spent = c.ExecuteScalar<double?>("SELECT SUM(rho) FROM privacy_ledger WHERE purpose=@p AND year=@year", new { p = study.PurposeOfUse.Code, year }, t) ?? 0;
        var lifetime = c.ExecuteScalar<double?>("SELECT SUM(rho) FROM privacy_ledger WHERE purpose=@p", new { p = study.PurposeOfUse.Code }, t) ?? 0;
        var (policy, policySha256) = node.LoadPolicyWithHash();
        var decision = policy.Decide(study, spent);
        if (SitePolicy.StudyRho(study) > 0)
        {
            // The period's spend is what the rule checks; the lifetime spend is always reported next to it.
            decision = decision with { Reason = FormattableString.Invariant($"{decision.Reason} (rho spent for {study.PurposeOfUse}: {spent:G4} this year, {lifetime:G4} lifetime)") };
        }

        var now = DateTimeOffset.UtcNow.ToString("O");
        c.Execute("""
            INSERT INTO decisions(study_id, accept, rule, reason, purpose_of_use, algorithm, decided_at, spec_json)
            VALUES (@s, @a, @rule, @reason, @p, @alg, @now, @spec)
            """, new { s = study.Id.Value, a = decision.Accept ? 1 : 0, rule = decision.Rule, reason = decision.Reason, p = study.PurposeOfUse.Code, alg = study.Algorithm, now, spec = System.Text.Encoding.UTF8.GetString(WireJson.Serialize(study)) }, t);
        if (decision.Accept && SitePolicy.StudyRho(study) is > 0 and var rho)
        {
            c.Execute("INSERT INTO privacy_ledger(study_id, purpose, year, rho, recorded_at) VALUES (@s, @p, @year, @rho, @now)", new { s = study.Id.Value, p = study.PurposeOfUse.Code, year, rho, now }, t);
        }

        node.Audit.Append(c, t, NodeAuditRecords.StudyDecision(study, decision, policySha256));
        node.Audit.Checkpoint(c, t, CheckpointReasons.StudyDecision);

        return decision;
    });

    private async Task Handle(CoordinatorClient client, WorkItem item, CancellationToken cancellationToken)
    {
        var key = $"{item.Kind}/{item.Study.Id}/{item.Round}/{item.Attempt}";
        if (_refused.Contains(key))
        {
            return;
        }

        var attemptPath = $"/v1/node/attempts/{item.Study.Id}/{item.Round}/{item.Attempt}";
        try
        {
            switch (item.Kind)
            {
                case WorkKind.StudyOffer:
                    var decision = Decide(item.Study);
                    node.Store.Event(decision.Accept ? "study_accepted" : "study_refused", item.Study.Id.Value, $"{decision.Rule}: {decision.Reason}");
                    await client.Post($"/v1/node/studies/{item.Study.Id}/decision", new StudyDecision(item.Study.Id, decision.Accept, decision.Rule, decision.Reason), cancellationToken);
                    break;
                case WorkKind.KeyShare:
                    await client.Post($"{attemptPath}/{SignedStatement.KeyShare}", participant.KeyShare(item), cancellationToken);
                    break;
                case WorkKind.Encrypt:
                    var collectiveKey = await client.Get<CollectiveKeyAnnouncement>($"{attemptPath}/key", cancellationToken);
                    var roster = await client.Get<List<NodeRecord>>("/v1/node/nodes", cancellationToken);
                    await client.Post($"{attemptPath}/{SignedStatement.Update}", participant.Update(item, collectiveKey, roster), cancellationToken);
                    break;
                case WorkKind.Decrypt:
                    var aggregate = await client.Get<AggregateAnnouncement>($"{attemptPath}/aggregate", cancellationToken);
                    var members = await client.Get<List<NodeRecord>>("/v1/node/nodes", cancellationToken);
                    await client.Post($"{attemptPath}/{SignedStatement.DecryptionShare}", participant.DecryptionShare(item, aggregate, members, DateTimeOffset.UtcNow), cancellationToken);
                    break;
            }
        }
        catch (Exception e) when (e is ParticipationRefusedException or InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException or OverflowException)
        {
            // A study this node cannot compute (a parameter missing or malformed, a vector it lacks) is refused
            // for this item, recorded and logged; it does not stop the worker, which serves the other studies.
            _refused.Add(key);
            node.Store.Event("contribution_refused", item.Study.Id.Value, $"{item.Kind} round {item.Round} attempt {item.Attempt}: {e.Message}");
            RoundParticipant.LogRefusal(logger, item.Study.Id.Value, item.Round, item.Attempt, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling the coordinator failed: {Reason}")]
    private static partial void LogPollFailed(ILogger logger, string reason);
}
