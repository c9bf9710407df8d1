using System.Formats.Tar;
using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Hosting.Storage;

namespace FederatedTwin.Hosting.Files;

/// <summary>What a backup bundle says about itself (its first entry, backup.json).</summary>
/// <param name="Format">The bundle's format and version.</param>
/// <param name="Service">"node" or "coordinator".</param>
/// <param name="Store">The store file's name in the bundle and in the directory.</param>
/// <param name="CreatedAt">When the store was copied (ISO 8601, UTC).</param>
/// <param name="AuditSeq">The copy's audit head: its last entry's sequence number (0: none).</param>
/// <param name="AuditHead">The copy's audit head hash, to compare with one recorded off the host.</param>
public sealed record BackupManifest(
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("service")] string Service,
    [property: JsonPropertyName("store")] string Store,
    [property: JsonPropertyName("created_at")] string CreatedAt,
    [property: JsonPropertyName("audit_seq")] long AuditSeq,
    [property: JsonPropertyName("audit_head")] string? AuditHead);

/// <summary>
/// A service directory in one owner-only file (POSIX tar): a consistent copy of its store made while the service runs
/// (<see cref="ISqliteFile.BackupTo"/>), and beside it every other file of the directory a restore needs: the Data Protection key
/// ring (keys/), the sealed keys, the key-encryption certificate when it is kept in the directory, the admin token's hash, the
/// policy and its signers, the key history. A bundle is therefore as secret as the directory: whoever holds it (and the key-encryption
/// certificate, when that is kept elsewhere) holds the service's identity. Restored only into a new directory, 0700 with 0600 files,
/// whatever modes the archive claims; entries that are not plain files of the directory or keys/ are refused.
/// </summary>
public static class BackupBundle
{
    public const string FormatName = "ftwin-backup/1";

    private const string ManifestName = "backup.json";

    /// <summary>
    /// Writes the bundle of <paramref name="directory"/> to <paramref name="output"/> (a new file, 0600). <paramref name="prepare"/>
    /// may change the store's copy before it is bundled (the node deletes its attempt secrets there).
    /// </summary>
    public static BackupManifest Write(string directory, ISqliteFile store, string service, string output, TimeProvider time, Action<string>? prepare = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        directory = Path.GetFullPath(directory);
        output = Path.GetFullPath(output);
        if (File.Exists(output))
        {
            throw new IOException($"{output} exists: a backup never overwrites a file.");
        }

        var storeName = Path.GetFileName(store.Path);
        var work = Directory.CreateTempSubdirectory("ftwin-backup-"); // 0700
        try
        {
            var copy = Path.Combine(work.FullName, storeName);
            var createdAt = time.GetUtcNow();
            store.BackupTo(copy);
            prepare?.Invoke(copy);
            var (seq, head) = AuditHead(copy);
            var manifest = new BackupManifest(FormatName, service, storeName, createdAt.ToString("O"), seq, head);

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = OwnerOnly.FileMode;
            }

            using (var stream = new FileStream(output, options))
            using (var tar = new TarWriter(stream, TarEntryFormat.Pax, leaveOpen: true))
            {
                var manifestEntry = new PaxTarEntry(TarEntryType.RegularFile, ManifestName) { Mode = OwnerOnly.FileMode, DataStream = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(manifest)) };
                tar.WriteEntry(manifestEntry);
                tar.WriteEntry(copy, storeName);
                foreach (var (path, name) in DirectoryFiles(directory, storeName))
                {
                    tar.WriteEntry(path, name);
                }

                stream.Flush(flushToDisk: true);
            }

            DurableFile.SyncDirectory(Path.GetDirectoryName(output)!);
            return manifest;
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Extracts a bundle into <paramref name="directory"/>, which must not exist or be empty: created 0700, every file 0600. Returns
    /// the bundle's manifest; <paramref name="service"/> must match it.
    /// </summary>
    public static BackupManifest Extract(string bundle, string directory, string service)
    {
        directory = Path.GetFullPath(directory);
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new IOException($"{directory} is not empty: a backup is restored into a new directory (move the old one aside first).");
        }

        OwnerOnly.CreateDirectory(directory);
        BackupManifest? manifest = null;
        using (var stream = File.OpenRead(bundle))
        using (var tar = new TarReader(stream))
        {
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !SafeName(entry.Name))
                {
                    throw new InvalidDataException($"The bundle holds an entry that is not a file of a service directory ({entry.EntryType} '{entry.Name}'): not a bundle `ftwin backup` wrote.");
                }

                if (entry.Name == ManifestName)
                {
                    using var json = new MemoryStream();
                    entry.DataStream?.CopyTo(json);
                    manifest = JsonSerializer.Deserialize<BackupManifest>(json.ToArray());
                    if (manifest?.Format != FormatName || manifest.Service != service)
                    {
                        throw new InvalidDataException($"The bundle is not a {service} backup of format {FormatName} (it says {manifest?.Service} {manifest?.Format}).");
                    }

                    continue;
                }

                var target = Path.Combine(directory, entry.Name);
                if (Path.GetDirectoryName(target) is { } parent && parent != directory)
                {
                    OwnerOnly.CreateDirectory(parent);
                }

                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = OwnerOnly.FileMode;
                }

                using var file = new FileStream(target, options);
                entry.DataStream?.CopyTo(file);
                file.Flush(flushToDisk: true);
            }
        }

        DurableFile.SyncDirectory(directory);
        return manifest ?? throw new InvalidDataException($"The bundle has no {ManifestName}: not a bundle `ftwin backup` wrote.");
    }

    /// <summary>The directory's files a restore needs: regular files at its top and in its subdirectories (keys/), not the live store.</summary>
    private static IEnumerable<(string Path, string Name)> DirectoryFiles(string directory, string storeName)
    {
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 1, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            var name = Path.GetRelativePath(directory, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            var isStore = name == storeName || name.StartsWith(storeName + "-", StringComparison.Ordinal); // -wal, -shm, -journal: the copy replaces them
            if (!isStore && !name.EndsWith(".tmp", StringComparison.Ordinal) && !name.EndsWith(".lock", StringComparison.Ordinal) && SafeName(name))
            {
                yield return (file.FullName, name);
            }
        }
    }

    /// <summary>A relative name of at most one directory level, without . or .. parts (an archive cannot write outside the new directory).</summary>
    private static bool SafeName(string name)
    {
        var parts = name.Split('/');
        return parts.Length is 1 or 2 && parts.All(p => p.Length > 0 && p != "." && p != ".." && !p.Contains('\\', StringComparison.Ordinal));
    }

    private static (long Seq, string? Head) AuditHead(string storeCopy)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder { DataSource = storeCopy, Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        if (!Protocol.Audit.AuditLog.Exists(connection))
        {
            return (0, null);
        }

        var head = Protocol.Audit.AuditLog.Head(connection, null);
        return head is null ? (0, null) : (head.Seq, head.Hash);
    }
}
