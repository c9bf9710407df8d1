using System.Globalization;
using Dapper;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>The enrolled nodes, their last contact and protocol version, and the enrollment tokens (admins issue and revoke).</summary>
public sealed class FederationModel(CoordinatorStore store, NodeGateway gateway, IOptions<CoordinatorOptions> coordinatorOptions) : DashboardPageModel
{
    /// <summary>A node not heard from for this long is shown as silent (its long-poll normally calls every few seconds).</summary>
    public static readonly TimeSpan SilentAfter = TimeSpan.FromMinutes(2);

    public override string Section => "federation";

    public IReadOnlyList<NodeRow> Nodes { get; private set; } = [];

    public IReadOnlyList<TokenRow> Tokens { get; private set; } = [];

    /// <summary>A token just issued: shown once, never stored in clear.</summary>
    [TempData]
    public string? IssuedToken { get; set; }

    [TempData]
    public string? Notice { get; set; }

    public void OnGet() => Load();

    public async Task<IActionResult> OnPostIssueTokenAsync()
    {
        if (!await Allowed(DashboardPolicies.Administer))
        {
            return Forbid();
        }

        IssuedToken = gateway.CreateEnrollmentToken(DateTimeOffset.UtcNow, TimeSpan.FromSeconds(coordinatorOptions.Value.EnrollmentTokenLifetimeSeconds));
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostRevokeTokenAsync(string token)
    {
        if (!await Allowed(DashboardPolicies.Administer))
        {
            return Forbid();
        }

        Notice = gateway.RevokeEnrollmentToken(token, User.Identity?.Name ?? "dashboard", DateTimeOffset.UtcNow)
            ? "The enrollment token is revoked."
            : "That token was already used or revoked.";
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostRevokeNodeAsync(string node)
    {
        if (!await Allowed(DashboardPolicies.Administer))
        {
            return Forbid();
        }

        Notice = gateway.RevokeNode(new NodeId(node), User.Identity?.Name ?? "dashboard", DateTimeOffset.UtcNow)
            ? $"Node {node} is revoked: the coordinator refuses its signed requests from now on."
            : "That node was already revoked.";
        return RedirectToPage();
    }

    public static string Status(NodeRow node, DateTimeOffset now) =>
        node.Revoked ? "revoked"
        : node.LastSeen is null ? "never seen"
        : now - node.LastSeen.Value > SilentAfter ? "silent"
        : "online";

    private void Load()
    {
        Nodes = store.Read(c => c.Query<(string node_id, string name, string enrolled_at, string? last_seen_at, long protocol_version, long revoked)>(
            "SELECT node_id, name, enrolled_at, last_seen_at, protocol_version, revoked FROM nodes ORDER BY name")
            .Select(n => new NodeRow(n.node_id, n.name, Parse(n.enrolled_at)!.Value, Parse(n.last_seen_at), n.protocol_version, n.revoked != 0)).ToList());
        Tokens = store.Read(c => c.Query<(string token_hash, string created_at, string expires_at, string? used_by, long revoked)>(
            "SELECT token_hash, created_at, expires_at, used_by, revoked FROM enrollment_tokens ORDER BY created_at DESC LIMIT 50")
            .Select(t => new TokenRow(t.token_hash, Parse(t.created_at)!.Value, Parse(t.expires_at)!.Value, t.used_by, t.revoked != 0)).ToList());
    }

    private static DateTimeOffset? Parse(string? value) => value is null ? null : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture);

    public sealed record NodeRow(string Id, string Name, DateTimeOffset Enrolled, DateTimeOffset? LastSeen, long ProtocolVersion, bool Revoked);

    public sealed record TokenRow(string Sha256, DateTimeOffset Created, DateTimeOffset Expires, string? UsedBy, bool Revoked)
    {
        public string State(DateTimeOffset now) => Revoked ? "revoked" : UsedBy is not null ? "used" : Expires < now ? "expired" : "unused";
    }
}
