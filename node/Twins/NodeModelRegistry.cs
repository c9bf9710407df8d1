using FederatedTwin.Analytics.Registry;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Twins;

/// <summary>
/// One model of the node's registry as the twins and `ftwin node models list` show it: its id and version (the SHA-256 of its
/// document), the study that trained it, whether it is released (decided here from the document itself: a converged exact fit, or
/// a DP fit released after its planned rounds) and, if not, why; and, when a newer released model of the same outcome exists,
/// which one the twins use instead.
/// </summary>
public sealed record NodeModelListing(string Id, string Version, string Kind, string StudyId, string Outcome, string? Release, bool Released, string? Reason,
    DateTimeOffset FetchedAt, string? SupersededBy = null)
{
    /// <summary>Whether the twins use this model: released and not superseded.</summary>
    public bool Used => Released && SupersededBy is null;
}

/// <summary>The models the node's twins use (one per outcome: the newest released) and the listing of every stored model.</summary>
public sealed record ReleasedModels(IReadOnlyList<RegisteredModel> Models, IReadOnlyList<NodeModelListing> Listing);

/// <summary>What one fetch of the coordinator's catalog did.</summary>
public sealed record ModelFetchResult(int Offered, int Stored, int AlreadyHeld, int Refused, int Ignored, string? CatalogDigest);

/// <summary>
/// The node's own registry of the federation's models (issue 21): fetched from the coordinator, each document checked against the
/// coordinator's signature under the key the site policy pins (never a key the coordinator names), stored with that signature in
/// node.db, and checked again every time a twin reads it. The node decides itself which are released (the document's own fit and
/// release checks, <see cref="GlmModelDocument.IsReleased"/>); the coordinator's word is not taken for it. Every model stored and
/// every refusal is audited (model_received, model_refused with its rule).
/// </summary>
public static class NodeModelRegistry
{
    /// <summary>Rule: the coordinator's signature on the document does not verify under the pinned key.</summary>
    public const string SignatureRule = "model_signature_invalid";

    /// <summary>Rule: the key a stored model verified under is no longer among the site policy's trusted coordinators.</summary>
    public const string UntrustedKeyRule = "model_coordinator_untrusted";

    /// <summary>Rule: the document is not a registry document the node can read, or its id is not the one it is signed under.</summary>
    public const string DocumentRule = "model_document_invalid";

    /// <summary>The coordinator's path for the catalog.</summary>
    public const string CatalogPath = "/v1/node/models";

    /// <summary>The most bytes a catalog may be (a GLM document with its covariance is tens of kilobytes; thousands of models fit).</summary>
    public const long MaxCatalogBytes = 64L * 1024 * 1024;

    /// <summary>Fetches the coordinator's catalog and stores what verifies (<see cref="Store"/>).</summary>
    public static async Task<ModelFetchResult> Fetch(NodeDirectory node, CoordinatorClient client, string coordinatorPublicKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(client);
        var catalog = await client.Get<ModelCatalog>(CatalogPath, cancellationToken, MaxCatalogBytes);
        return Store(node, catalog, coordinatorPublicKey, TimeProvider.System.GetUtcNow());
    }

    /// <summary>
    /// One fetch outside the node service (`ftwin node models fetch`): the enrollment's coordinator, over the node's TLS transport and
    /// signed requests, only when the site policy trusts the key it enrolled with and the URL is https (or loopback).
    /// </summary>
    public static async Task<ModelFetchResult> FetchNow(NodeDirectory node, CancellationToken cancellationToken, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        var enrollment = node.Store.GetEnrollment() ?? throw new InvalidOperationException("This node is not enrolled: run `ftwin node enroll` first.");
        if (Hosting.Security.UrlPolicy.Refusal(new Uri(enrollment.CoordinatorUrl), "the coordinator URL this node enrolled with") is { } insecure)
        {
            throw new CoordinatorRefusedException(0, "Insecure coordinator URL", insecure);
        }

        if (!node.LoadPolicy().Trusts(enrollment.CoordinatorPublicKey))
        {
            throw new CoordinatorRefusedException(0, "Untrusted coordinator", $"The coordinator this node enrolled with ({enrollment.CoordinatorUrl}) is not among trusted_coordinators in {node.PolicyPath}: refusing to talk to it.");
        }

        var client = http ?? CoordinatorTransport.Client(node, new Uri(enrollment.CoordinatorUrl), TimeSpan.FromSeconds(120));
        try
        {
            var coordinator = new CoordinatorClient(client, node.Identity, enrollment.NodeId, enrollment.CoordinatorPublicKey, TimeSpan.FromSeconds(60));
            return await Fetch(node, coordinator, enrollment.CoordinatorPublicKey, cancellationToken);
        }
        finally
        {
            if (http is null)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>
    /// Stores every GLM document of the catalog whose signature verifies under <paramref name="coordinatorPublicKey"/> (which must be
    /// one the site policy trusts) and that parses as the model its id names; refuses and audits the others; ignores documents of
    /// kinds the node's twins do not use (compositions, FedAvg).
    /// </summary>
    public static ModelFetchResult Store(NodeDirectory node, ModelCatalog catalog, string coordinatorPublicKey, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(catalog);
        if (!node.LoadPolicy().Trusts(coordinatorPublicKey))
        {
            throw new CoordinatorRefusedException(0, "Untrusted coordinator", "The coordinator key this node enrolled with is not among the site policy's trusted_coordinators: no model is taken from it.");
        }

        int stored = 0, held = 0, refused = 0, ignored = 0;
        foreach (var model in catalog.Models ?? [])
        {
            if (model is null)
            {
                continue;
            }

            if (model.Kind != RegisteredModel.GlmKind)
            {
                ignored++;
                continue;
            }

            // Wire input: a member the JSON left out is null whatever the record's annotations say.
            if (model.Id is not { } id || model.Document is null || model.Signature is null || model.StudyId is null || model.Outcome is null || model.ReleasedAt is null)
            {
                node.Audit.Append(NodeAuditRecords.ModelRefused(model.Id ?? "-", "-", "coordinator", DocumentRule, "the catalog entry lacks a field (id, study, outcome, released_at, document or signature)"));
                refused++;
                continue;
            }

            var version = model.Version;
            if (!model.Verifies(coordinatorPublicKey))
            {
                node.Audit.Append(NodeAuditRecords.ModelRefused(id, version, "coordinator", SignatureRule,
                    "the coordinator's signature on the model document does not verify under the pinned coordinator key"));
                refused++;
                continue;
            }

            if (Check(model) is { } problem)
            {
                node.Audit.Append(NodeAuditRecords.ModelRefused(id, version, "coordinator", DocumentRule, problem));
                refused++;
                continue;
            }

            var row = new StoredModel(id, version, model.Kind, model.StudyId, model.Outcome, model.ReleasedAt, model.Document, model.Signature,
                coordinatorPublicKey, now.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
            if (node.Store.Write((c, t) => ModelQueries.Insert(c, t, row)) == 0)
            {
                held++;
                continue;
            }

            var document = GlmModelDocument.FromJson(model.Document);
            node.Audit.Append(NodeAuditRecords.ModelReceived(model, document.IsReleased, document.NotReleasedReason));
            stored++;
        }

        var digest = ModelCatalog.Digest((catalog.Models ?? []).Where(m => m is not null).Select(m => (m.Id ?? string.Empty, m.ReleasedAt ?? string.Empty)));
        node.Store.Write((c, t) => ModelQueries.SetCatalogDigest(c, t, digest));
        return new ModelFetchResult(catalog.Models?.Count ?? 0, stored, held, refused, ignored, digest);
    }

    /// <summary>The digest of the catalog last fetched (a work answer relaying another one means a model was added).</summary>
    public static string? CatalogDigest(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return node.Store.Read(ModelQueries.CatalogDigest);
    }

    /// <summary>
    /// The models the twins use: every stored model whose signature verifies again, under a key the site policy still trusts, and
    /// that is released; per outcome column the newest (by registration) is used and the older ones are listed as superseded. A
    /// stored model that fails its check is refused (audited, source "store") and listed with the reason.
    /// </summary>
    public static ReleasedModels Released(NodeDirectory node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var policy = node.LoadPolicy();
        var rows = node.Store.Read(ModelQueries.All);
        var candidates = new List<(NodeModelListing Listing, RegisteredModel? Model)>();
        foreach (var row in rows)
        {
            var fetched = DateTimeOffset.Parse(row.FetchedAt, System.Globalization.CultureInfo.InvariantCulture);
            var signed = new SignedModel(row.ModelId, row.Kind, row.StudyId, row.Outcome, row.ReleasedAt, row.Document, row.Signature);
            string? refusal = null, rule = null;
            if (!policy.Trusts(row.CoordinatorKey))
            {
                (rule, refusal) = (UntrustedKeyRule, "the coordinator key it was received under is no longer trusted by the site policy");
            }
            else if (signed.Version != row.Version || !signed.Verifies(row.CoordinatorKey))
            {
                (rule, refusal) = (SignatureRule, "the stored document no longer matches the coordinator's signature (changed at rest)");
            }
            else if (Check(signed) is { } problem)
            {
                (rule, refusal) = (DocumentRule, problem);
            }

            if (refusal is not null)
            {
                node.Audit.Append(NodeAuditRecords.ModelRefused(row.ModelId, row.Version, "store", rule!, refusal));
                candidates.Add((new NodeModelListing(row.ModelId, row.Version, row.Kind, row.StudyId, row.Outcome, null, false, $"refused ({rule}): {refusal}", fetched), null));
                continue;
            }

            var document = GlmModelDocument.FromJson(row.Document);
            var listing = new NodeModelListing(row.ModelId, row.Version, row.Kind, row.StudyId, row.Outcome, document.Release, document.IsReleased, document.NotReleasedReason, fetched);
            candidates.Add((listing, document.IsReleased ? document.ToRegisteredModel() : null));
        }

        // Newest released per outcome: a later study of the same outcome (a refit on newer data) replaces the earlier one.
        var newest = candidates.Where(x => x.Model is not null)
            .GroupBy(x => x.Model!.Outcome, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderBy(x => x.Model!.CreatedAt).ThenBy(x => x.Listing.Id, StringComparer.Ordinal).Last().Listing, StringComparer.Ordinal);
        var listings = candidates.Select(x => x.Model is { } m && !ReferenceEquals(newest[m.Outcome], x.Listing)
            ? x.Listing with { SupersededBy = newest[m.Outcome].Id }
            : x.Listing).ToList();
        var used = candidates.Where(x => x.Model is { } m && ReferenceEquals(newest[m.Outcome], x.Listing)).Select(x => x.Model!).ToList();
        return new ReleasedModels(used, listings);
    }

    /// <summary>Null when the signed document is a GLM registry document of the id, study and outcome it is signed under; else why not.</summary>
    private static string? Check(SignedModel model)
    {
        GlmModelDocument document;
        try
        {
            document = GlmModelDocument.FromJson(model.Document);
            _ = document.ToRegisteredModel();
        }
        catch (Exception e) when (e is FormatException or RegisteredModelException)
        {
            return "the document is not a readable GLM registry document: " + e.Message;
        }

        return document.Id != model.Id || document.StudyId != model.StudyId || document.Outcome != model.Outcome || document.Kind != model.Kind
            ? $"the document describes model '{document.Id}' (study {document.StudyId}, outcome {document.Outcome}), not the '{model.Id}' it is signed as"
            : null;
    }
}
