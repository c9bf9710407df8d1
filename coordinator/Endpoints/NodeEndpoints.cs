using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FederatedTwin.Coordinator.Endpoints;

/// <summary>/v1/node: what enrolled nodes call. Every request and response here is signed (<see cref="SignedNodeRequests"/>).</summary>
internal static class NodeEndpoints
{
    public static RouteGroupBuilder MapNodeEndpoints(this IEndpointRouteBuilder app)
    {
        var clock = app.ServiceProvider.GetService<TimeProvider>() ?? TimeProvider.System;
        var group = app.MapGroup("/v1/node");

        // Refusals a hostile party can cause at will (a copied enrollment replayed with another key, a wrong client certificate) are
        // audited as counted request_refused entries under their rule, and their problem type names it.
        group.MapPost("/enroll", (HttpContext http, NodeGateway gateway, CoordinatorKeys keys, RequestRefusals refusals, IOptions<CoordinatorOptions> options) => WireBodies.Guard(async () =>
        {
            var request = await WireBodies.Read<EnrollRequest>(http.Request);
            var signingKey = SignedNodeRequests.SignatureKeyOf(http);
            var certificate = options.Value.RequireClientCertificates ? new ClientCertificateCheck(true, CoordinatorTls.ClientCertificateOf(http)) : ClientCertificateCheck.NotRequired;
            try
            {
                return WireBodies.Wire(gateway.Enroll(request, signingKey, keys.Identity.PublicKey, certificate, clock.GetUtcNow()));
            }
            catch (ProtocolRefusalException e) when (e.Rule is { } rule)
            {
                refusals.Refused(http, rule, e.Status);
                return Results.Problem(detail: e.Message, statusCode: e.Status, title: e.Title, type: NodeAuthenticationProblem.TypePrefix + rule);
            }
        }));

        group.MapGet("/work", (HttpContext http, NodeGateway gateway, CoordinatorSignals signals, IOptions<CoordinatorOptions> options, int? wait) => WireBodies.Guard(async () =>
        {
            var node = Node(http);
            // The node's data version (additive in protocol 3: a node that sends none is "unknown"), covered by the request's
            // signature as part of @query (RFC 9421 section 2.2.7).
            if (http.Request.Query.TryGetValue(FederationProtocol.DataVersionQuery, out var reported))
            {
                if (reported.Count != 1 || !long.TryParse(reported[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var dataVersion))
                {
                    throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid data version", $"{FederationProtocol.DataVersionQuery} is one non-negative whole number.");
                }

                gateway.RecordDataVersion(node, dataVersion, clock.GetUtcNow());
            }

            var until = clock.GetUtcNow().AddSeconds(Math.Clamp(wait ?? 0, 0, options.Value.LongPollSeconds));
            while (true)
            {
                // Taken before reading the state, so a phase change while reading wakes the wait below at once.
                var changed = signals.PhaseChanged.Next;
                var work = gateway.WorkFor(node);
                if (work.Items.Count > 0 || clock.GetUtcNow() >= until || http.RequestAborted.IsCancellationRequested)
                {
                    return WireBodies.Wire(work);
                }

                // A study offered or cancelled by an analyst changes no phase: the 500 ms re-check covers those.
                await AsyncPulse.WaitAsync(changed, TimeSpan.FromMilliseconds(500), http.RequestAborted);
            }
        }));

        group.MapGet("/nodes", (NodeGateway gateway, HttpContext http) => WireBodies.Guard(() =>
        {
            _ = Node(http);
            return Task.FromResult(WireBodies.Wire(gateway.Roster()));
        }));

        group.MapPost("/studies/{study}/decision", (HttpContext http, NodeGateway gateway, string study) => WireBodies.Guard(async () =>
        {
            var decision = await WireBodies.Read<StudyDecision>(http.Request);
            if (decision.Study.Value != study)
            {
                throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Mismatched study", "The body names another study than the path.");
            }

            gateway.RecordDecision(Node(http), decision, clock.GetUtcNow());
            return Results.NoContent();
        }));

        // The federation roster the ACO relays: nodes pin it only with their own officers' approval (PinnedRoster).
        group.MapGet("/roster", (NodeGateway gateway, HttpContext http) => WireBodies.Guard(() =>
        {
            _ = Node(http);
            return Task.FromResult(gateway.LatestRoster() is { } roster
                ? Results.Bytes(roster, FederationProtocol.JsonMediaType)
                : Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No roster", detail: "The ACO has published no federation roster."));
        }));

        // The model registry, each document signed with the coordinator's identity key (SignedModel): a node keeps the signature with
        // its copy and checks it under its pinned key whenever it uses the model (issue 21: the patient and facility twins).
        group.MapGet("/models", (HttpContext http, CoordinatorStore store, CoordinatorKeys keys) => WireBodies.Guard(() =>
        {
            _ = Node(http);
            var catalog = store.Read(RegistryQueries.Catalog)
                .Select(m => SignedModel.Sign(keys.Identity, m.Id, m.Kind, m.Study, m.Outcome, m.CreatedAt, m.Json)).ToList();
            return Task.FromResult(WireBodies.Wire(new ModelCatalog(catalog)));
        }));

        group.MapPost("/attempts/{study}/{round:int}/{attempt:int}/{kind}", (HttpContext http, NodeGateway gateway, string study, int round, int attempt, string kind) => WireBodies.Guard(async () =>
        {
            if (!ContributionKind.All.Contains(kind))
            {
                throw new ProtocolRefusalException(StatusCodes.Status404NotFound, "Unknown contribution kind", $"'{kind}' is not one of {string.Join(", ", ContributionKind.All)}.");
            }

            var contribution = await WireBodies.Read<Contribution>(http.Request);
            gateway.Contribute(Node(http), kind, Study(study), round, attempt, contribution, clock.GetUtcNow());
            return Results.NoContent();
        }));

        group.MapGet("/attempts/{study}/{round:int}/{attempt:int}/commitments/{kind}", (HttpContext http, NodeGateway gateway, string study, int round, int attempt, string kind) => WireBodies.Guard(() =>
            Task.FromResult(WireBodies.Wire(gateway.Commitments(Node(http), Study(study), round, attempt, kind)))));

        // A node replaces its identity key (Orchestration/NodeKeys.cs); a body that cannot be read is refused and audited too.
        group.MapPost("/key-rotation", (HttpContext http, NodeKeys keys) => WireBodies.Guard(async () =>
        {
            KeyRotationRequest request;
            try
            {
                request = await WireBodies.Read<KeyRotationRequest>(http.Request);
            }
            catch (ProtocolRefusalException e)
            {
                keys.Refused(Node(http), null, null, e);
                throw;
            }

            return WireBodies.Wire(keys.Rotate(Node(http), SignedNodeRequests.SignatureKeyOf(http), request, clock.GetUtcNow()));
        }));

        // The announcements: the same bytes for every participant, serialized once per attempt (AnnouncementCache).
        group.MapGet("/attempts/{study}/{round:int}/{attempt:int}/key", (HttpContext http, NodeGateway gateway, AnnouncementCache cache, string study, int round, int attempt) => WireBodies.Guard(() =>
            Task.FromResult(WireBodies.Prepared(gateway.KeyAnnouncementBody(Node(http), Study(study), round, attempt, cache)))));

        // A t-of-n study: the shares dealt to this node, each with its dealer's signed manifest (docs/protocol.md, share_deal).
        group.MapGet("/attempts/{study}/{round:int}/{attempt:int}/shares", (HttpContext http, NodeGateway gateway, string study, int round, int attempt) => WireBodies.Guard(() =>
            Task.FromResult(WireBodies.Wire(gateway.Shares(Node(http), Study(study), round, attempt)))));

        group.MapGet("/attempts/{study}/{round:int}/{attempt:int}/aggregate", (HttpContext http, NodeGateway gateway, AnnouncementCache cache, string study, int round, int attempt) => WireBodies.Guard(() =>
            Task.FromResult(WireBodies.Prepared(gateway.AggregateBody(Node(http), Study(study), round, attempt, cache)))));

        return group;
    }

    private static NodeId Node(HttpContext http) => http.Items[SignedNodeRequests.NodeIdItem] is NodeId id
        ? id
        : throw new ProtocolRefusalException(StatusCodes.Status401Unauthorized, "Not enrolled", "Only an enrolled node may call this endpoint.");

    private static StudyId Study(string value)
    {
        try
        {
            return new StudyId(value);
        }
        catch (ArgumentException e)
        {
            throw new ProtocolRefusalException(StatusCodes.Status400BadRequest, "Invalid study id", e.Message);
        }
    }
}
