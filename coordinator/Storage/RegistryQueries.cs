using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A registry document with its id and kind.</summary>
/// <remarks>Properties, not a positional record: Dapper matches a record's constructor by column types, which SQLite leaves unknown for
/// an expression column (the COALESCE of the lineage) when no row comes back.</remarks>
internal sealed class ModelDocumentRow
{
    public string model_id { get; init; } = string.Empty;

    public string kind { get; init; } = string.Empty;

    public string outcome { get; init; } = string.Empty;

    public string model_json { get; init; } = string.Empty;

    public string lineage { get; init; } = string.Empty;

    public long lineage_version { get; init; }
}

/// <summary>One version of a model lineage with its document.</summary>
/// <remarks>Properties, not a positional record, as <see cref="ModelDocumentRow"/>.</remarks>
internal sealed class ModelVersionRow
{
    public string model_id { get; init; } = string.Empty;

    public string study_id { get; init; } = string.Empty;

    public string kind { get; init; } = string.Empty;

    public string outcome { get; init; } = string.Empty;

    public string created_at { get; init; } = string.Empty;

    public string lineage { get; init; } = string.Empty;

    public long lineage_version { get; init; }

    public string model_json { get; init; } = string.Empty;
}

/// <summary>A registry entry as lists show it.</summary>
internal sealed record ModelListingRow(string model_id, string study_id, string kind, string outcome, string created_at);

/// <summary>A registry document and the study that trained it.</summary>
internal sealed record ModelWithStudyRow(string model_json, string study_id, string kind);

/// <summary>The models table (the model registry), in standard SQL.</summary>
internal static class RegistryQueries
{
    public static void Insert(IDbConnection c, IDbTransaction t, string modelId, string study, string kind, string outcome, DateTimeOffset now, string modelJson,
        string? lineage = null, int? lineageVersion = null) =>
        c.Execute("INSERT INTO models(model_id, study_id, kind, outcome, created_at, model_json, lineage, lineage_version) VALUES (@modelId, @study, @kind, @outcome, @now, @json, @lineage, @lineageVersion)",
            new { modelId, study, kind, outcome, now = StoredTime.Format(now), json = modelJson, lineage, lineageVersion }, t);

    /// <summary>The newest version number in a lineage (0: none yet).</summary>
    public static int LatestVersion(IDbConnection c, IDbTransaction? t, string lineage) =>
        c.ExecuteScalar<int?>("SELECT MAX(lineage_version) FROM models WHERE lineage=@lineage", new { lineage }, t) ?? 0;

    /// <summary>
    /// Every version of the lineage a model belongs to, oldest first: the models of its lineage, or the model alone when it has none
    /// (a one-off study's model is a lineage of one, version 1). Empty when the id is unknown.
    /// </summary>
    public static List<ModelVersionRow> Versions(IDbConnection c, string modelIdOrLineage) =>
        [.. c.Query<ModelVersionRow>("""
            SELECT model_id, study_id, kind, outcome, created_at, CAST(COALESCE(lineage, model_id) AS TEXT) AS lineage, CAST(COALESCE(lineage_version, 1) AS INTEGER) AS lineage_version, model_json FROM models
            WHERE COALESCE(lineage, model_id) = COALESCE((SELECT COALESCE(lineage, model_id) FROM models WHERE model_id=@id), @id)
            ORDER BY COALESCE(lineage_version, 1), created_at, model_id
            """, new { id = modelIdOrLineage })];

    /// <summary>Every model's lineage and version (one-off models: their own id, version 1), by model id.</summary>
    public static Dictionary<string, (string Lineage, int Version)> Lineages(IDbConnection c) =>
        c.Query<(string, string?, long?)>("SELECT model_id, lineage, lineage_version FROM models")
            .ToDictionary(r => r.Item1, r => (r.Item2 ?? r.Item1, (int)(r.Item3 ?? 1)), StringComparer.Ordinal);

    /// <summary>Every registry document, oldest first.</summary>
    public static List<ModelDocumentRow> Documents(IDbConnection c) =>
        [.. c.Query<ModelDocumentRow>("SELECT model_id, kind, outcome, model_json, CAST(COALESCE(lineage, model_id) AS TEXT) AS lineage, CAST(COALESCE(lineage_version, 1) AS INTEGER) AS lineage_version FROM models ORDER BY created_at, model_id")];

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
