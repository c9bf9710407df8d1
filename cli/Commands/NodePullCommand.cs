using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Bulk;
using FederatedTwin.Node.Sources.Omop;
using FederatedTwin.Node.Sources.Smart;
using FederatedTwin.Node.Storage;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node pull`: one pull of a data source into the node, by hand. A FHIR server's Bulk Data export (HL7 Bulk Data Access IG
/// v2.0.0) under SMART Backend Services, given on the command line or as a named source of node-config.json, or a named OMOP source.
/// Ctrl+C cancels the export on the server (DELETE on its status URL) and records the pull as failed, its watermark kept.
/// </summary>
internal static class NodePullCommand
{
    private const int Incomplete = 3;
    private const int Failed = 1;
    private const int Cancelled = 130;

    public static Command Create()
    {
        var nodeDir = new Option<DirectoryInfo>("--node-dir") { Description = "The node directory (must exist: `ftwin node init` makes one).", Required = true };
        var source = new Option<string?>("--source") { Description = "A source of node-config.json by name (`ftwin node source add`): FHIR Bulk Data or OMOP." };
        var fhirBase = new Option<string?>("--fhir-base") { Description = "The FHIR server's base URL (https; http only to this host's loopback), for a one-off pull without a named source." };
        var clientId = new Option<string?>("--client-id") { Description = "The client id the FHIR server registered for this node's SMART key (`ftwin node smart-key create`)." };
        var group = new Option<string?>("--group") { Description = "Export this Group's patients (Group/[id]/$export)." };
        var types = new Option<string?>("--type") { Description = "Resource types to export, comma-separated (_type)." };
        var typeFilter = new Option<string?>("--type-filter") { Description = "A FHIR search narrowing a type (_typeFilter), e.g. Observation?category=laboratory." };
        var level = new Option<string?>("--level") { Description = "Without a group: system (default, $export) or patient (Patient/$export)." };
        var since = new Option<string?>("--since") { Description = "Only resources changed since: a FHIR instant (2026-01-01T00:00:00Z) or `last`, the transaction time of this source's last successful pull." };
        var saveTo = new Option<DirectoryInfo?>("--save-to") { Description = "Also write each downloaded file here, owner-only (off by default: the files hold PHI as the EHR exported them)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object: files, lines_read, accepted, quarantined, transaction_time, since, retries, seconds, ..." };
        var pull = new Command("pull", "Pull a data source into the node now: a FHIR server's Bulk Data export under SMART Backend Services, or an OMOP database (exit 0 complete, 3 incomplete, 1 failed, 2 usage, 130 cancelled).")
        {
            nodeDir, source, fhirBase, clientId, group, types, typeFilter, level, since, saveTo, json,
        };
        pull.SetAction(async (parse, cancellationToken) =>
        {
            if (NodeModelCommands.Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            DataSource dataSource;
            try
            {
                dataSource = Source(dir, parse.GetValue(source), parse.GetValue(fhirBase), parse.GetValue(clientId), parse.GetValue(group), parse.GetValue(types),
                    parse.GetValue(typeFilter), parse.GetValue(level));
            }
            catch (Exception e) when (e is NodeConfigurationException or InsecureUrlException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            using var node = NodeDirectory.OpenOrInitialize(dir);
            DateTimeOffset? from;
            try
            {
                from = Since(node, dataSource, parse.GetValue(since));
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            var quiet = parse.GetValue(json) || Console.IsErrorRedirected;
            ISourcePuller puller = dataSource.Kind == SourceKind.Omop
                ? new OmopPuller()
                : new BulkPuller(SmartSourceTokens.For(node), clientOptions: new BulkClientOptions { SaveTo = parse.GetValue(saveTo)?.FullName });
            try
            {
                var summary = await puller.PullAsync(node, dataSource, new PullOptions(from, quiet ? null : new ConsoleProgress()), cancellationToken);
                if (!quiet)
                {
                    Console.Error.WriteLine();
                }

                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(summary.ToJson())
                    : string.Create(CultureInfo.InvariantCulture, $"{summary.Files} files, {summary.LinesRead:N0} lines read: {summary.Accepted:N0} accepted, {summary.Quarantined:N0} quarantined, {summary.Deleted:N0} deleted; transaction time {summary.TransactionTime ?? "-"}; {summary.Retries} retries; {summary.Seconds:F1} s{(summary.Complete ? string.Empty : " (incomplete: the watermark was not moved; see `ftwin node source list` and the audit trail)")}"));
                return summary.Complete ? 0 : Incomplete;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Console.Error.WriteLine("cancelled: the export was cancelled on the server; the watermark was not moved.");
                return Cancelled;
            }
            catch (Exception e) when (e is BulkExportException or SmartAuthorizationException or SmartClientKeyException or InsecureUrlException or OmopSourceException
                or IngestBusyException or HttpRequestException or IOException or TaskCanceledException)
            {
                Console.Error.WriteLine($"error: {e.Message} (the watermark was not moved; the failure is in the audit trail as source_pull_failed)");
                return Failed;
            }
        });
        return pull;
    }

    /// <summary>The source to pull: a named one from node-config.json, or one given by its flags (its watermark kept under what makes it the same export).</summary>
    private static DataSource Source(string dir, string? name, string? fhirBase, string? clientId, string? group, string? types, string? typeFilter, string? level)
    {
        if (name is not null)
        {
            if (fhirBase is not null || clientId is not null || group is not null || types is not null || typeFilter is not null || level is not null)
            {
                throw new NodeConfigurationException("give --source or the source's flags (--fhir-base, --client-id, ...), not both");
            }

            return NodeConfiguration.Load(dir).Source(name) ?? throw new NodeConfigurationException($"no source named '{name}' in {NodeConfiguration.FileName} (`ftwin node source list`)");
        }

        if (fhirBase is null || clientId is null)
        {
            throw new NodeConfigurationException("give --source NAME, or --fhir-base and --client-id");
        }

        var source = new DataSource(string.Empty, SourceKind.FhirBulk, fhirBase, clientId, group,
            types is null ? null : [.. types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)], typeFilter,
            PatientLevel: SourceConfiguration.ParseLevel(level, group is not null, "--level"));
        SourceConfiguration.Validate([source with { Name = "one-off" }], "the command line");
        return source;
    }

    /// <summary>--since: a FHIR instant, or `last` (the source's watermark; none yet: everything, said on the console).</summary>
    private static DateTimeOffset? Since(NodeDirectory node, DataSource source, string? since)
    {
        if (since is null)
        {
            return null;
        }

        if (since == "last")
        {
            var watermark = node.Store.Read(c => SourceQueries.Get(c, source.WatermarkKey))?.Watermark;
            if (watermark is null)
            {
                Console.Error.WriteLine("no earlier successful pull of this source: pulling everything.");
                return null;
            }

            return DateTimeOffset.Parse(watermark, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
        }

        // A FHIR instant has a time zone (FHIR R4 datatypes: instant); without one the server would guess.
        if (!DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var instant) || !HasZone(since))
        {
            throw new FormatException($"--since must be `last` or a FHIR instant with a time zone, such as 2026-01-01T00:00:00Z (got '{since}')");
        }

        return instant;
    }

    private static bool HasZone(string text) => text.EndsWith('Z') || (text.Length > 6 && text[^6] is '+' or '-' && text[^3] == ':');

    /// <summary>One line on standard error, rewritten as the pull goes (not when output is redirected).</summary>
    private sealed class ConsoleProgress : IProgress<PullProgress>
    {
        private readonly Lock _gate = new();

        public void Report(PullProgress value)
        {
            lock (_gate)
            {
                var files = value.FilesTotal > 0 ? string.Create(CultureInfo.InvariantCulture, $" {value.FilesDone}/{value.FilesTotal} files") : string.Empty;
                var bytes = value.Bytes > 0 ? string.Create(CultureInfo.InvariantCulture, $" {value.Bytes / 1048576.0:F1} MB") : string.Empty;
                var server = value.ServerProgress is { Length: > 0 } p ? $" ({Clip(p)})" : string.Empty;
                Console.Error.Write($"\r{value.Phase}{files}{bytes}{server}".PadRight(79));
            }
        }

        // The server's X-Progress is free text: shown clipped, control characters dropped (it must not rewrite the terminal).
        private static string Clip(string text) => new([.. text.Where(c => !char.IsControl(c)).Take(40)]);
    }
}
