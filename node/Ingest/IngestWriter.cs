using FederatedTwin.Node.Storage;
using Microsoft.Data.Sqlite;

namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The ingest's store layout (docs/architecture.md, "Data plane"). A SQLite row per resource costs
/// more than parsing the resource (two B-trees keyed by random HMACs), so the writer appends each
/// batch's entries to a staging table, one row per batch and partition of patients, and a merge at
/// the end of the run folds them into one row per patient (<see cref="FactMaterializer"/>). Both steps
/// commit in transactions, so a run killed at any point leaves either staged rows (merged by the next
/// run) or merged patients, never a half-written one; and since a resource already stored with the
/// same content is recognized by its key and hash, re-running an ingest changes nothing.
/// </summary>
internal sealed class IngestWriter(SqliteConnection connection, long memoryBytes, TimeProvider time) : IDisposable
{
    /// <summary>Patients are partitioned by the first byte of their pseudonym, so a merge holds 1/256 of a run in memory.</summary>
    public const int Partitions = 256;

    // Each partition's staged entries, in blocks that grow from 4 KiB to 128 KiB (a small run stays small; a
    // large one's blocks are allocated straight in the large-object heap, where entries held until the merge
    // are not copied from generation to generation). An entry never straddles two blocks.
    private const int FirstBlock = 4096, LargestBlock = 128 * 1024;
    private readonly byte[]?[] _open = new byte[]?[Partitions];
    private readonly int[] _used = new int[Partitions];
    private readonly List<ReadOnlyMemory<byte>>[] _held = [.. Enumerable.Range(0, Partitions).Select(_ => new List<ReadOnlyMemory<byte>>())];
    private readonly List<QuarantineRow> _quarantine = [];
    private readonly IngestQueries _sql = new(connection);
    private long _bytesInMemory;

    public void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason) =>
        _quarantine.Add(new QuarantineRow(line.SourceHash, line.LineNumber, line.ByteOffset, lineHmac, reason.Code, reason.Text, time.GetUtcNow().ToString("O")));

    /// <summary>Entries staged by this run so far (sizes the merge's key filter).</summary>
    public long StagedEntries { get; private set; }

    /// <summary>Buffers an entry for its group (a patient's pseudonym, or a group of resources no patient owns).</summary>
    public void Stage(GroupKey group, ReadOnlySpan<byte> entry)
    {
        StagedEntries++;
        var part = group.Partition;
        var length = GroupKey.Size + entry.Length;
        var block = _open[part];
        if (block is null || _used[part] + length > block.Length)
        {
            if (block is not null)
            {
                Hold(part);
            }

            block = _open[part] = new byte[Math.Max(Math.Min(block is null ? FirstBlock : block.Length * 2, LargestBlock), length)];
        }

        group.Write(block.AsSpan(_used[part]));
        entry.CopyTo(block.AsSpan(_used[part] + GroupKey.Size));
        _used[part] += length;
        _bytesInMemory += length;
    }

    /// <summary>The open block's entries join what is held, and the block is closed (its unused tail is left).</summary>
    private void Hold(int part)
    {
        if (_open[part] is { } block && _used[part] > 0)
        {
            _held[part].Add(block.AsMemory(0, _used[part]));
        }

        (_open[part], _used[part]) = (null, 0);
    }

    /// <summary>
    /// Ends a batch, in the current transaction: quarantine rows are written; staged entries stay in
    /// memory up to the ingest's memory limit, beyond which everything held is spilled to the staging
    /// table (so memory stays flat whatever the export's size). Held entries are not durable, and need
    /// not be: a run killed before its merge committed nothing from them, and its re-run reads them again.
    /// </summary>
    public void Flush()
    {
        if (_bytesInMemory > memoryBytes)
        {
            Spill();
        }

        WriteQuarantine();
    }

    /// <summary>Writes the quarantine rows recorded since the last flush, in the current transaction (after the merge, when nothing is to spill).</summary>
    public void WriteQuarantine()
    {
        foreach (var row in _quarantine)
        {
            _sql.Quarantine(row);
        }

        _quarantine.Clear();
    }

    /// <summary>What is held in memory for a partition, oldest first (after whatever was spilled for it).</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> Held(int part)
    {
        Hold(part);
        return _held[part];
    }

    public IEnumerable<int> HeldPartitions() => Enumerable.Range(0, Partitions).Where(p => _held[p].Count > 0 || _used[p] > 0);

    public void Dispose() => _sql.Dispose();

    private void Spill()
    {
        for (var part = 0; part < Partitions; part++)
        {
            Hold(part);
            foreach (var chunk in _held[part])
            {
                _sql.Stage(part, chunk.ToArray());
            }

            _held[part].Clear();
        }

        _bytesInMemory = 0;
    }
}
