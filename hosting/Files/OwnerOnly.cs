using System.Runtime.InteropServices;

namespace FederatedTwin.Hosting.Files;

/// <summary>
/// A service directory, or a file in it, that others than its owner can reach; the message says which and how to fix it. It prints as
/// its message alone: it is an operator's configuration to fix, not a fault whose stack trace helps anyone (`ftwin` shows one line).
/// </summary>
public sealed class OwnerOnlyException(string message) : IOException(message)
{
    public override string ToString() => Message;
}

/// <summary>
/// Node and coordinator directories hold pseudonymised patient rows, sealed keys and the audit trail: they are created 0700, every
/// file in them 0600, and a directory found otherwise is refused at start with the chmod that fixes it (docs/operations.md,
/// "Hardening checklist"). Two mechanisms, because neither alone covers every file: the process umask (077, set by `ftwin` and by
/// both services at start) covers every file any code of the process creates, the Data Protection key ring's XML and SQLite's
/// -wal, -shm and -journal files included; and files this code creates are created with an explicit mode, so a host that embeds
/// the services without the umask (a test) still gets owner-only files. SQLite creates its -wal and -shm files with the mode of the
/// database file (its unix VFS copies it), so creating the database file 0600 before SQLite opens it is enough for those.
/// On Windows the directory's ACL is the operator's (the checks are POSIX modes and do nothing there).
/// </summary>
public static class OwnerOnly
{
    /// <summary>rwx------ for directories.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw------- for files.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const UnixFileMode GroupOrOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Sets the process's file-creation mask to 077, so every file and directory it creates from now on is its owner's only, whoever
    /// creates it (SQLite, Data Protection, the runtime). Idempotent; a no-op on Windows.
    /// </summary>
    public static void RestrictProcessUmask()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = Umask(0x3F); // 077
        }
    }

    /// <summary>Creates a directory (and missing parents) as 0700; an existing directory is left as it is (<see cref="Require"/> checks it).</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, DirectoryMode);
        }
    }

    /// <summary>Creates an empty file 0600 when there is none (a database file, before SQLite opens it and makes its -wal and -shm alike).</summary>
    public static void CreateEmptyFile(string path)
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        try
        {
            using var _ = new FileStream(path, options);
        }
        catch (IOException) when (File.Exists(path))
        {
            // another process (or connection) created it first: it is checked, not replaced
        }
    }

    /// <summary>Writes a file owner-only: a new file is created 0600; an existing one keeps its mode (checked at start) and is overwritten.</summary>
    public static void WriteAllText(string path, string content)
    {
        var options = new FileStreamOptions { Mode = System.IO.FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = FileMode;
        }

        using var stream = new FileStream(path, options);
        using var writer = new StreamWriter(stream);
        writer.Write(content);
    }

    /// <summary>Refuses a service directory that others than its owner can reach: <see cref="OwnerOnlyException"/> with the fix.</summary>
    public static void Require(string directory)
    {
        if (Problem(directory) is { } problem)
        {
            throw new OwnerOnlyException(problem);
        }
    }

    /// <summary>
    /// Null when <paramref name="directory"/> does not exist or it, each file in it and each file of its subdirectories (keys/) is
    /// reachable by its owner only; else one line naming the first that is not and the chmod that fixes it. Symbolic links are not
    /// followed (their own mode means nothing; a link's target outside the directory is the operator's to protect).
    /// </summary>
    public static string? Problem(string directory)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory))
        {
            return null;
        }

        var found = new List<(FileSystemInfo Entry, UnixFileMode Mode)>();
        var root = new DirectoryInfo(directory);
        Collect(root, found, depth: 0);
        if (found.Count == 0)
        {
            return null;
        }

        var (entry, mode) = found[0];
        var isDirectory = entry is DirectoryInfo;
        var fix = $"chmod {(isDirectory ? "700" : "600")} {entry.FullName}";
        var more = found.Count > 1 ? $"; {found.Count - 1} more file(s) or directories in it are too: `chmod -R go= {root.FullName}` fixes all" : string.Empty;
        return $"{entry.FullName} is accessible to its group or others (mode {Octal(mode)}); a service directory must be its owner's only: run `{fix}`{more}.";
    }

    private static void Collect(DirectoryInfo directory, List<(FileSystemInfo, UnixFileMode)> found, int depth)
    {
        if ((directory.UnixFileMode & GroupOrOthers) != 0)
        {
            found.Add((directory, directory.UnixFileMode));
        }

        foreach (var entry in directory.EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is not null)
            {
                continue;
            }

            if (entry is DirectoryInfo sub)
            {
                if (depth == 0)
                {
                    Collect(sub, found, depth + 1);
                }
            }
            else if ((entry.UnixFileMode & GroupOrOthers) != 0)
            {
                found.Add((entry, entry.UnixFileMode));
            }
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0x1FF, 8).PadLeft(4, '0');

    [DllImport("libc", EntryPoint = "umask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern uint Umask(uint mask);
}
