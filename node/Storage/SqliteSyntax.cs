namespace FederatedTwin.Node.Storage;

/// <summary>
/// The SQLite-specific fragments of the node's queries, named in one place. The rest of their text is portable SQL (LIMIT,
/// ON CONFLICT … DO UPDATE, @-named parameters); a PostgreSQL dialect would supply its own for these (ON CONFLICT DO NOTHING,
/// GREATEST, IS DISTINCT FROM, octet_length) and the queries, and their callers, keep their shape.
/// </summary>
internal static class SqliteSyntax
{
    /// <summary>An insert that leaves an existing row with the same key as it is (and reports 0 rows).</summary>
    public const string InsertOrIgnore = "INSERT OR IGNORE INTO";

    /// <summary>A null-safe "differs from" comparison.</summary>
    public const string IsDistinctFrom = "IS NOT";

    /// <summary>The larger of two values in one row (SQLite's two-argument MAX).</summary>
    public static string Greatest(string a, string b) => $"MAX({a}, {b})";

    /// <summary>A blob's size in bytes.</summary>
    public static string BlobLength(string column) => $"length({column})";
}
