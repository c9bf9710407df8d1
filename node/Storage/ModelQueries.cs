using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>A federated model as the node stored it: the registry document, the coordinator's signature and the key it verified under.</summary>
public sealed record StoredModel(string ModelId, string Version, string Kind, string StudyId, string Outcome, string ReleasedAt, string Document,
    string Signature, string CoordinatorKey, string FetchedAt);

/// <summary>The node's copy of the federation's model registry (federation_models) and the catalog digest it last fetched.</summary>
public static class ModelQueries
{
    private const string CatalogKey = "models_catalog";

    /// <summary>Stores a model version; 0 when that version was already stored.</summary>
    public static int Insert(DbConnection c, DbTransaction t, StoredModel m) => c.Execute($"""
        {SqliteSyntax.InsertOrIgnore} federation_models(model_id, version, kind, study_id, outcome, released_at, document, signature, coordinator_key, fetched_at)
        VALUES (@ModelId, @Version, @Kind, @StudyId, @Outcome, @ReleasedAt, @Document, @Signature, @CoordinatorKey, @FetchedAt)
        """, m, t);

    /// <summary>Whether this version of a model is stored.</summary>
    public static bool Has(DbConnection c, DbTransaction? t, string modelId, string version) =>
        c.ExecuteScalar<long>("SELECT COUNT(*) FROM federation_models WHERE model_id=@modelId AND version=@version", new { modelId, version }, t) > 0;

    /// <summary>Every stored model version, oldest registration first.</summary>
    public static List<StoredModel> All(DbConnection c) =>
        [.. c.Query<StoredModel>("""
            SELECT model_id AS ModelId, version AS Version, kind AS Kind, study_id AS StudyId, outcome AS Outcome, released_at AS ReleasedAt,
                   document AS Document, signature AS Signature, coordinator_key AS CoordinatorKey, fetched_at AS FetchedAt
            FROM federation_models ORDER BY released_at, model_id, fetched_at
            """)];

    /// <summary>The digest of the coordinator's catalog the node last fetched (null: never).</summary>
    public static string? CatalogDigest(DbConnection c) =>
        c.ExecuteScalar<byte[]?>("SELECT data FROM store_meta WHERE key=@key", new { key = CatalogKey }) is { } data ? System.Text.Encoding.ASCII.GetString(data) : null;

    public static void SetCatalogDigest(DbConnection c, DbTransaction t, string digest) =>
        c.Execute("INSERT INTO store_meta(key, value, data) VALUES (@key, NULL, @data) ON CONFLICT(key) DO UPDATE SET data = excluded.data", new { key = CatalogKey, data = System.Text.Encoding.ASCII.GetBytes(digest) }, t);
}
