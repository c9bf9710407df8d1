using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FederatedTwin.Protocol.Audit;

namespace FederatedTwin.Protocol.Federation;

/// <summary>A member hospital of the federation and the Ed25519 key its node signs with.</summary>
public sealed record RosterMember(string Name, string NodeKey);

/// <summary>
/// The federation's membership: which hospitals are in it and the node key of each. It is the one list a node trusts when it
/// counts "distinct hospitals": the coordinator assigns node ids and issues enrollment tokens, so a roster it served would let
/// it enrol nodes of its own (sybils) and make a "sum of at least min_nodes hospitals" out of one real hospital and keys it
/// controls. The roster is therefore approved by each member hospital's compliance officers (<see cref="SignedRoster"/>) and
/// pinned on every node out of band; the coordinator may relay a new version, but a node pins it only when its own officers
/// signed it. Versions only go up, so an old roster (one that still lists a revoked key) cannot be replayed.
/// </summary>
public sealed partial record FederationRoster(string Federation, int Version, IReadOnlyList<RosterMember> Members, string? IssuedAt = null)
{
    /// <summary>The roster's canonical form (RFC 8785 JSON of the wire form): what its digest and every approval cover.</summary>
    public byte[] CanonicalBytes() => JsonCanonicalizer.Canonicalize(JsonNode.Parse(WireJson.Serialize(this)));

    /// <summary>Hex SHA-256 of the canonical form.</summary>
    public string Sha256() => Convert.ToHexStringLower(SHA256.HashData(CanonicalBytes()));

    /// <summary>The member whose node signs with this key, if any.</summary>
    public RosterMember? MemberOf(string publicKey) => Members.FirstOrDefault(m => string.Equals(m.NodeKey, publicKey, StringComparison.Ordinal));

    /// <summary>
    /// Refuses a roster that cannot be used, naming what is wrong: a federation id of lowercase letters, digits and dashes, a
    /// version of at least 1, at least two members (a "federation" of one hospital has no sum to hide in), names and keys
    /// that are unique, and keys that are 32-byte Ed25519 public keys.
    /// </summary>
    public void Validate()
    {
        if (string.IsNullOrEmpty(Federation) || Federation.Length > 64 || !FederationPattern().IsMatch(Federation))
        {
            throw new RosterException("federation", "a federation id is 1-64 lowercase letters, digits and dashes");
        }

        if (Version < 1)
        {
            throw new RosterException("version", "must be at least 1");
        }

        if (Members is null || Members.Count < 2)
        {
            throw new RosterException("members", "a roster lists at least two member hospitals");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);
        Span<byte> raw = stackalloc byte[32];
        foreach (var m in Members)
        {
            if (string.IsNullOrWhiteSpace(m.Name) || m.Name.Length > 100 || m.Name.Any(char.IsControl))
            {
                throw new RosterException("members.name", "every member has a name of 1-100 printable characters");
            }

            if (!names.Add(m.Name))
            {
                throw new RosterException("members.name", $"member '{m.Name}' is listed twice");
            }

            if (m.NodeKey is null || !Convert.TryFromBase64String(m.NodeKey, raw, out var written) || written != 32 || Convert.ToBase64String(raw) != m.NodeKey)
            {
                throw new RosterException("members.node_key", $"member '{m.Name}': node_key is not a base64 32-byte Ed25519 public key");
            }

            if (!keys.Add(m.NodeKey))
            {
                throw new RosterException("members.node_key", $"member '{m.Name}': its key is already another member's");
            }
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex FederationPattern();
}

/// <summary>A compliance officer's approval of one roster version: an Ed25519 signature over its digest, domain-separated.</summary>
public sealed record RosterApproval(string Signer, string Signature);

/// <summary>
/// A roster with the approvals of the member hospitals' compliance officers (one file, <c>roster.json</c>, passed around and
/// countersigned like a contract). A node pins it only if one of the officers listed in its own directory approved exactly
/// these bytes (<see cref="ApprovedBy"/>).
/// </summary>
public sealed record SignedRoster(FederationRoster Roster, IReadOnlyList<RosterApproval> Approvals)
{
    /// <summary>What an officer's approval signs: the purpose and the roster's digest, so a policy approval is never a roster approval.</summary>
    public static byte[] Statement(string rosterSha256) => Encoding.UTF8.GetBytes("ftwin/roster-approval/v1\n" + rosterSha256);

    public static SignedRoster Parse(ReadOnlySpan<byte> json)
    {
        SignedRoster roster;
        try
        {
            roster = WireJson.Deserialize<SignedRoster>(json);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ArgumentException or NotSupportedException)
        {
            throw new RosterException("roster", "not a roster document (JSON with `roster` and `approvals`)");
        }

        if (roster.Roster is null || roster.Approvals is null)
        {
            throw new RosterException("roster", "a roster document has `roster` and `approvals`");
        }

        roster.Roster.Validate();
        return roster;
    }

    public byte[] ToJson() => WireJson.Serialize(this);

    /// <summary>This document with one more approval, by <paramref name="officer"/> (an earlier approval by the same key is replaced).</summary>
    public SignedRoster Approve(Ed25519Identity officer)
    {
        ArgumentNullException.ThrowIfNull(officer);
        var approval = new RosterApproval(officer.PublicKey, Convert.ToBase64String(officer.Sign(Statement(Roster.Sha256()))));
        return this with { Approvals = [.. Approvals.Where(a => a.Signer != officer.PublicKey), approval] };
    }

    /// <summary>The first approval that is a valid signature over this roster by one of <paramref name="officers"/>; null if none.</summary>
    public RosterApproval? ApprovedBy(IReadOnlyCollection<string> officers)
    {
        ArgumentNullException.ThrowIfNull(officers);
        var statement = Statement(Roster.Sha256());
        foreach (var a in Approvals)
        {
            if (a is null || !officers.Contains(a.Signer))
            {
                continue;
            }

            var signature = new byte[64];
            if (Convert.TryFromBase64String(a.Signature ?? string.Empty, signature, out var n) && n == 64 && Ed25519Identity.Verify(a.Signer, statement, signature))
            {
                return a;
            }
        }

        return null;
    }
}

/// <summary>A roster document that cannot be used, naming the field.</summary>
public sealed class RosterException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}
