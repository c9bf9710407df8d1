using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using FederatedTwin.Node.Sources;
using FederatedTwin.Node.Sources.Bulk;
using FederatedTwin.Synthetic;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench pull`: N generated patients served by the bench's own Bulk Data server on loopback (<see cref="BenchBulkServer"/>)
/// and pulled into a fresh node (kick-off, manifest, files streamed into the ingest), against a plain folder ingest of the same
/// files into another fresh node in the same run; several runs, alternating which goes first, min and median. Both after a
/// warm-up on a small export (the JIT compiles the ingest's code once per process; ftwin runs without tiered compilation).
/// </summary>
internal static class PullBenchmark
{
    private const int WarmupPatients = 300;

    public static async Task<int> Run(int patients, int runs, bool json, CancellationToken cancellationToken)
    {
        var root = Path.Combine(Path.GetTempPath(), "ftwin-bench-pull-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var export = Path.Combine(root, "export");
            PopulationGenerator.Generate(patients, SyntheticProfile.Named("urban-academic"), 42, export);
            var files = IngestSources.Files(export);
            var bytes = files.Sum(f => new FileInfo(f).Length);
            var warmupExport = Path.Combine(root, "warmup-export");
            PopulationGenerator.Generate(WarmupPatients, SyntheticProfile.Named("urban-academic"), 7, warmupExport);
            var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

            await using (var warm = await BenchBulkServer.Start(IngestSources.Files(warmupExport), token).ConfigureAwait(false))
            {
                _ = await Pull(warm, token, Path.Combine(root, "warm-pull"), cancellationToken).ConfigureAwait(false);
                _ = Folder(warmupExport, Path.Combine(root, "warm-folder"));
            }

            await using var server = await BenchBulkServer.Start(files, token).ConfigureAwait(false);
            var pulls = new List<double>();
            var folders = new List<double>();
            long pulledLines = 0, folderLines = 0;
            for (var run = 0; run < runs; run++)
            {
                // Alternate the order, so the page cache and the disk's state favour neither.
                for (var side = 0; side < 2; side++)
                {
                    if ((run + side) % 2 == 0)
                    {
                        var (seconds, lines) = await Pull(server, token, Path.Combine(root, $"pull-{run}"), cancellationToken).ConfigureAwait(false);
                        pulls.Add(seconds);
                        pulledLines = lines;
                    }
                    else
                    {
                        var (seconds, lines) = Folder(export, Path.Combine(root, $"folder-{run}"));
                        folders.Add(seconds);
                        folderLines = lines;
                    }
                }
            }

            if (pulledLines != folderLines)
            {
                await Console.Error.WriteLineAsync($"the pull read {pulledLines} lines, the folder ingest {folderLines}").ConfigureAwait(false);
                return 1;
            }

            var pullMedian = Median(pulls);
            var folderMedian = Median(folders);
            var result = new Dictionary<string, object>
            {
                ["patients"] = patients,
                ["bytes"] = bytes,
                ["pull_seconds"] = Math.Round(pullMedian, 2),
                ["pull_mb_per_s"] = Math.Round(bytes / 1e6 / pullMedian, 1),
                ["folder_seconds"] = Math.Round(folderMedian, 2),
                ["folder_mb_per_s"] = Math.Round(bytes / 1e6 / folderMedian, 1),
                ["ratio"] = Math.Round(folderMedian / pullMedian, 3),
                ["runs"] = runs,
                ["pull_seconds_min"] = Math.Round(pulls.Min(), 2),
                ["folder_seconds_min"] = Math.Round(folders.Min(), 2),
                ["ratio_of_min"] = Math.Round(folders.Min() / pulls.Min(), 3),
                ["lines"] = pulledLines,
                ["cores"] = Environment.ProcessorCount,
            };
            Console.WriteLine(json ? JsonSerializer.Serialize(result) : string.Join(Environment.NewLine, result.Select(kv => $"{kv.Key}: {kv.Value}")));
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // best effort: a temp folder
            }
        }
    }

    private static async Task<(double Seconds, long Lines)> Pull(BenchBulkServer server, string token, string nodeDir, CancellationToken cancellationToken)
    {
        using var node = NodeDirectory.OpenOrInitialize(nodeDir);
        var source = new DataSource("bench", SourceKind.FhirBulk, server.FhirBase.AbsoluteUri, "bench");
        var clock = Stopwatch.StartNew();
        var summary = await new BulkPuller((_, _) => new BenchBulkServer.FixedToken(token)).PullAsync(node, source, new PullOptions(null), cancellationToken).ConfigureAwait(false);
        return (clock.Elapsed.TotalSeconds, summary.Complete ? summary.LinesRead : throw new InvalidOperationException("the bench pull did not complete"));
    }

    private static (double Seconds, long Lines) Folder(string export, string nodeDir)
    {
        using var node = NodeDirectory.OpenOrInitialize(nodeDir);
        var clock = Stopwatch.StartNew();
        var summary = new IngestPipeline(node).Run(export);
        return (clock.Elapsed.TotalSeconds, summary.LinesRead);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
