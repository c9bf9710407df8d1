using System.Runtime.InteropServices;

namespace FederatedTwin.Hosting.Files;

/// <summary>
/// Writes that survive a crash or power cut at any point: a file's bytes are flushed to the disk (fsync) before it is
/// renamed into place, and the directory is flushed after the rename, so the name points at either the whole old file
/// or the whole new one (POSIX rename(2) is atomic; without the directory fsync the rename itself may be lost, as the
/// Linux fsync(2) manual says).
/// </summary>
public static class DurableFile
{
    private const int ReadOnly = 0; // O_RDONLY

    /// <summary>Creates a file that must not exist yet, readable and writable by its owner only, flushed to the disk.</summary>
    public static void CreateOwnerOnly(string path, ReadOnlySpan<byte> content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, options))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }

        SyncDirectory(Path.GetDirectoryName(path)!);
    }

    /// <summary>Replaces a file's content atomically: written beside it, flushed, renamed over it, directory flushed.</summary>
    public static void Replace(string path, ReadOnlySpan<byte> content)
    {
        var temporary = path + ".tmp";
        File.Delete(temporary); // a leftover of a crash before its rename
        CreateOwnerOnly(temporary, content);
        Move(temporary, path);
    }

    /// <summary>Renames a flushed file over another atomically and flushes the directory.</summary>
    public static void Move(string from, string to)
    {
        File.Move(from, to, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(to)!);
    }

    /// <summary>fsync(2) on a directory, so a file created or renamed in it survives a crash; Windows has no equivalent and needs none for NTFS renames.</summary>
    public static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var fd = Open(directory, ReadOnly);
        if (fd < 0)
        {
            throw new IOException($"Cannot open {directory} to flush it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of {directory} failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Close(int fd);
}
