namespace FederatedTwin.Node.Ingest;

/// <summary>
/// The writer's side of a run, line by line in input order: counts, and the quarantine within its caps. Conflicts (a
/// resource given twice in the run with different content) are found by the merge, which looks every key up anyway
/// (<see cref="FactMaterializer.Conflicts"/>); each is then moved from the accepted count to the quarantine here.
/// </summary>
internal sealed class IngestTally(IngestLimits limits)
{
    private readonly Dictionary<string, long> _storedPerFile = new(StringComparer.Ordinal);
    private long _stored;

    public long Read { get; private set; }

    public long Accepted { get; private set; }

    public long Quarantined { get; private set; }

    public long NotStored { get; private set; }

    public long Bytes { get; private set; }

    public SortedDictionary<string, long> PerType { get; } = new(StringComparer.Ordinal);

    public SortedDictionary<string, long> Reasons { get; } = new(StringComparer.Ordinal);

    public void Add(in ParsedLine parsed, IngestWriter writer)
    {
        Read++;
        Bytes += parsed.Line.Bytes.Length + 1;
        if (parsed.Reason is { } reason)
        {
            Quarantine(parsed.Line, parsed.LineHmac!, reason, writer);
            return;
        }

        Accepted++;
        PerType[parsed.Type!] = PerType.GetValueOrDefault(parsed.Type!) + 1;
        writer.Stage(parsed.Group, parsed.Entry.Span);
    }

    private void Quarantine(SourceLine line, string lineHmac, QuarantineReason reason, IngestWriter writer)
    {
        Quarantined++;
        Reasons[reason.Code] = Reasons.GetValueOrDefault(reason.Code) + 1;
        var inFile = _storedPerFile.GetValueOrDefault(line.SourceHash);
        if (inFile >= limits.QuarantinePerFile || _stored >= limits.QuarantinePerRun)
        {
            NotStored++;
            return;
        }

        _storedPerFile[line.SourceHash] = inFile + 1;
        _stored++;
        writer.Quarantine(line, lineHmac, reason);
    }

    /// <summary>A line counted as accepted that the merge found in conflict with an earlier one: quarantined instead (or only counted, when its file changed since and the line cannot be found again).</summary>
    public void Conflict(SourceLine? line, string? lineHmac, string type, IngestWriter writer)
    {
        Accepted--;
        PerType[type] = PerType.GetValueOrDefault(type) - 1;
        if (PerType[type] <= 0)
        {
            PerType.Remove(type);
        }

        if (line is { } found)
        {
            Quarantine(found, lineHmac!, QuarantineReason.ConflictingDuplicate, writer);
            return;
        }

        Quarantined++;
        Reasons[QuarantineReason.ConflictingDuplicate.Code] = Reasons.GetValueOrDefault(QuarantineReason.ConflictingDuplicate.Code) + 1;
        NotStored++;
    }
}
