using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Dashboard.Pages;

/// <summary>The enrolled nodes, their last contact and protocol version, and the enrollment tokens (admins issue and revoke).</summary>
public sealed class FederationModel(CoordinatorStore store, NodeGateway gateway, IOptions<CoordinatorOptions> coordinatorOptions, LeaderLease lease, TimeProvider? clock = null) : DashboardPageModel
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>A node not heard from for this long is shown as silent (its long-poll normally calls every few seconds).</summary>
    public static readonly TimeSpan SilentAfter = TimeSpan.FromMinutes(2);

    public override string Section => "federation";

    public IReadOnlyList<NodeRow> Nodes { get; private set; } = [];

    public IReadOnlyList<TokenRow> Tokens { get; private set; } = [];

    /// <summary>This replica and the round engine's lease (docs/operations.md, "Running replicas"); mode "single" with SQLite.</summary>
    public LeaseStatus? Replica { get; private set; }

    /// <summary>The instant the page is shown at (last contacts and token expiry are relative to it).</summary>
    public DateTimeOffset Now => _clock.GetUtcNow();

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

        IssuedToken = gateway.CreateEnrollmentToken(_clock.GetUtcNow(), TimeSpan.FromSeconds(coordinatorOptions.Value.EnrollmentTokenLifetimeSeconds));
        return RedirectToPage();
    }

    public async Task<IActionResult> OnPostRevokeTokenAsync(string token)
    {
        if (!await Allowed(DashboardPolicies.Administer))
        {
            return Forbid();
        }

        Notice = gateway.RevokeEnrollmentToken(token, User.Identity?.Name ?? "dashboard", _clock.GetUtcNow())
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

        Notice = gateway.RevokeNode(new NodeId(node), User.Identity?.Name ?? "dashboard", _clock.GetUtcNow())
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
        Replica = lease.Status();
        var freshness = store.Read(NodeQueries.DataFreshness);
        Nodes = store.Read(c => NodeQueries.All(c, NodeOrder.Name)
            .Select(n => new NodeRow(n.node_id, n.name, StoredTime.Parse(n.enrolled_at), StoredTime.ParseOrNull(n.last_seen_at), n.protocol_version, n.revoked != 0)
            {
                DataChanged = freshness.TryGetValue(n.node_id, out var f) ? StoredTime.ParseOrNull(f.ChangedAt) : null,
            }).ToList());
        Tokens = store.Read(c => EnrollmentQueries.Recent(c, 50)
            .Select(t => new TokenRow(t.token_hash, StoredTime.Parse(t.created_at), StoredTime.Parse(t.expires_at), t.used_by, t.revoked != 0)).ToList());
    }

    public sealed record NodeRow(string Id, string Name, DateTimeOffset Enrolled, DateTimeOffset? LastSeen, long ProtocolVersion, bool Revoked)
    {
        /// <summary>When the node's reported data version last changed (docs/privacy.md, "Data freshness"); null: it never reported one.</summary>
        public DateTimeOffset? DataChanged { get; init; }
    }

    public sealed record TokenRow(string Sha256, DateTimeOffset Created, DateTimeOffset Expires, string? UsedBy, bool Revoked)
    {
        public string State(DateTimeOffset now) => Revoked ? "revoked" : UsedBy is not null ? "used" : Expires < now ? "expired" : "unused";
    }
}
