using System.Data.Common;
using Dapper;

namespace FederatedTwin.Node.Storage;

/// <summary>What a study's submissions sent in a period: rounds, submissions, values and ciphertext bytes (never values themselves).</summary>
public sealed record SentSummary(string StudyId, long Rounds, long Submissions, long Values, long Bytes);

/// <summary>An ingest run in a period, as the compliance report lists it.</summary>
public sealed record PeriodIngestRun(long RunId, string StartedAt, long LinesRead, long Accepted, long Quarantined);

/// <summary>
/// The compliance report's reads over a period [from, to) (ISO 8601 UTC text: stored times are ISO 8601 UTC, so text order is time
/// order). Decisions in the period are <see cref="StudyQueries.DecisionsBetween"/>.
/// </summary>
public static class ComplianceQueries
{
    private static readonly string SentSql =
        $"SELECT study_id, COUNT(DISTINCT round), COUNT(*), SUM(value_count), SUM({SqliteSyntax.BlobLength("ciphertext")}) FROM submissions WHERE submitted_at >= @fromText AND submitted_at < @toText GROUP BY study_id ORDER BY study_id";

    public static IReadOnlyList<SentSummary> Sent(DbConnection c, string fromText, string toText) =>
        c.Query<(string study_id, long rounds, long submissions, long values, long bytes)>(SentSql, new { fromText, toText })
        .Select(r => new SentSummary(r.study_id, r.rounds, r.submissions, r.values, r.bytes)).ToList();

    /// <summary>Lines quarantined in the period, by reason code.</summary>
    public static IReadOnlyList<(string ReasonCode, long Count)> QuarantineByReason(DbConnection c, string fromText, string toText) =>
        c.Query<(string reason_code, long n)>(
            "SELECT reason_code, COUNT(*) FROM quarantine WHERE quarantined_at >= @fromText AND quarantined_at < @toText GROUP BY reason_code ORDER BY reason_code", new { fromText, toText })
        .Select(r => (r.reason_code, r.n)).ToList();

    public static IReadOnlyList<PeriodIngestRun> IngestRuns(DbConnection c, string fromText, string toText) =>
        c.Query<(long run_id, string started_at, long lines_read, long accepted, long quarantined)>(
            "SELECT run_id, started_at, lines_read, accepted, quarantined FROM ingest_runs WHERE started_at >= @fromText AND started_at < @toText ORDER BY run_id", new { fromText, toText })
        .Select(r => new PeriodIngestRun(r.run_id, r.started_at, r.lines_read, r.accepted, r.quarantined)).ToList();
}
