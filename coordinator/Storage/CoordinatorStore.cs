using Dapper;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Coordinator.Storage;

/// <summary>
/// The coordinator's SQLite store (coordinator.db). All round state lives here, never only in
/// memory, so the process can be killed at any point and resume. Every state change is one
/// transaction. The store holds ciphertexts and decrypted sums, never one node's plaintext update.
/// </summary>
public sealed class CoordinatorStore
{
    private readonly string _connectionString;

    public CoordinatorStore(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        Path = System.IO.Path.Combine(dataDir, "coordinator.db");
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Pooling = true, DefaultTimeout = 30 }.ToString();
        using var connection = Open();
        connection.Execute("PRAGMA journal_mode=WAL;");
        Migrations.Apply(connection);
    }

    public string Path { get; }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        connection.Execute("PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; PRAGMA synchronous=FULL;");
        return connection;
    }

    public T Read<T>(Func<SqliteConnection, T> query)
    {
        using var connection = Open();
        return query(connection);
    }

    public T Write<T>(Func<SqliteConnection, SqliteTransaction, T> change)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction(System.Data.IsolationLevel.Serializable);
        var result = change(connection, transaction);
        transaction.Commit();
        return result;
    }

    public void Write(Action<SqliteConnection, SqliteTransaction> change) => Write<int>((c, t) =>
    {
        change(c, t);
        return 0;
    });
}
