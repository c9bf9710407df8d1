using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A registry document with its id and kind.</summary>
internal sealed record ModelDocumentRow(string model_id, string kind, string model_json);

/// <summary>A registry entry as lists show it.</summary>
internal sealed record ModelListingRow(string model_id, string study_id, string kind, string outcome, string created_at);

/// <summary>A registry document and the study that trained it.</summary>
internal sealed record ModelWithStudyRow(string model_json, string study_id, string kind);

/// <summary>The models table (the model registry), in standard SQL.</summary>
internal static class RegistryQueries
{
    public static void Insert(IDbConnection c, IDbTransaction t, string modelId, string study, string kind, string outcome, DateTimeOffset now, string modelJson) =>
        c.Execute("INSERT INTO models(model_id, study_id, kind, outcome, created_at, model_json) VALUES (@modelId, @study, @kind, @outcome, @now, @json)",
            new { modelId, study, kind, outcome, now = StoredTime.Format(now), json = modelJson }, t);

    /// <summary>Every registry document, oldest first.</summary>
    public static List<ModelDocumentRow> Documents(IDbConnection c) =>
        [.. c.Query<ModelDocumentRow>("SELECT model_id, kind, model_json FROM models ORDER BY created_at, model_id")];

    /// <summary>Every registry document with what a node's copy is signed over, oldest first (GET /v1/node/models).</summary>
    public static List<(string Id, string Kind, string Study, string Outcome, string CreatedAt, string Json)> Catalog(IDbConnection c) =>
        [.. c.Query<(string, string, string, string, string, string)>("SELECT model_id, kind, study_id, outcome, created_at, model_json FROM models ORDER BY created_at, model_id")];

    /// <summary>Each document's id and registration time (the catalog digest a work answer relays).</summary>
    public static List<(string Id, string CreatedAt)> CatalogEntries(IDbConnection c) =>
        [.. c.Query<(string, string)>("SELECT model_id, created_at FROM models")];

    /// <summary>Every registry entry, by creation (oldest or newest first), then id.</summary>
    public static List<ModelListingRow> Listings(IDbConnection c, bool newestFirst) =>
        [.. c.Query<ModelListingRow>("SELECT model_id, study_id, kind, outcome, created_at FROM models ORDER BY created_at" + (newestFirst ? " DESC" : string.Empty) + ", model_id")];

    /// <summary>One model's document, or null.</summary>
    public static string? Document(IDbConnection c, string modelId) =>
        c.QuerySingleOrDefault<string>("SELECT model_json FROM models WHERE model_id=@modelId", new { modelId });

    public static ModelWithStudyRow? DocumentWithStudy(IDbConnection c, string modelId) =>
        c.QuerySingleOrDefault<ModelWithStudyRow>("SELECT model_json, study_id, kind FROM models WHERE model_id=@modelId", new { modelId });

    /// <summary>The ids of the models a study trained.</summary>
    public static List<string> IdsOfStudy(IDbConnection c, string study) =>
        [.. c.Query<string>("SELECT model_id FROM models WHERE study_id=@study ORDER BY model_id", new { study })];
}
