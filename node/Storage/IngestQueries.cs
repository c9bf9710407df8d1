using Dapper;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Storage;

/// <summary>A quarantined line as its row keeps it: where it was and why, with a keyed hash of it (never its content).</summary>
internal readonly record struct QuarantineRow(string SourceHash, long LineNumber, long ByteOffset, string LineHmac, string ReasonCode, string Reason, string QuarantinedAt);

/// <summary>What a finished ingest run records in its row of ingest_runs.</summary>
internal readonly record struct IngestRunTotals(long Read, long Accepted, long Quarantined, long Unchanged, string PerTypeJson, double Seconds);

/// <summary>
/// The ingest's SQL: its run records and quarantine pruning (through the store's own short transactions),
/// and the per-batch writes of the bulk connection, whose statements are prepared once and reused for every
/// batch (<see cref="Statements"/>).
/// </summary>
internal sealed class IngestQueries(SqliteConnection connection) : IDisposable
{
    private readonly Statements _sql = new(connection);

    /// <summary>Opens a run's row; its id is the run's.</summary>
    public static long StartRun(SqliteConnection connection, SqliteTransaction transaction, string startedAt) =>
        connection.ExecuteScalar<long>("INSERT INTO ingest_runs(started_at) VALUES (@now); SELECT last_insert_rowid();", new { now = startedAt }, transaction);

    public static void FinishRun(SqliteConnection connection, SqliteTransaction transaction, long runId, string finishedAt, IngestRunTotals totals) =>
        connection.Execute("""
            UPDATE ingest_runs SET finished_at=@now, lines_read=@read, accepted=@accepted, quarantined=@quarantined, unchanged=@unchanged, per_type_json=@types, seconds=@seconds WHERE run_id=@runId
            """, new { now = finishedAt, read = totals.Read, accepted = totals.Accepted, quarantined = totals.Quarantined, unchanged = totals.Unchanged, types = totals.PerTypeJson, seconds = totals.Seconds, runId }, transaction);

    /// <summary>Deletes the quarantine records from before the cutoff; returns how many.</summary>
    public static int PruneQuarantine(SqliteConnection connection, SqliteTransaction transaction, string cutoff) =>
        connection.Execute("DELETE FROM quarantine WHERE quarantined_at < @cutoff", new { cutoff }, transaction);

    /// <summary>A line seen before (same file, same position) keeps its first record.</summary>
    public void Quarantine(in QuarantineRow row) =>
        _sql.Execute("INSERT OR IGNORE INTO quarantine(source_hash, line_no, byte_offset, line_hmac, reason_code, reason, quarantined_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            row.SourceHash, row.LineNumber, row.ByteOffset, row.LineHmac, row.ReasonCode, row.Reason, row.QuarantinedAt);

    /// <summary>One partition's staged entries, spilled from memory.</summary>
    public void Stage(int part, byte[] data) => _sql.Execute("INSERT INTO ingest_staging(part, data) VALUES (?, ?)", part, data);

    public void Dispose() => _sql.Dispose();
}
