using System.CommandLine;
using System.Text.Json;
using FederatedTwin.Node;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Storage;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin node ingest | quarantine | features`: the node's data plane, on the hospital's host.</summary>
internal static class NodeDataCommands
{
    public static void AddTo(Command node, Option<DirectoryInfo> nodeDir)
    {
        var path = new Argument<string>("path") { Description = "A Bulk Data $export folder (Type.NNN.ndjson[.gz]) or a FHIR Bundle file." };
        var json = new Option<bool>("--json") { Description = "Print a JSON summary." };
        var memory = new Option<int>("--memory-mb") { Description = "Memory for de-identified entries before they spill to the store (MB).", DefaultValueFactory = _ => IngestPipeline.DefaultMemoryMegabytes };
        memory.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--memory-mb must be at least 1.");
            }
        });
        var perFile = new Option<int>("--max-quarantine-per-file") { Description = "Quarantined lines stored per file; beyond, they are counted, not stored, and the run is marked incomplete.", DefaultValueFactory = _ => IngestLimits.DefaultQuarantinePerFile };
        var perRun = new Option<int>("--max-quarantine-per-run") { Description = "Quarantined lines stored per run; beyond, they are counted, not stored, and the run is marked incomplete.", DefaultValueFactory = _ => IngestLimits.DefaultQuarantinePerRun };
        foreach (var cap in new[] { perFile, perRun })
        {
            cap.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() < 0)
                {
                    r.AddError($"{cap.Name} must not be negative.");
                }
            });
        }

        var maxStore = StoreSizeCapOption.Create("node.db");
        var ingest = new Command("ingest", "Ingest FHIR R4 data: de-identify at the door, quarantine bad lines, update features. Exit codes: 0 complete; 3 complete but some files failed or quarantined lines were not stored (see failed_files, quarantine_not_stored); 2 no such path; 1 the run failed (the store full, another ingest running, ...).") { path, nodeDir, json, memory, perFile, perRun, maxStore };
        ingest.SetAction(parse =>
        {
            IngestSummary summary;
            int skipped;
            try
            {
                using var dir = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName, maxStoreBytes: Hosting.Storage.StoreSizeCap.Bytes(parse.GetValue(maxStore)));
                var limits = new IngestLimits(parse.GetValue(perFile), parse.GetValue(perRun));
                summary = Ingest(new IngestPipeline(dir, memoryMegabytes: parse.GetValue(memory), limits: limits), parse.GetValue(path)!, showProgress: !parse.GetValue(json) && !Console.IsOutputRedirected);
                skipped = IngestSources.Skipped(parse.GetValue(path)!).Count;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // One line, never a stack trace or an exception's message (which can quote a path: docs/operations.md, "Ingest FHIR data").
                Console.Error.WriteLine($"error: {IngestErrors.Describe(e, Hosting.Storage.StoreSizeCap.Bytes(parse.GetValue(maxStore)))}");
                return e is FileNotFoundException or DirectoryNotFoundException ? 2 : 1;
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(summary.ToJson(skipped)));
            }
            else
            {
                Console.WriteLine($"{summary.LinesRead} lines read: {summary.Accepted} accepted ({summary.Unchanged} unchanged), {summary.Quarantined} quarantined; {summary.PatientsUpdated} patients updated; {summary.Bytes / 1e6 / Math.Max(summary.Seconds, 1e-9):F1} MB/s");
                foreach (var failed in summary.FailedFiles)
                {
                    Console.WriteLine($"failed file {failed.Source}: {failed.Code}: {failed.Reason} ({failed.LinesRead} lines read)");
                }

                if (summary.QuarantineNotStored > 0)
                {
                    Console.WriteLine($"quarantine capped: {summary.QuarantineNotStored} quarantined lines counted but not stored (--max-quarantine-per-file, --max-quarantine-per-run)");
                }
            }

            // 3: the run finished and committed what it read, but not all of the export is in the store or the quarantine.
            return summary.Complete ? 0 : 3;
        });
        node.Subcommands.Add(ingest);

        var source = new Option<DirectoryInfo?>("--source") { Description = "Resolve source hashes to file names in this folder (on the hospital's own disk)." };
        var quarantine = new Command("quarantine", "The quarantine: bad lines by position and reason (never their content).");
        var list = new Command("list", "List quarantined lines.") { nodeDir, source, json };
        list.SetAction(parse =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            var names = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var file in parse.GetValue(source) is { } folder ? IngestSources.Files(folder.FullName) : [])
            {
                // Files that could not be opened are named by a keyed hash of their path, as the ingest reports them.
                names.TryAdd(IngestSources.ContentHash(file) ?? SourceFile.PathSource(dir.Pseudonymizer, file), Path.GetFileName(file));
            }

            var rows = dir.Store.Read(StatusQueries.Quarantine);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(rows.Select(r => new { source = r.SourceHash, file = names.GetValueOrDefault(r.SourceHash), line = r.LineNo, offset = r.ByteOffset, line_hmac = r.LineHmac, reason_code = r.ReasonCode, reason = r.Reason })));
                return 0;
            }

            var table = new Table().AddColumns("source", "line", "byte offset", "reason");
            foreach (var r in rows)
            {
                table.AddRow(Markup.Escape(names.GetValueOrDefault(r.SourceHash) ?? r.SourceHash), $"{r.LineNo}", $"{r.ByteOffset}", Markup.Escape($"{r.ReasonCode}: {r.Reason}"));
            }

            AnsiConsole.Write(table);
            return 0;
        });
        quarantine.Subcommands.Add(list);
        node.Subcommands.Add(quarantine);

        var features = new Command("features", "The patient-year feature store (de-identified).");
        var csv = new Option<bool>("--csv") { Description = "Write CSV to standard output.", DefaultValueFactory = _ => true };
        var study = new Option<string?>("--study") { Description = "Only the rows this node contributed to that study (after consent, policy and the train/held-out split), in the model's columns." };
        var export = new Command("export", "Export patient-year features for the hospital's own analysts (de-identified; pseudonyms stay on the node).") { nodeDir, csv, study };
        export.SetAction(parse =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            // 45 CFR 164.312(b): an export of (de-identified) patient-level rows is recorded, by scope and size, never its content.
            using var output = new LineCountingWriter(Console.Out);
            if (parse.GetValue(study) is { } studyId)
            {
                var code = StudyExport.Write(dir, studyId, output);
                if (code == 0)
                {
                    dir.Audit.Append(NodeAuditRecords.FeaturesExported(studyId, Math.Max(0, output.Lines - 1), output.FirstLineFields));
                }

                return code;
            }

            var columns = FeatureSchema.Columns.Select(c => c.Name).ToList();
            output.WriteLine(string.Join(',', columns));
            foreach (var row in new FeatureBuilder(dir.Store).All())
            {
                output.WriteLine(string.Join(',', columns.Select(c => c == "age_band" ? FeatureSchema.AgeBands[(int)row.Values[c]!.Value] : FeatureBuilder.Format(row.Values.GetValueOrDefault(c)))));
            }

            dir.Audit.Append(NodeAuditRecords.FeaturesExported(null, output.Lines - 1, columns.Count));
            return 0;
        });
        features.Subcommands.Add(export);
        node.Subcommands.Add(features);
    }

    /// <summary>The clock the progress display's rates are timed by (tests may replace it).</summary>
    internal static TimeProvider Clock { get; set; } = TimeProvider.System;

    private static IngestSummary Ingest(IngestPipeline pipeline, string path, bool showProgress)
    {
        if (!showProgress)
        {
            return pipeline.Run(path);
        }

        IngestSummary? summary = null;
        var total = IngestSources.Files(path).Sum(SourceFile.Length);
        var started = Clock.GetTimestamp();
        AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn()).Start(ctx =>
        {
            var task = ctx.AddTask("ingest", maxValue: Math.Max(1, total));
            summary = pipeline.Run(path, (lines, bytes) =>
            {
                var seconds = Math.Max(Clock.GetElapsedTime(started).TotalSeconds, 1e-3);
                task.Description = $"ingest {lines / seconds:N0} lines/s {bytes / 1e6 / seconds:F1} MB/s";
                task.Value = Math.Min(bytes, total);
            });
            task.Value = total;
        });
        return summary!;
    }
}

/// <summary>Forwards lines to another writer and counts them (and the fields of the first), for the export's audit entry.</summary>
internal sealed class LineCountingWriter(TextWriter inner) : TextWriter
{
    public long Lines { get; private set; }

    public int FirstLineFields { get; private set; }

    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void Write(char value) => inner.Write(value);

    public override void WriteLine(string? value)
    {
        if (Lines == 0)
        {
            FirstLineFields = (value ?? string.Empty).Split(',').Length;
        }

        Lines++;
        inner.WriteLine(value);
    }

    public override void Flush() => inner.Flush();
}
