using FederatedTwin.Hosting.Files;
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

    /// <summary>
    /// A consistent copy of the store at one instant, written to <paramref name="destination"/> (a new file, owner-only) while the
    /// service may be writing: SQLite's online backup API (sqlite3_backup_init/step/finish, https://sqlite.org/backup.html) copies
    /// the pages of one read transaction, so the copy holds every transaction committed before it began and none after. The copy
    /// is in rollback-journal mode, one file with no -wal beside it.
    /// </summary>
    public void BackupTo(string destination)
    {
        if (File.Exists(destination))
        {
            throw new IOException($"{destination} exists: a backup never overwrites a file.");
        }

        OwnerOnly.CreateEmptyFile(destination);
        using var target = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = destination, Pooling = false }.ToString());
        using (var source = Open())
        {
            target.Open();
            source.BackupDatabase(target);
        }

        using var command = target.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=DELETE;";
        command.ExecuteNonQuery();
    }

    private static SqliteDialect Prepare(SqliteSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        OwnerOnly.CreateDirectory(System.IO.Path.GetDirectoryName(settings.Path)!);
        OwnerOnly.CreateEmptyFile(settings.Path); // 0600 before SQLite opens it: its -wal and -shm then get the same mode
        return new SqliteDialect(settings);
    }
}
