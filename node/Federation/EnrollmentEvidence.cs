using System.Text.Json.Nodes;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Audit;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>Why the coordinator no longer accepts this node's identity.</summary>
public enum EnrollmentRefusalKind
{
    /// <summary>The ACO revoked the node's enrollment.</summary>
    Revoked,

    /// <summary>The coordinator has no node under this node id (e.g. its store was replaced).</summary>
    UnknownNode,

    /// <summary>The coordinator holds another key for this node id than the one the node signs with.</summary>
    KeyReplaced,
}

/// <summary>A signed 401 from the coordinator that refuses this node's identity, read from the problem it answered.</summary>
public sealed record EnrollmentRefusal(EnrollmentRefusalKind Kind, int Status, string ProblemType, string? EnrolledKeySha256, string Reason)
{
    public string KindCode => Kind switch
    {
        EnrollmentRefusalKind.Revoked => "revoked",
        EnrollmentRefusalKind.UnknownNode => "unknown_node",
        _ => "key_replaced",
    };
}

/// <summary>The latest refusal the node recorded, as its status shows it.</summary>
public sealed record RecordedEnrollmentRefusal(string At, string Kind, string Reason, string? EnrolledKeySha256);

/// <summary>
/// Evidence that the coordinator refuses this node's identity (45 CFR 164.312(b): the node keeps its own record of
/// losing its enrollment, not only the coordinator). Only a refusal the node can authenticate counts: a 401 whose
/// response signature verified under the pinned coordinator key, and whose problem names this node's id as the key
/// id refused (the coordinator repeats it in a signed body, so an attacker on the path who changed the request's key
/// id cannot make it look like this node's revocation). It is recorded once: not again while the last record of the
/// node's enrollment is that same refusal, however often the node polls.
/// </summary>
public static class EnrollmentEvidence
{
    /// <summary>The refusal an exception carries, or null when it is something else (or cannot be trusted).</summary>
    public static EnrollmentRefusal? Read(CoordinatorRefusedException e, string nodeId, string ownPublicKey)
    {
        if (e.Status != 401 || e.Problem is not { } problem || Member(problem, NodeAuthenticationProblem.KeyIdMember) != nodeId)
        {
            return null;
        }

        var type = Member(problem, "type") ?? string.Empty;
        var code = type.StartsWith(NodeAuthenticationProblem.TypePrefix, StringComparison.Ordinal) ? type[NodeAuthenticationProblem.TypePrefix.Length..] : type;
        var enrolled = Member(problem, NodeAuthenticationProblem.EnrolledKeyMember);
        var reason = $"{Member(problem, "title")}: {Member(problem, "detail")}";
        return code switch
        {
            NodeAuthenticationProblem.Revoked => new EnrollmentRefusal(EnrollmentRefusalKind.Revoked, e.Status, type, enrolled, reason),
            NodeAuthenticationProblem.UnknownKey => new EnrollmentRefusal(EnrollmentRefusalKind.UnknownNode, e.Status, type, enrolled, reason),
            // A bad signature under the very key this node holds is damage in transit, not a key the coordinator replaced.
            NodeAuthenticationProblem.BadSignature when enrolled is not null && enrolled != KeyRotationStatement.Fingerprint(ownPublicKey) =>
                new EnrollmentRefusal(EnrollmentRefusalKind.KeyReplaced, e.Status, type, enrolled, reason),
            _ => null,
        };
    }

    /// <summary>True when the coordinator refused the request because it holds <paramref name="publicKey"/> for this node (a rotation it already accepted).</summary>
    public static bool CoordinatorHolds(CoordinatorRefusedException e, string nodeId, string ownPublicKey, string publicKey) =>
        Read(e, nodeId, ownPublicKey) is { Kind: EnrollmentRefusalKind.KeyReplaced } refusal && refusal.EnrolledKeySha256 == KeyRotationStatement.Fingerprint(publicKey);

    /// <summary>Audits the refusal unless the node's last enrollment record is already this refusal; returns whether it appended.</summary>
    public static bool Record(NodeDirectory node, EnrollmentRefusal refusal)
    {
        var enrollment = node.Store.GetEnrollment();
        if (enrollment is null)
        {
            return false;
        }

        return node.Store.Write((c, t) =>
        {
            var last = Latest(c, t);
            if (last is not null && last.Kind == refusal.KindCode && last.EnrolledKeySha256 == refusal.EnrolledKeySha256)
            {
                return false;
            }

            node.Audit.Append(c, t, NodeAuditRecords.EnrollmentRevoked(
                enrollment.NodeId, enrollment.CoordinatorUrl, refusal.KindCode, refusal.Status, refusal.ProblemType, refusal.EnrolledKeySha256,
                KeyRotationStatement.Fingerprint(node.Keys.Current(c, t).PublicKey), refusal.Reason));
            node.Audit.Checkpoint(c, t, CheckpointReasons.Enrollment);
            return true;
        });
    }

    /// <summary>The refusal the node recorded last, unless a later entry (enrolled, a key rotation) supersedes it.</summary>
    public static RecordedEnrollmentRefusal? Latest(NodeDirectory node) => node.Store.Read(c => Latest(c, null));

    private static RecordedEnrollmentRefusal? Latest(System.Data.Common.DbConnection c, System.Data.Common.DbTransaction? t)
    {
        var revoked = AuditTrailQueries.LatestWithTime(c, t, [AuditActions.EnrollmentRevoked, AuditActions.Enrolled, AuditActions.IdentityKeyRotated]);
        if (revoked.Action != AuditActions.EnrollmentRevoked)
        {
            return null;
        }

        var detail = JsonNode.Parse(revoked.Detail)!.AsObject();
        return new RecordedEnrollmentRefusal(revoked.At, Member(detail, "kind") ?? "revoked", Member(detail, "reason") ?? string.Empty, Member(detail, "enrolled_key_sha256"));
    }

    private static string? Member(JsonObject obj, string name) => obj[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
