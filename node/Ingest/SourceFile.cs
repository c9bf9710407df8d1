using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// Why a data file of an export was not read, or not read to its end: a code and a fixed sentence, never the
/// file's name, path or a value from it (file names can hold patients' names: Synthea names Bundles after them).
/// </summary>
public sealed record FileProblem(string Code, string Text)
{
    public static readonly FileProblem DanglingLink = new("dangling_link", "a symbolic link whose target does not exist: nothing read");
    public static readonly FileProblem LinkLoop = new("link_loop", "a loop of symbolic links: nothing read");
    public static readonly FileProblem Vanished = new("vanished", "the file was removed before it could be read: nothing read");
    public static readonly FileProblem TruncatedGzip = new("truncated_gzip", "the gzip data ends before the end of its last member (RFC 1952: no complete trailer), so the file is truncated or corrupt at its end; the lines before that point were read");
    public static readonly FileProblem CorruptGzip = new("corrupt_gzip", "the file is not valid gzip (RFC 1952) from some point on; the lines before that point were read");
    public static readonly FileProblem TrailingData = new("gzip_trailing_data", "bytes after the end of the gzip data were not read (they are not a gzip member, RFC 1952 section 2.2)");
    public static readonly FileProblem MalformedBundle = new("malformed_bundle", "the Bundle is not well-formed JSON (RFC 8259) from some point on; the entries before that point were read");
    public static readonly FileProblem OversizedValue = new("oversized_value", "the Bundle has a JSON value outside any entry's resource longer than the ingest's line limit; the entries before it were read");
    public static readonly FileProblem ReadError = new("read_error", "reading the file failed with an I/O error; the lines before that point were read");

    /// <summary>A FIFO, device, socket or directory under a data file's name: never opened for reading (a FIFO would block, a device never end).</summary>
    public static FileProblem NotRegular(string kind) => new("not_a_regular_file", $"not a regular file ({kind}): not read");

    /// <summary>The file could not be opened (permissions, say): the error number only.</summary>
    public static FileProblem Unreadable(int errno) => new("unreadable", $"the file could not be opened (errno {errno}): nothing read");
}

/// <summary>
/// A data file that was not read, or not to its end: by the SHA-256 of its content as the quarantine names it,
/// or, when it could not be opened, by "path:" and a keyed hash of its path (<see cref="Deidentification.Pseudonymizer.SourcePath"/>).
/// </summary>
public sealed record FailedFile(string Source, string Code, string Reason, long LinesRead);

/// <summary>
/// Opens an export's files so that nothing but a regular file is ever read: a FIFO named *.ndjson would block the
/// ingest forever, a link to /dev/zero would feed it forever. On Linux the file is opened with O_NONBLOCK (which
/// returns at once even for a FIFO without a writer, open(2)) and its type is checked on the open descriptor with
/// statx(2) before any read, so the check and the read are of the same file. Elsewhere, links are resolved and
/// only a non-empty file that is not a directory is opened (FIFOs and devices report a length of 0).
/// </summary>
public static class SourceFile
{
    /// <summary>The file as a readable stream, or null and why not (the stream is positioned at its start).</summary>
    public static FileStream? Open(string path, out FileProblem? problem)
    {
        problem = null;
        if (OperatingSystem.IsLinux())
        {
            try
            {
                return OpenLinux(path, out problem);
            }
            catch (EntryPointNotFoundException)
            {
                // A C library without statx (before glibc 2.28): the portable checks below.
            }
        }

        return OpenPortable(path, out problem);
    }

    /// <summary>SHA-256 of the stream's content (32 hex digits, the quarantine's source id); the stream is rewound after.</summary>
    public static string ContentHash(Stream stream)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream))[..32];
        stream.Position = 0;
        return hash;
    }

    /// <summary>The source id of a file that could not be opened: a keyed hash of its full path (a name could be guessed from a plain hash).</summary>
    public static string PathSource(Deidentification.Pseudonymizer pseudonyms, string path) => "path:" + pseudonyms.SourcePath(Path.GetFullPath(path));

    /// <summary>The length of a regular file, or 0 for anything else (for progress displays: never follows a link to a device).</summary>
    public static long Length(string path)
    {
        using var stream = Open(path, out _);
        return stream?.Length ?? 0;
    }

    private static FileStream? OpenLinux(string path, out FileProblem? problem)
    {
        problem = null;
        var fd = OpenFile(path, ReadOnly | NonBlocking | NoControllingTerminal | CloseOnExec);
        if (fd < 0)
        {
            problem = Marshal.GetLastPInvokeError() switch
            {
                NoEntry => IsLink(path) ? FileProblem.DanglingLink : FileProblem.Vanished,
                TooManyLinks => FileProblem.LinkLoop,
                NoDevice => FileProblem.NotRegular("a socket"),
                var errno => FileProblem.Unreadable(errno),
            };
            return null;
        }

        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Statx(fd, string.Empty, EmptyPath, StatxType, out var status) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            problem = FileProblem.Unreadable(errno);
            return null;
        }

        var kind = (status.Mode & TypeMask) switch
        {
            RegularFile => null,
            Directory => "a directory",
            CharacterDevice => "a character device",
            BlockDevice => "a block device",
            Fifo => "a FIFO",
            Socket => "a socket",
            _ => "an unknown kind of file",
        };
        if (kind is not null)
        {
            handle.Dispose();
            problem = FileProblem.NotRegular(kind);
            return null;
        }

        // O_NONBLOCK has no effect on a regular file's reads (open(2)); it stays set.
        return new FileStream(handle, FileAccess.Read, bufferSize: 4096);
    }

    private static FileStream? OpenPortable(string path, out FileProblem? problem)
    {
        problem = null;
        FileSystemInfo info = new FileInfo(path);
        try
        {
            if (info.LinkTarget is not null)
            {
                info = info.ResolveLinkTarget(returnFinalTarget: true) ?? info;
            }
        }
        catch (IOException)
        {
            problem = FileProblem.LinkLoop;
            return null;
        }

        info.Refresh();
        if (!info.Exists)
        {
            problem = System.IO.Directory.Exists(info.FullName) ? FileProblem.NotRegular("a directory") : IsLink(path) ? FileProblem.DanglingLink : FileProblem.Vanished;
            return null;
        }

        if (info is FileInfo { Length: 0 })
        {
            // Without a way to ask the file's type, an empty file is not opened: a FIFO or a device reports 0 too.
            problem = FileProblem.NotRegular("empty, or a FIFO or device");
            return null;
        }

        try
        {
            return new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096);
        }
        catch (UnauthorizedAccessException)
        {
            problem = FileProblem.Unreadable(13);
            return null;
        }
        catch (FileNotFoundException)
        {
            problem = FileProblem.Vanished;
            return null;
        }
    }

    private static bool IsLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget is not null;
        }
        catch (IOException)
        {
            return false;
        }
    }

    // open(2) flags and errno values of Linux (the generic ABI: x86-64, arm64, riscv64 and most others).
    private const int ReadOnly = 0, NoControllingTerminal = 0x100, NonBlocking = 0x800, CloseOnExec = 0x80000;
    private const int NoEntry = 2, NoDevice = 6, TooManyLinks = 40;

    // statx(2): the descriptor itself (AT_EMPTY_PATH), the type only (STATX_TYPE); st_mode's type bits (inode(7)).
    private const int EmptyPath = 0x1000;
    private const uint StatxType = 0x1;
    private const int TypeMask = 0xF000, Fifo = 0x1000, CharacterDevice = 0x2000, Directory = 0x4000, BlockDevice = 0x6000, RegularFile = 0x8000, Socket = 0xC000;

    /// <summary>struct statx (include/uapi/linux/stat.h): 256 bytes, the same layout on every architecture; stx_mode is at offset 28.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(28)]
        public ushort Mode;
    }

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int OpenFile([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int Statx(int directoryFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, out StatxBuffer buffer);
}
