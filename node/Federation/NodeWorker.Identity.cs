using Microsoft.Extensions.Logging;

namespace FederatedTwin.Node.Federation;

/// <summary>The worker's side of the node's identity: finishing a pending key rotation, and noticing that the coordinator no longer accepts the node.</summary>
public sealed partial class NodeWorker
{
    /// <summary>
    /// A node the coordinator refuses keeps polling, but slowly: the refusal is recorded once, and each refused request is
    /// an authentication_failure in the coordinator's trail.
    /// </summary>
    internal static TimeSpan RefusedRetryDelay(TimeSpan retry) => retry > TimeSpan.FromSeconds(30) ? retry : TimeSpan.FromSeconds(30);

    /// <summary>Finishes a rotation that a crash (of this process or of `ftwin node key rotate`) left pending; a failure is logged and retried at the next start or refusal.</summary>
    private async Task ResumeRotation(CancellationToken cancellationToken)
    {
        if (!File.Exists(node.Keys.PendingPath) || node.Store.GetEnrollment() is not { } enrollment)
        {
            return;
        }

        if (Hosting.Security.UrlPolicy.Refusal(new Uri(enrollment.CoordinatorUrl), "the coordinator URL this node enrolled with") is { } insecure)
        {
            LogRotationPending(logger, insecure);
            return;
        }

        try
        {
            using var http = httpClients.CreateClient("coordinator");
            http.BaseAddress = new Uri(enrollment.CoordinatorUrl);
            if (await IdentityRotation.ResumePending(node, http, cancellationToken) is { } done)
            {
                LogRotationFinished(logger, done.OldPublicKey, done.NewPublicKey);
            }
        }
        catch (Exception e) when (e is HttpRequestException or CoordinatorRefusedException or InvalidOperationException or TaskCanceledException or System.Text.Json.JsonException)
        {
            LogRotationPending(logger, e.Message);
        }
    }

    /// <summary>
    /// A signed refusal of this node's identity: finish the rotation when the coordinator holds the pending key, else
    /// record the refusal (once). True when the coordinator refuses the node's identity.
    /// </summary>
    private async Task<bool> OnRefused(CoordinatorRefusedException e, CancellationToken cancellationToken)
    {
        if (node.Store.GetEnrollment() is not { } enrollment)
        {
            return false;
        }

        var own = node.Identity.PublicKey;
        if (node.Keys.Pending() is { } pending && EnrollmentEvidence.CoordinatorHolds(e, enrollment.NodeId, own, pending.PublicKey))
        {
            await ResumeRotation(cancellationToken);
            return false;
        }

        if (EnrollmentEvidence.Read(e, enrollment.NodeId, own) is not { } refusal)
        {
            return false;
        }

        if (EnrollmentEvidence.Record(node, refusal))
        {
            LogEnrollmentRefused(logger, refusal.KindCode, refusal.Reason);
        }

        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Finished the pending identity key rotation: {OldKey} replaced by {NewKey}")]
    private static partial void LogRotationFinished(ILogger logger, string oldKey, string newKey);

    [LoggerMessage(Level = LogLevel.Warning, Message = "An identity key rotation is pending and could not be finished yet: {Reason}")]
    private static partial void LogRotationPending(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The coordinator refuses this node's identity ({Kind}): {Reason}. Recorded in the audit trail as enrollment_revoked.")]
    private static partial void LogEnrollmentRefused(ILogger logger, string kind, string reason);
}
