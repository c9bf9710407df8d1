using System.Security.Cryptography;
using System.Text.Json;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace FederatedTwin.Node.Endpoints;

/// <summary>The node's local admin API (loopback only, bearer admin token whose salted hash NODE_DIR/admin.token keeps).</summary>
internal static class AdminEndpoints
{
    private static readonly SemaphoreSlim IngestGate = new(1, 1);

    internal sealed record IngestRequest(string Path);

    /// <summary>
    /// The lists the API serves straight from the store (decisions, events, the privacy ledger), named in snake_case like
    /// the columns they come from and every other field of this API, so the storage records need no wire names of their own.
    /// </summary>
    private static readonly JsonSerializerOptions StoreJson = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    /// <summary>The host's clock when it registers one (tests do), else the system's.</summary>
    private static TimeProvider Clock(HttpContext http) => http.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System;

    public static RouteGroupBuilder MapNodeAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").RequireAdminToken(
            http => http.RequestServices.GetRequiredService<NodeDirectory>().AdminToken,
            _ => null, // loopback only: no source to rate-limit apart from the host itself
            http => http.RequestServices.GetRequiredService<NodeDirectory>().Audit.Append(Audit.NodeAuditRecords.AdminAuthenticationFailure(http.Request.Method, http.Request.Path.Value ?? "/")),
            "node");

        group.MapGet("/status", (HttpContext http, NodeDirectory node, NodeStatus status) =>
        {
            var enrollment = node.Store.GetEnrollment();
            var policy = node.LoadPolicy();
            var lifetime = Policy.PrivacyLedgerReport.Lifetime(node.Store, policy);
            var counts = node.Store.Read(StudyQueries.DecisionCounts);
            var state = Status.EnrollmentState.Read(node, status);
            var publicKey = node.Identity.PublicKey;
            var (sources, sourcesError) = Status.NodeStatusReport.ReadSources(node, (http.RequestServices.GetService<TimeProvider>() ?? TimeProvider.System).GetUtcNow(), http.RequestServices.GetService<Sources.SourceScheduler>());
            return Results.Ok(new
            {
                // The data sources (issue 22): where each pulls from, its last pull, watermark and next run.
                sources = sources.Select(s => s.ToJson()),
                sources_error = sourcesError,
                node_id = enrollment?.NodeId,
                enrolled = enrollment is not null,
                enrollment_state = state.State,
                enrollment_refused = state.Refusal is { } r ? new { at = r.At, kind = r.Kind, reason = r.Reason, enrolled_key_sha256 = r.EnrolledKeySha256 } : null,
                coordinator_url = enrollment?.CoordinatorUrl,
                pinned_coordinator_key = enrollment?.CoordinatorPublicKey,
                public_key = publicKey,
                public_key_sha256 = Protocol.Federation.KeyRotationStatement.Fingerprint(publicKey),
                key_rotation_pending = state.KeyRotationPending,
                retired_public_keys = state.RetiredKeys.Select(k => new { public_key = k.PublicKey, sha256 = k.Fingerprint, retired_at = k.RetiredAt, replaced_by = k.ReplacedBy }),
                last_contact = status.LastContact,
                last_error = status.LastError,
                studies_accepted = counts.Accepted,
                studies_refused = counts.Refused,
                roster = Federation.PinnedRoster.Load(node.Store) is { } roster
                    ? new
                    {
                        federation = roster.Roster.Federation,
                        version = roster.Version,
                        sha256 = roster.Sha256,
                        approved_by = roster.ApprovedBy,
                        pinned_at = roster.PinnedAt,
                        members = roster.Roster.Members.Select(m => new { name = m.Name, node_key = m.NodeKey, this_node = m.NodeKey == node.Identity.PublicKey }),
                    }
                    : null,
                // Every privacy figure is in this unit: per person (max_sites_per_person) or per hospital record.
                privacy_unit = new
                {
                    unit = policy.PrivacyUnit.Name,
                    max_sites_per_person = policy.PrivacyUnit.MaxSitesPerPerson,
                    group_factor = policy.PrivacyUnit.GroupFactor,
                    statement = policy.PrivacyUnit.Statement,
                },
                privacy_lifetime = new
                {
                    rho_spent = lifetime.Spent,
                    rho_budget = lifetime.Budget?.Rho,
                    rho_remaining = lifetime.Remaining,
                    epsilon_spent = lifetime.Epsilon,
                    epsilon_budget = lifetime.Budget?.Epsilon,
                    delta = lifetime.Delta,
                    studies = lifetime.Studies,
                    redraws = lifetime.Redraws,
                },
                privacy = Policy.PrivacyLedgerReport.Read(node.Store, policy, Clock(http).GetUtcNow().Year).Select(p => new
                {
                    purpose = p.Purpose,
                    year = p.Year,
                    rho_spent_this_year = p.PeriodSpent,
                    rho_budget_this_year = p.PeriodBudget,
                    rho_spent_lifetime = p.LifetimeSpent,
                    epsilon_lifetime = p.LifetimeEpsilon,
                    delta = Policy.PrivacyLedgerReport.Delta,
                    studies = p.Studies,
                }),
            });
        });

        group.MapGet("/decisions", (NodeDirectory node) => Results.Json(node.Store.Read(StudyQueries.Decisions), StoreJson));

        // Each study's ρ per hospital record, the k it was charged under, and its charge in the policy's unit now (k²ρ, never lowered).
        group.MapGet("/privacy-ledger", (NodeDirectory node) => Results.Json(node.Store.Read(c => PrivacyLedgerQueries.Studies(c, node.LoadPolicy().PrivacyUnit.GroupSize)), StoreJson));

        // What each round actually spent (the ledger above holds each study's planned ρ, charged at acceptance).
        group.MapGet("/privacy-ledger/rounds", (NodeDirectory node) => Results.Ok(Policy.PrivacyLedgerReport.Rounds(node.Store, unit: node.LoadPolicy().PrivacyUnit)));

        group.MapGet("/events", (NodeDirectory node) => Results.Json(node.Store.Read(StatusQueries.RecentEvents), StoreJson));

        // The same ingest as `ftwin node ingest`, for hospital IT tooling on the node's host. One at a time.
        group.MapPost("/ingest", async (NodeDirectory node, IngestRequest request, CancellationToken cancellationToken) =>
        {
            if (string.IsNullOrWhiteSpace(request.Path) || !(Directory.Exists(request.Path) || File.Exists(request.Path)))
            {
                return Results.Problem(statusCode: StatusCodes.Status400BadRequest, title: "No such export", detail: "path must name an export folder or a Bundle file on this host.");
            }

            if (!await IngestGate.WaitAsync(0, cancellationToken))
            {
                return Results.Problem(statusCode: StatusCodes.Status409Conflict, title: "Ingest running", detail: "Another ingest is running on this node; try again when it ends.");
            }

            try
            {
                var summary = await Task.Run(() => new Ingest.IngestPipeline(node).Run(request.Path), cancellationToken);
                return Results.Ok(summary.ToJson(Ingest.IngestSources.Skipped(request.Path).Count));
            }
            catch (Exception e) when (e is not (OutOfMemoryException or OperationCanceledException))
            {
                // The same one line as the command line's (no path, no stack trace); the run is audited as ingest_failed.
                return Results.Problem(statusCode: StatusCodes.Status500InternalServerError, title: "Ingest failed", detail: Ingest.IngestErrors.Describe(e));
            }
            finally
            {
                IngestGate.Release();
            }
        });

        return group;
    }
}
