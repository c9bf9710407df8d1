using FederatedTwin.Hosting.Files;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Hosting.Storage;

/// <summary>A store held in one SQLite file, which can copy itself while in use: what `ftwin node|coordinator backup` bundles.</summary>
public interface ISqliteFile
{
    /// <summary>The database file.</summary>
    string Path { get; }

    /// <inheritdoc cref="SqliteBackup.Copy"/>
    void BackupTo(string destination);
}

/// <summary>SQLite's online backup of a store, to a new owner-only file.</summary>
public static class SqliteBackup
{
    /// <summary>
    /// A consistent copy of the store at one instant, written to <paramref name="destination"/> (a new file, owner-only) while the
    /// service may be writing: SQLite's online backup API (sqlite3_backup_init/step/finish, https://sqlite.org/backup.html) copies
    /// the pages of one read transaction, so the copy holds every transaction committed before it began and none after. The copy
    /// is in rollback-journal mode, one file with no -wal beside it.
    /// </summary>
    public static void Copy(SqliteConnection source, string destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (File.Exists(destination))
        {
            throw new IOException($"{destination} exists: a backup never overwrites a file.");
        }

        OwnerOnly.CreateEmptyFile(destination);
        using var target = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = destination, Pooling = false }.ToString());
        target.Open();
        source.BackupDatabase(target);
        using var command = target.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=DELETE;";
        command.ExecuteNonQuery();
    }
}
