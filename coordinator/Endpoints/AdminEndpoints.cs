using FederatedTwin.Analytics.Studies;
using System.Text.Json;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Registry;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Twin.Scenarios;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Endpoints;

/// <summary>
/// /v1/admin: the ACO's analysts and administrators, on the admin listener only (<see cref="AdminListener"/>), with the bearer admin
/// token whose hash DATA_DIR/admin.token keeps. A wrong token counts against its source's failed authentications
/// (<see cref="NodeRateLimits"/>) and is audited as a counted summary (<see cref="RequestRefusals"/>).
/// </summary>
internal static class AdminEndpoints
{
    public static RouteGroupBuilder MapAdminEndpoints(this IEndpointRouteBuilder app)
    {
        var clock = app.ServiceProvider.GetService<TimeProvider>() ?? TimeProvider.System;
        var group = app.MapGroup("/v1/admin").RequireAdminToken(
            http => http.RequestServices.GetRequiredService<CoordinatorKeys>().AdminToken,
            LockedOut,
            http =>
            {
                http.RequestServices.GetRequiredService<NodeRateLimits>().Failed(CountedRefusals.SourceOf(http));
                http.RequestServices.GetRequiredService<RequestRefusals>().AdminTokenRefused(http);
            },
            "coordinator");

        group.MapPost("/tokens", (NodeGateway gateway, IOptions<CoordinatorOptions> options) =>
            Results.Ok(new { token = gateway.CreateEnrollmentToken(clock.GetUtcNow(), TimeSpan.FromSeconds(options.Value.EnrollmentTokenLifetimeSeconds)) }));

        // The federation roster the coordinator relays (nodes pin it only with their own officers' approval).
        group.MapPost("/roster", (HttpContext http, NodeGateway gateway) => WireBodies.Guard(async () =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body);
            var roster = gateway.PublishRoster(body.ToArray(), clock.GetUtcNow());
            return Results.Created("/v1/admin/roster", new { federation = roster.Roster.Federation, version = roster.Roster.Version, sha256 = roster.Roster.Sha256() });
        }));

        group.MapGet("/roster", (NodeGateway gateway) => gateway.LatestRoster() is { } roster
            ? Results.Bytes(roster, "application/json")
            : Results.Problem(statusCode: 404, title: "No roster", detail: "No federation roster has been published."));

        // A study file with a refresh: block is a template (docs/models.md, "Refresh"): its first run, <id>-r1, is offered at once and
        // the orchestrator creates the next runs as its rule says.
        group.MapPost("/studies", (HttpContext http, RoundEngine engine, StudyRefresh refresh) => WireBodies.Guard(async () =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var template = StudyFile.ParseTemplate(await reader.ReadToEndAsync());
            var spec = template.Spec;
            try
            {
                if (template.Refresh is not null)
                {
                    var run = refresh.CreateTemplate(template, clock.GetUtcNow());
                    return Results.Created($"/v1/admin/templates/{spec.Id}", new { id = run.Value, template = spec.Id.Value, refresh = template.Refresh.Describe() });
                }

                engine.CreateStudy(spec, clock.GetUtcNow());
            }
            catch (InvalidOperationException e)
            {
                throw new ProtocolRefusalException(StatusCodes.Status409Conflict, "Study exists", e.Message);
            }

            return Results.Created($"/v1/admin/studies/{spec.Id}", new { id = spec.Id.Value });
        }));

        // Study templates with their rule, their runs and what the rule sees now.
        group.MapGet("/templates", (CoordinatorStore store, StudyRefresh refresh) => Results.Ok(store.Read(RefreshQueries.All).Select(t => new
        {
            id = t.template_id,
            refresh = t.refresh,
            created_at = t.created_at,
            stopped_at = t.stopped_at,
            runs = store.Read(c => RefreshQueries.Runs(c, null, t.template_id)).Select(r => new { seq = r.seq, study_id = r.study_id, state = r.state, created_at = r.created_at, trigger = r.trigger }).ToList(),
            check = refresh.Check(t.template_id, clock.GetUtcNow()) is { } k
                ? new { due = k.Due, rule = k.Rule, participants = k.Participants, with_new_data = k.WithNewData, unknown = k.Unknown, days_since_last_run = k.DaysSinceLastRun }
                : null,
        }).ToList()));

        group.MapPost("/templates/{id}/stop", (StudyRefresh refresh, string id) => refresh.Stop(id, clock.GetUtcNow())
            ? Results.NoContent()
            : Results.Problem(statusCode: 409, title: "Not stoppable", detail: $"Study template '{id}' does not exist or its refresh is already stopped."));

        group.MapGet("/studies", (CoordinatorStore store) => Results.Ok(store.Read(c =>
            StudyQueries.Summaries(c, newestFirst: false)
            .Select(s => new { id = s.study_id, state = StudyStates.Parse(s.state), algorithm = s.Spec.Algorithm, round = s.current_round, attempt = s.current_attempt, created_at = s.created_at })
            .ToList())));

        group.MapGet("/studies/{id}", (CoordinatorStore store, string id) => StudyDetail.Read(store, id) is { } detail ? Results.Json(detail, StudyDetail.JsonOptions) : Results.Problem(statusCode: 404, title: "Unknown study", detail: $"No study '{id}'."));

        group.MapPost("/studies/{id}/cancel", (RoundEngine engine, string id) => WireBodies.Guard(() =>
            Task.FromResult(engine.Cancel(new StudyId(id), clock.GetUtcNow())
                ? Results.NoContent()
                : Results.Problem(statusCode: 409, title: "Not cancellable", detail: $"Study '{id}' does not exist or has already ended."))));

        // The model registry: ids, outcome and provenance in the list; the full model (terms, fit, privacy) by id.
        group.MapGet("/models", (CoordinatorStore store) => Results.Ok(store.Read(c =>
            RegistryQueries.Listings(c, newestFirst: false)
            .Select(m => new { id = m.model_id, study_id = m.study_id, m.kind, m.outcome, created_at = m.created_at })
            .ToList())));

        // Every version of a model's lineage, and what changed between two (docs/models.md, "Versions").
        group.MapGet("/model-versions", (CoordinatorStore store, string model) => ModelVersions.Of(store, model) is { Count: > 0 } versions
            ? Results.Json(versions, ModelVersionJson)
            : Results.Problem(statusCode: 404, title: "Unknown model", detail: $"No model or lineage '{model}' in the registry."));

        group.MapGet("/model-diff", (CoordinatorStore store, string model, int from, int to) =>
        {
            try
            {
                return Results.Json(ModelVersions.Diff(store, model, from, to), ModelVersionJson);
            }
            catch (KeyNotFoundException e)
            {
                return Results.Problem(statusCode: 404, title: "Unknown model version", detail: e.Message);
            }
            catch (FormatException e)
            {
                return Results.Problem(statusCode: 400, title: "Not comparable", detail: e.Message);
            }
        });

        group.MapGet("/models/{*id}", (CoordinatorStore store, string id) =>
            store.Read(c => RegistryQueries.Document(c, id)) is { } json
                ? Results.Text(json, "application/json")
                : Results.Problem(statusCode: 404, title: "Unknown model", detail: $"No model '{id}' in the registry."));

        // What-if scenarios on the twin built from this registry (docs/scenarios.md): the body is the scenario YAML, whose
        // models name 'coordinator' (this registry, e.g. {registry: coordinator, fallback: demo}) or 'demo'; a directory
        // on the coordinator's disk is refused. The result is exactly `ftwin scenario run --json`'s.
        group.MapPost("/scenarios/run", async (HttpContext http, CoordinatorStore store) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var yaml = await reader.ReadToEndAsync();
            int? replicates = null;
            if (http.Request.Query.TryGetValue("replicates", out var r))
            {
                if (!int.TryParse(r.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var k) || k is < 2 or > 10_000)
                {
                    return Results.Problem(statusCode: 400, title: "Invalid scenario request", detail: "replicates must be a whole number between 2 and 10,000.",
                        extensions: new Dictionary<string, object?> { ["field"] = "replicates" });
                }

                replicates = k;
            }

            ScenarioDefinition scenario;
            try
            {
                scenario = RegistryScenarios.Parse(store, yaml);
            }
            catch (ScenarioFileException e)
            {
                // RFC 9457 problem details; the field path and 1-based line as extension members.
                return Results.Problem(statusCode: 400, title: "Invalid scenario", detail: e.Message, type: "https://federatedtwin.invalid/problems/invalid-scenario",
                    extensions: new Dictionary<string, object?> { ["field"] = e.Field, ["line"] = e.Line });
            }

            var result = await Task.Run(() => ScenarioRunner.RunScenario(scenario, replicates), http.RequestAborted);
            return Results.Text(ScenarioJson.Serialize(result), "application/json");
        });

        // The twin's back-test as `ftwin twin validate` computed it: checked to be one (numbers only), stored, the latest on the dashboard.
        group.MapPost("/twin-validations", async (HttpContext http, CoordinatorStore store) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            Twin.Validation.TwinValidation validation;
            try
            {
                validation = Twin.Validation.TwinValidation.FromJson(await reader.ReadToEndAsync());
            }
            catch (FormatException e)
            {
                return Results.Problem(statusCode: 400, title: "Invalid twin validation", detail: e.Message);
            }

            var document = validation.ToJson(indented: false);
            store.Write((c, t) => TwinValidationQueries.Insert(c, t, validation.CutoffYear, clock.GetUtcNow(), document));
            return Results.NoContent();
        });

        group.MapGet("/twin-validations/latest", (CoordinatorStore store) => store.Read(TwinValidationQueries.Latest) is { } latest
            ? Results.Text(latest.document, "application/json")
            : Results.Problem(statusCode: 404, title: "No twin validation", detail: "No back-test has been stored (`ftwin twin validate`)."));

        group.MapGet("/nodes", (CoordinatorStore store) => Results.Ok(store.Read(c => NodeQueries.All(c, NodeOrder.EnrolledAt))));

        // Every key a node has held (rotations), and revocation: the coordinator refuses a revoked node's requests from then on.
        group.MapGet("/nodes/{id}/keys", (NodeKeys keys, string id) => keys.History(new NodeId(id)) is { Count: > 0 } history
            ? Results.Ok(history.Select(k => new { public_key = k.PublicKey, sha256 = k.Fingerprint, valid_from = k.ValidFrom, valid_until = k.ValidUntil, replaced_by = k.ReplacedBy }))
            : Results.Problem(statusCode: 404, title: "Unknown node", detail: $"No node '{id}'."));

        group.MapPost("/nodes/{id}/revoke", (NodeGateway gateway, string id) => gateway.RevokeNode(new NodeId(id), CoordinatorAuditRecords.AdminApi, clock.GetUtcNow())
            ? Results.NoContent()
            : Results.Problem(statusCode: 409, title: "Not revocable", detail: $"Node '{id}' does not exist or is already revoked."));

        // This replica and the round engine's lease (docs/operations.md, "Running replicas"): whether it leads, its token, the holder.
        group.MapGet("/replica", (LeaderLease lease) =>
        {
            var s = lease.Status();
            return Results.Ok(new { replica = s.Replica, mode = s.Mode, leader = s.Leader, token = s.Token, holder = s.Holder, holder_token = s.HolderToken, expires_at = s.ExpiresAt, lease_seconds = s.LeaseSeconds });
        });

        return group;
    }

    private static readonly JsonSerializerOptions ModelVersionJson = new(Analytics.Registry.RegistryJson.Options) { WriteIndented = false };

    /// <summary>A source that spent its failed authentications is answered 429 before its token is looked at.</summary>
    private static IResult? LockedOut(HttpContext http)
    {
        if (!http.RequestServices.GetRequiredService<NodeRateLimits>().LockedOut(CountedRefusals.SourceOf(http)))
        {
            return null;
        }

        http.RequestServices.GetRequiredService<RequestRefusals>().Refused(http, RefusalRules.FailedAuthenticationLimit, StatusCodes.Status429TooManyRequests);
        http.Response.Headers.RetryAfter = NodeRateLimits.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests", detail: "This address failed authentication too often in the last minute; try again when the minute ends.",
            type: NodeAuthenticationProblem.TypePrefix + RefusalRules.FailedAuthenticationLimit);
    }
}
