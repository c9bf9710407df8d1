using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace FederatedTwin.Node.Storage;

/// <summary>
/// Prepared statements bound and stepped through SQLite's C API: ADO.NET's per-execution parameter
/// binding by name costs more than the insert itself here.
/// </summary>
internal sealed class Statements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, sqlite3_stmt> _statements = [];

    public void Execute(string sql, params object?[] values)
    {
        var statement = Prepare(sql, values);
        var step = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (step != raw.SQLITE_DONE)
        {
            Check(step);
        }
    }

    public object? Scalar(string sql, params object?[] values) => Rows(sql, values).Select(r => r[0]).FirstOrDefault();

    public IEnumerable<object?> Column(string sql, params object?[] values) => Rows(sql, values).Select(r => r[0]);

    /// <summary>All rows, read before returning (a statement is reused, so its rows cannot stay open).</summary>
    public List<object?[]> Rows(string sql, params object?[] values)
    {
        var statement = Prepare(sql, values);
        var rows = new List<object?[]>();
        try
        {
            int step;
            while ((step = raw.sqlite3_step(statement)) == raw.SQLITE_ROW)
            {
                var row = new object?[raw.sqlite3_column_count(statement)];
                for (var c = 0; c < row.Length; c++)
                {
                    row[c] = raw.sqlite3_column_type(statement, c) switch
                    {
                        raw.SQLITE_NULL => null,
                        raw.SQLITE_INTEGER => raw.sqlite3_column_int64(statement, c),
                        raw.SQLITE_FLOAT => raw.sqlite3_column_double(statement, c),
                        raw.SQLITE_BLOB => raw.sqlite3_column_blob(statement, c).ToArray(),
                        _ => raw.sqlite3_column_text(statement, c).utf8_to_string(),
                    };
                }

                rows.Add(row);
            }

            Check(step);
            return rows;
        }
        finally
        {
            raw.sqlite3_reset(statement);
        }
    }

    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Dispose();
        }

        _statements.Clear();
    }

    private sqlite3_stmt Prepare(string sql, object?[] values)
    {
        if (!_statements.TryGetValue(sql, out var statement))
        {
            Check(raw.sqlite3_prepare_v2(connection.Handle, sql, out statement));
            _statements[sql] = statement;
        }

        for (var c = 0; c < values.Length; c++)
        {
            Check(values[c] switch
            {
                null => raw.sqlite3_bind_null(statement, c + 1),
                string text => raw.sqlite3_bind_text(statement, c + 1, text),
                int i => raw.sqlite3_bind_int64(statement, c + 1, i),
                long l => raw.sqlite3_bind_int64(statement, c + 1, l),
                double d => raw.sqlite3_bind_double(statement, c + 1, d),
                byte[] blob => raw.sqlite3_bind_blob(statement, c + 1, blob),
                var other => throw new InvalidOperationException($"Unsupported column type {other.GetType().Name}."),
            });
        }

        return statement;
    }

    private void Check(int code)
    {
        if (code is not (raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW))
        {
            throw new SqliteException(raw.sqlite3_errmsg(connection.Handle).utf8_to_string(), code);
        }
    }
}
