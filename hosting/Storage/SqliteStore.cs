using FederatedTwin.Hosting.Files;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Hosting.Storage;

/// <summary>A service's store in one SQLite file (<see cref="SqliteDialect"/>), created with its directory when missing.</summary>
public abstract class SqliteStore : MigratingStore<SqliteConnection, SqliteTransaction>, ISqliteFile
{
    protected SqliteStore(SqliteSettings settings, SchemaMigrations migrations)
        : base(Prepare(settings), migrations)
    {
        Path = settings.Path;
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <inheritdoc cref="SqliteBackup.Copy"/>
    public void BackupTo(string destination)
    {
        using var source = Open();
        SqliteBackup.Copy(source, destination);
    }

    /// <summary>The dialect of a store file, creating it (and its directory) owner-only first when missing.</summary>
    public static SqliteDialect Prepare(SqliteSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        OwnerOnly.CreateDirectory(System.IO.Path.GetDirectoryName(settings.Path)!);
        OwnerOnly.CreateEmptyFile(settings.Path); // 0600 before SQLite opens it: its -wal and -shm then get the same mode
        return new SqliteDialect(settings);
    }
}
