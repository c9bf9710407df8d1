using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Identity;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Node.Status;

/// <summary>
/// Where the node stands with its coordinator and its own keys, for /v1/status and the status page: enrolled or not,
/// refused by the coordinator (revoked, unknown, or another key under its id, as the node recorded it in its audit
/// trail), a key rotation left pending, and the keys it retired.
/// </summary>
internal sealed record EnrollmentState(string State, RecordedEnrollmentRefusal? Refusal, bool KeyRotationPending, IReadOnlyList<RetiredIdentityKey> RetiredKeys)
{
    public const string NotEnrolled = "not_enrolled";
    public const string Enrolled = "enrolled";

    public bool Refused => Refusal is not null;

    public static EnrollmentState Read(NodeDirectory node, NodeStatus status)
    {
        var enrolled = node.Store.GetEnrollment() is not null;
        var refusal = enrolled ? EnrollmentEvidence.Latest(node) : null;
        // A poll that succeeded after the refusal was recorded (this process's own contact) means the coordinator accepts the node again.
        if (refusal is not null && status.LastContact is { } contact && contact > AuditChain.ParseTimestamp(refusal.At))
        {
            refusal = null;
        }

        var state = !enrolled ? NotEnrolled : refusal?.Kind switch
        {
            null => Enrolled,
            "unknown_node" => "unknown_to_coordinator",
            var kind => kind,
        };
        return new EnrollmentState(state, refusal, File.Exists(node.Keys.PendingPath), ReadHistory(node.Path));
    }

    private static IReadOnlyList<RetiredIdentityKey> ReadHistory(string directory)
    {
        try
        {
            return IdentityKeyHistory.Read(directory) ?? [];
        }
        catch (InvalidDataException)
        {
            return []; // `ftwin audit verify` reports a damaged history file; the status page shows what it can
        }
    }

    public string Describe() => State switch
    {
        NotEnrolled => "not enrolled",
        Enrolled => "enrolled",
        "revoked" => "revoked by the coordinator",
        "unknown_to_coordinator" => "unknown to the coordinator",
        _ => "the coordinator holds another key for this node",
    };
}
