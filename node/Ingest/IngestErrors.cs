using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// One line, for the command line and the admin API, for an ingest that could not run or stopped: what went wrong and
/// what to do, never a stack trace, an exception's message (messages quote paths, and a path can hold a patient's name)
/// or SQLite's own text beyond its error code. The failed run is in the audit trail as ingest_failed.
/// </summary>
public static class IngestErrors
{
    /// <param name="error">What stopped the ingest.</param>
    /// <param name="maxStoreBytes">The store size cap the ingest ran under (--max-store-mb), to say which limit a full store hit.</param>
    public static string Describe(Exception error, long? maxStoreBytes = null) => error switch
    {
        // The batch being written was rolled back; what earlier batches committed stays, and a re-run resumes from it.
        _ when Hosting.Storage.StoreSizeCap.IsFull(error) => Hosting.Storage.StoreSizeCap.Message("the node's store (node.db)", "--max-store-mb", "Node:MaxStoreMegabytes", maxStoreBytes)
            + "; the batch being written was rolled back and the ingest resumes where it stopped",
        IngestBusyException => "another ingest is running on this node directory (it holds ingest.lock); run this one again once it has finished",
        SqliteException { SqliteErrorCode: 8 } => "the node's store is read-only (SQLite error 8); make node.db and its directory writable by the node's user and run the ingest again",
        SqliteException { SqliteErrorCode: 5 or 6 } e => $"the node's store is locked by another process (SQLite error {e.SqliteErrorCode}); run the ingest again once that process has finished",
        SqliteException { SqliteErrorCode: 10 } => "writing the node's store failed with an I/O error (SQLite error 10; a full disk or a file size limit can cause it); fix the disk and run the ingest again: it resumes where it stopped",
        SqliteException { SqliteErrorCode: 11 or 26 } e => $"the node's store is damaged (SQLite error {e.SqliteErrorCode}); restore it from a backup (docs/operations.md, \"Back up\")",
        SqliteException e => $"the node's store failed (SQLite error {e.SqliteErrorCode}); the run was recorded as ingest_failed and can be run again",
        FileNotFoundException or DirectoryNotFoundException => "no export folder or file at the given path",
        UnauthorizedAccessException => "permission denied reading the export or writing the node directory",
        OperationCanceledException => "the ingest was cancelled; run it again to resume it",
        IOException => "an I/O error stopped the ingest; the run was recorded as ingest_failed and can be run again",
        _ => $"the ingest failed ({error.GetType().Name}); the run was recorded as ingest_failed and can be run again; please report it",
    };
}
