using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>The last pull of a source: when, how it ended, and its watermark (the transaction time of the last successful pull).</summary>
public sealed record SourcePullState(string SourceKey, string? Watermark, string? LastPullAt, string? LastStatus, string? LastDetail, string? LastSuccessAt);

/// <summary>
/// Per-source pull state (source_pulls, issue 22): the watermark `--since last` uses and the last outcome the status page shows. A
/// failed pull records its outcome and leaves the watermark as it was.
/// </summary>
public static class SourceQueries
{
    public static SourcePullState? Get(DbConnection c, string sourceKey) => c.QuerySingleOrDefault<SourcePullState>("""
        SELECT source_key AS SourceKey, watermark AS Watermark, last_pull_at AS LastPullAt, last_status AS LastStatus, last_detail AS LastDetail,
               last_success_at AS LastSuccessAt
        FROM source_pulls WHERE source_key=@sourceKey
        """, new { sourceKey });

    public static List<SourcePullState> All(DbConnection c) => [.. c.Query<SourcePullState>("""
        SELECT source_key AS SourceKey, watermark AS Watermark, last_pull_at AS LastPullAt, last_status AS LastStatus, last_detail AS LastDetail,
               last_success_at AS LastSuccessAt
        FROM source_pulls ORDER BY source_key
        """)];

    /// <summary>A successful pull: the new watermark (the export's transaction time) and when.</summary>
    public static void Succeeded(DbConnection c, DbTransaction t, string sourceKey, string? watermark, string at, string detail) => c.Execute("""
        INSERT INTO source_pulls(source_key, watermark, last_pull_at, last_status, last_detail, last_success_at)
        VALUES (@sourceKey, @watermark, @at, 'succeeded', @detail, @at)
        ON CONFLICT(source_key) DO UPDATE SET watermark = COALESCE(excluded.watermark, source_pulls.watermark), last_pull_at = excluded.last_pull_at,
            last_status = 'succeeded', last_detail = excluded.last_detail, last_success_at = excluded.last_success_at
        """, new { sourceKey, watermark, at, detail }, t);

    /// <summary>A failed pull: its outcome is kept, the watermark is not touched.</summary>
    public static void Failed(DbConnection c, DbTransaction t, string sourceKey, string at, string detail) => c.Execute("""
        INSERT INTO source_pulls(source_key, watermark, last_pull_at, last_status, last_detail, last_success_at)
        VALUES (@sourceKey, NULL, @at, 'failed', @detail, NULL)
        ON CONFLICT(source_key) DO UPDATE SET last_pull_at = excluded.last_pull_at, last_status = 'failed', last_detail = excluded.last_detail
        """, new { sourceKey, at, detail }, t);

    /// <summary>Forgets a source's state (its source was removed from the configuration).</summary>
    public static int Remove(DbConnection c, DbTransaction t, string sourceKey) =>
        c.Execute("DELETE FROM source_pulls WHERE source_key=@sourceKey", new { sourceKey }, t);
}
