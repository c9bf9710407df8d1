using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>An ingest run as stored (ingest_runs).</summary>
public sealed record IngestRunRow(long RunId, string StartedAt, string? FinishedAt, long LinesRead, long Accepted, long Quarantined, long Unchanged);

/// <summary>A quarantined line: where it is (source content hash, line, byte offset), its keyed hash, and why (never its content).</summary>
public sealed record QuarantinedLine(string SourceHash, long LineNo, long ByteOffset, string LineHmac, string ReasonCode, string Reason);

/// <summary>An operational event (events), as the admin API lists it.</summary>
public sealed record StoredEvent(string At, string Kind, string? StudyId, string Detail);

/// <summary>What the status page, the admin API and `ftwin node quarantine` read of the node's operation: ingest runs, quarantine, events.</summary>
public static class StatusQueries
{
    /// <summary>The latest ingest run, or null before the first.</summary>
    public static IngestRunRow? LastIngest(DbConnection c)
    {
        var run = c.QuerySingleOrDefault<(long run_id, string started_at, string? finished_at, long lines_read, long accepted, long quarantined, long unchanged)>(
            "SELECT run_id, started_at, finished_at, lines_read, accepted, quarantined, unchanged FROM ingest_runs ORDER BY run_id DESC LIMIT 1");
        return run.started_at is null ? null : new IngestRunRow(run.run_id, run.started_at, run.finished_at, run.lines_read, run.accepted, run.quarantined, run.unchanged);
    }

    public static long QuarantinedLines(DbConnection c) => c.ExecuteScalar<long>("SELECT COUNT(*) FROM quarantine");

    /// <summary>Every quarantined line, by source and line.</summary>
    public static IReadOnlyList<QuarantinedLine> Quarantine(DbConnection c) =>
        c.Query<(string source_hash, long line_no, long byte_offset, string line_hmac, string reason_code, string reason)>(
            "SELECT source_hash, line_no, byte_offset, line_hmac, reason_code, reason FROM quarantine ORDER BY source_hash, line_no")
        .Select(r => new QuarantinedLine(r.source_hash, r.line_no, r.byte_offset, r.line_hmac, r.reason_code, r.reason)).ToList();

    /// <summary>The latest 500 events, newest first.</summary>
    public static IReadOnlyList<StoredEvent> RecentEvents(DbConnection c) =>
        c.Query<(string at, string kind, string? study_id, string detail)>("SELECT at, kind, study_id, detail FROM events ORDER BY id DESC LIMIT 500")
        .Select(e => new StoredEvent(e.at, e.kind, e.study_id, e.detail)).ToList();
}
