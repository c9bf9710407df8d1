using Microsoft.Data.Sqlite;

namespace FederatedTwin.Hosting.Storage;

/// <summary>A service's store in one SQLite file (<see cref="SqliteDialect"/>), created with its directory when missing.</summary>
public abstract class SqliteStore : MigratingStore<SqliteConnection, SqliteTransaction>
{
    protected SqliteStore(SqliteSettings settings, SchemaMigrations migrations)
        : base(Prepare(settings), migrations)
    {
        Path = settings.Path;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    private static SqliteDialect Prepare(SqliteSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(settings.Path)!);
        return new SqliteDialect(settings);
    }
}
