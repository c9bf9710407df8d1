using System.Diagnostics;
using System.Globalization;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Node.Sources.Omop;

/// <summary>
/// Pulls an OMOP CDM v5.4 database (<see cref="SourceKind.Omop"/>) into the node's store through the one ingest
/// (<see cref="OmopReader"/>). An OMOP database has no change feed the node could trust (no last-updated per row in CDM v5.4),
/// so every pull re-reads the whole CDM and the ingest recognises what it already holds (same resource, same content:
/// unchanged). The watermark a successful pull records is therefore only when it started (its <c>TransactionTime</c>), kept for
/// the status page; <see cref="PullOptions.Since"/> is ignored. Rows deleted from the CDM are not yet removed from the node
/// (the ingest's deletion seam is the Bulk client's branch). Every pull is audited (45 CFR 164.312(b)): <c>source_pulled</c>
/// with its counts, or <c>source_pull_failed</c> with its stage and code.
/// </summary>
public sealed class OmopPuller(TimeProvider? time = null, int cores = 0, int memoryMegabytes = IngestPipeline.DefaultMemoryMegabytes) : ISourcePuller
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public SourceKind Kind => SourceKind.Omop;

    /// <summary>Rows read and resources emitted per CDM table by the last pull (null before one).</summary>
    public OmopTableCounts? LastCounts { get; private set; }

    /// <summary>The ingest's summary of the last pull (null before one, or when it failed before the ingest).</summary>
    public IngestSummary? LastIngest { get; private set; }

    public async Task<PullSummary> PullAsync(NodeDirectory node, DataSource source, PullOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        if (source.Kind != SourceKind.Omop)
        {
            throw new ArgumentException("Not an OMOP source.", nameof(source));
        }

        var name = source.Name.Length > 0 ? source.Name : "(one-off)";
        var startedAt = _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);
        var clock = Stopwatch.StartNew();
        LastIngest = null;
        var stage = "configuration";
        try
        {
            using var reader = new OmopReader(source.OmopConnection ?? throw new OmopSourceException("configuration", "missing_connection", "The OMOP source has no connection string."), source.OmopSchema);
            LastCounts = reader.Counts;
            options.Progress?.Report(new PullProgress("discovery", 0, 0, 0, null));
            stage = "schema";
            reader.CheckSchema();
            stage = "concept_sets";
            var sets = reader.ExpandConceptSets();
            // Each table's stream is named for the quarantine by a keyed hash of the source and table, never the connection string.
            var inputs = reader.Inputs(sets, table => node.Pseudonymizer.SourcePath("omop|" + source.WatermarkKey + "|" + table));
            stage = "read";
            options.Progress?.Report(new PullProgress("ingesting", 0, inputs.Count, 0, null));
            var ingest = await Task.Run(
                () => new IngestPipeline(node, cores, memoryMegabytes, _time).Run(inputs, [], (_, bytes) => options.Progress?.Report(new PullProgress("ingesting", 0, inputs.Count, bytes, null)), cancellationToken),
                cancellationToken).ConfigureAwait(false);
            LastIngest = ingest;
            var summary = new PullSummary(inputs.Count, ingest.LinesRead, ingest.Accepted, ingest.Quarantined, startedAt, null, 0, clock.Elapsed.TotalSeconds)
            {
                Bytes = ingest.Bytes,
                Complete = ingest.Complete,
            };
            var detail = string.Create(CultureInfo.InvariantCulture, $"omop: {ingest.LinesRead} resources read, {ingest.Accepted} accepted ({ingest.Unchanged} unchanged), {ingest.Quarantined} quarantined");
            if (!ingest.Complete)
            {
                // A table not read to its end: what was read is kept, the watermark is not moved.
                var code = ingest.FailedFiles.Count > 0 ? ingest.FailedFiles[0].Code : "quarantine_not_stored";
                node.Store.Write((c, t) =>
                {
                    SourceQueries.Failed(c, t, source.WatermarkKey, _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), "read: " + code);
                    node.Audit.Append(c, t, NodeAuditRecords.SourcePullFailed(name, SourceKind.Omop, null, "read", null, code));
                });
                return summary;
            }

            node.Store.Write((c, t) =>
            {
                SourceQueries.Succeeded(c, t, source.WatermarkKey, startedAt, _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), detail);
                node.Audit.Append(c, t, NodeAuditRecords.SourcePulled(name, SourceKind.Omop, null, null, summary));
            });
            return summary;
        }
        catch (OmopSourceException e)
        {
            Failed(node, source, name, e.Stage, e.Code);
            throw;
        }
        catch (OperationCanceledException)
        {
            Failed(node, source, name, stage, "cancelled");
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Failed(node, source, name, stage, e.GetType().Name);
            throw;
        }
    }

    private void Failed(NodeDirectory node, DataSource source, string name, string stage, string code) => node.Store.Write((c, t) =>
    {
        SourceQueries.Failed(c, t, source.WatermarkKey, _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture), stage + ": " + code);
        node.Audit.Append(c, t, NodeAuditRecords.SourcePullFailed(name, SourceKind.Omop, null, stage, null, code));
    });
}
