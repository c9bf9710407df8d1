using System.Globalization;
using System.Net.Sockets;
using Dapper;
using Npgsql;

namespace FederatedTwin.Hosting.Storage;

/// <summary>
/// PostgreSQL: pooled connections from one <see cref="NpgsqlDataSource"/>, writes at SERIALIZABLE (as on SQLite, every write is one
/// serializable transaction: PostgreSQL then aborts one of two transactions that could not have run one after the other, SQLSTATE
/// 40001, and <see cref="MigratingStore{TConnection, TTransaction}.Write{T}"/> runs it again), migrations under an advisory lock so
/// replicas that start together on one database migrate it once. The database must compare text bytewise (collation C or POSIX):
/// the stores' ORDER BYs over ids, names and ISO 8601 instants must sort as SQLite's BINARY collation sorts them, or the same data
/// would be listed, and participants ordered, differently by engine.
/// </summary>
/// <remarks>
/// The connection string never carries the password (it would show in a process list or a configuration file): it is given apart
/// (<paramref name="password"/>, read from a password file by the caller), or Npgsql takes it from PGPASSWORD or the password file
/// (PGPASSFILE, ~/.pgpass) as libpq does (PostgreSQL documentation, libpq "Environment Variables" and "The Password File").
/// </remarks>
public sealed class PostgresDialect : StoreDialect<NpgsqlConnection>, IDisposable
{
    /// <summary>The advisory lock key the migrations hold (any constant both replicas agree on: "ftwin" in ASCII).</summary>
    private const long MigrationLockKey = 0x667477696E;

    private readonly NpgsqlDataSource _source;

    /// <param name="connectionString">An Npgsql connection string without a password.</param>
    /// <param name="password">The password, when it is not left to PGPASSWORD or the password file; never logged or shown.</param>
    public PostgresDialect(string connectionString, string? password = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        Server = Describe(builder);
        if (password is not null)
        {
            builder.Password = password;
        }

        _source = NpgsqlDataSource.Create(builder);
    }

    /// <summary>host:port/database, for messages (never the password).</summary>
    public string Server { get; }

    public override string StoreName => $"the PostgreSQL database {Server}";

    public override NpgsqlConnection Open() => _source.OpenConnection();

    public override void Initialize(NpgsqlConnection connection)
    {
        var collation = connection.ExecuteScalar<string>("SELECT datcollate FROM pg_database WHERE datname = current_database()");
        if (collation is not ("C" or "POSIX" or "C.UTF-8" or "C.utf8"))
        {
            throw new InvalidOperationException(
                $"{StoreName} sorts text by the collation '{collation}'; the coordinator needs bytewise order (collation C). Create the database with "
                + "CREATE DATABASE ... TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' (docs/operations.md, \"Running the coordinator on PostgreSQL\").");
        }
    }

    /// <summary>
    /// A session-level advisory lock (PostgreSQL documentation 9.27.10, "Advisory Lock Functions") held while the migrations run:
    /// a second replica waits for the first to finish and then finds the schema current.
    /// </summary>
    public override IDisposable? LockForMigrations(NpgsqlConnection connection)
    {
        connection.Execute("SELECT pg_advisory_lock(@key)", new { key = MigrationLockKey });
        return new Unlock(connection);
    }

    /// <summary>
    /// serialization_failure (40001) and deadlock_detected (40P01), PostgreSQL Appendix A: the transaction was aborted only because
    /// another ran beside it, and PostgreSQL 13.2.3 ("Serializable Isolation Level") asks the application to retry it.
    /// </summary>
    public override bool IsRetryable(Exception error) =>
        error is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    /// <summary>Enough for a burst of concurrent node requests on the same rows; each retry waits up to 250 ms.</summary>
    public override int WriteAttempts => 12;

    /// <summary>Any error of the server or of the connection to it (a restart, a failover, a full disk, the pool exhausted).</summary>
    public override bool IsStorageError(Exception error) => error is NpgsqlException || error.InnerException is NpgsqlException;

    /// <summary>
    /// Why a server cannot be used, in one sentence that names host, port and database (never the password), or null when a connection
    /// opens within <paramref name="timeoutSeconds"/>.
    /// </summary>
    public static string? Unreachable(string connectionString, string? password, int timeoutSeconds = 10)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Timeout = timeoutSeconds, Pooling = false };
        var server = Describe(builder);
        if (password is not null)
        {
            builder.Password = password;
        }

        try
        {
            using var connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            return null;
        }
        catch (PostgresException e)
        {
            return $"PostgreSQL at {server} refused the connection: {e.SqlState} {e.MessageText}";
        }
        catch (NpgsqlException e) when (Find<SocketException>(e) is { } socket)
        {
            return $"cannot reach PostgreSQL at {server}: {socket.SocketErrorCode} ({socket.Message})";
        }
        catch (NpgsqlException e) when (Find<TimeoutException>(e) is not null)
        {
            return $"cannot reach PostgreSQL at {server}: no answer within {timeoutSeconds} s";
        }
        catch (NpgsqlException e)
        {
            return $"cannot reach PostgreSQL at {server}: {e.Message}";
        }
    }

    /// <summary>Whether a connection string names a password (refused: the password is given apart).</summary>
    public static bool HasPassword(string connectionString) => !string.IsNullOrEmpty(new NpgsqlConnectionStringBuilder(connectionString).Password);

    /// <summary>host:port/database of a connection string, for messages.</summary>
    public static string Describe(string connectionString) => Describe(new NpgsqlConnectionStringBuilder(connectionString));

    public void Dispose() => _source.Dispose();

    private static string Describe(NpgsqlConnectionStringBuilder builder) =>
        string.Create(CultureInfo.InvariantCulture, $"{builder.Host ?? "(no host)"}:{builder.Port}/{builder.Database ?? builder.Username ?? "(default database)"}");

    private static T? Find<T>(Exception? e)
        where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    private sealed class Unlock(NpgsqlConnection connection) : IDisposable
    {
        public void Dispose() => connection.Execute("SELECT pg_advisory_unlock(@key)", new { key = MigrationLockKey });
    }
}
