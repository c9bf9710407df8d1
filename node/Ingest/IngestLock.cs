namespace FederatedTwin.Node.Ingest;

/// <summary>
/// One ingest at a time per node directory: an ingest holds an exclusive lock on ingest.lock (flock(2) on Unix, a sharing lock on
/// Windows; released by the kernel when the process ends, so a killed ingest never leaves it behind) from before it records its run
/// until it returns. Two runs at once would each stage entries and each merge the shared staging table, so one could fold the
/// other's half-read export into patients' rows or remove staged rows the other still counts on; a second ingest is therefore
/// refused at once (<see cref="IngestBusyException"/>), before it writes anything, rather than waiting an unknown time.
/// </summary>
internal static class IngestLock
{
    public const string FileName = "ingest.lock";

    /// <summary>Takes the lock; throws <see cref="IngestBusyException"/> when another process (or run) holds it.</summary>
    public static FileStream Acquire(string nodeDirectory)
    {
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            return new FileStream(Path.Combine(nodeDirectory, FileName), options);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new IngestBusyException();
        }
    }
}

/// <summary>Another ingest holds the node directory's ingest lock (<see cref="IngestLock"/>).</summary>
public sealed class IngestBusyException() : IOException("Another ingest is running on this node directory (ingest.lock).");
