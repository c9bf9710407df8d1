using System.Data;
using Dapper;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>A stored back-test of the twin: its document (Twin/Validation/TwinValidation's JSON) and when it was stored.</summary>
internal sealed record TwinValidationRow(long id, long cutoff_year, string stored_at, string document);

/// <summary>The twin_validations table, in standard SQL.</summary>
internal static class TwinValidationQueries
{
    public static void Insert(IDbConnection c, IDbTransaction t, int cutoffYear, DateTimeOffset now, string document) =>
        c.Execute("INSERT INTO twin_validations(cutoff_year, stored_at, document) VALUES (@cutoffYear, @now, @document)",
            new { cutoffYear, now = StoredTime.Format(now), document }, t);

    /// <summary>The latest stored back-test, or null.</summary>
    public static TwinValidationRow? Latest(IDbConnection c) =>
        c.QuerySingleOrDefault<TwinValidationRow>("SELECT id, cutoff_year, stored_at, document FROM twin_validations ORDER BY id DESC LIMIT 1");
}
