using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Node;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Omop;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench omop`: an OMOP CDM pulled into a fresh node through the one ingest, a few times (issue 22): persons, rows read and
/// resources emitted per table, seconds and rows per second per run. Each run starts from an empty node in a temporary directory,
/// deleted after it; the CDM is only read.
/// </summary>
internal static class OmopBenchmark
{
    public static int Run(string connection, string? schema, int runs, bool json)
    {
        var results = new List<Dictionary<string, object?>>();
        try
        {
            for (var run = 1; run <= runs; run++)
            {
                var dir = Path.Combine(Path.GetTempPath(), "ftwin-bench-omop-" + Guid.NewGuid().ToString("N")[..8]);
                try
                {
                    using var node = NodeDirectory.OpenOrInitialize(dir);
                    var puller = new OmopPuller();
                    var clock = Stopwatch.StartNew();
                    var summary = puller.PullAsync(node, new DataSource("bench", SourceKind.Omop, OmopConnection: connection, OmopSchema: schema), new PullOptions(null), CancellationToken.None).GetAwaiter().GetResult();
                    var seconds = clock.Elapsed.TotalSeconds;
                    var rows = puller.LastCounts!.RowsRead;
                    var total = rows.Values.Sum();
                    results.Add(new Dictionary<string, object?>
                    {
                        ["run"] = run,
                        ["persons"] = rows.GetValueOrDefault("person"),
                        ["rows_read"] = rows,
                        ["resources_emitted"] = puller.LastCounts.ResourcesEmitted,
                        ["accepted"] = summary.Accepted,
                        ["quarantined"] = summary.Quarantined,
                        ["complete"] = summary.Complete,
                        ["seconds"] = Math.Round(seconds, 3),
                        ["rows_per_second"] = Math.Round(total / seconds),
                    });
                }
                finally
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
        catch (OmopSourceException e)
        {
            Console.Error.WriteLine($"bench omop: {e.Message}");
            return 1;
        }

        Console.WriteLine(json
            ? JsonSerializer.Serialize(new Dictionary<string, object?> { ["runs"] = results })
            : string.Join(Environment.NewLine, results.Select(r => string.Join(", ", r.Select(kv => $"{kv.Key} {(kv.Value is IReadOnlyDictionary<string, long> d ? JsonSerializer.Serialize(d) : kv.Value)}")))));
        return 0;
    }
}
