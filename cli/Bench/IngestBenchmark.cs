using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Cli.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench ingest`: ingest + de-identify + featurize a generated export, and in the same run a bare
/// JsonDocument.Parse of every line of the same files, both on the same number of cores (all by default), and their ratio (DESIGN.md §10
/// target: ≥ 0.5). Files are read once before either timing so both start from the page cache.
/// </summary>
internal static class IngestBenchmark
{
    public static int Run(int patients, int cores, bool json, bool breakdown)
    {
        cores = cores <= 0 ? Environment.ProcessorCount : cores;
        var root = Path.Combine(Path.GetTempPath(), "ftwin-bench-ingest-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var export = Path.Combine(root, "export");
            var generated = PopulationGenerator.Generate(patients, SyntheticProfile.Named("urban-academic"), 42, export, badLines: 10);
            var files = IngestSources.Files(export);
            var bytes = files.Sum(f => new FileInfo(f).Length);
            foreach (var f in files)
            {
                _ = File.ReadAllBytes(f); // warm the page cache for both measurements
            }

            // Baseline: a bare parse of every line, same files, same reader, on as many cores as the ingest's parallel stage.
            var process = Process.GetCurrentProcess();
            var rawCpu = process.TotalProcessorTime;
            var raw = Stopwatch.StartNew();
            long rawLines = 0;
            foreach (var f in files)
            {
                foreach (var batch in IngestSources.Read(f, "x").Chunk(8192))
                {
                    rawLines += batch.Length;
                    Parallel.ForEach(batch, new ParallelOptions { MaxDegreeOfParallelism = cores }, line =>
                    {
                        try
                        {
                            using var doc = JsonDocument.Parse(line.Bytes);
                        }
                        catch (JsonException)
                        {
                            // the bad lines: counted, not parsed
                        }
                    });
                }
            }

            raw.Stop();
            process.Refresh();
            rawCpu = process.TotalProcessorTime - rawCpu;

            using var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"));
            var pipeline = new IngestPipeline(node, cores);

            // One-time start-up, outside both timings (as the baseline's JSON reader is warm): loading
            // Firely's model metadata, which the fast path validates against, and the site policy's JSON
            // Schema, once per process.
            var startup = Stopwatch.StartNew();
            _ = pipeline.Parse("{\"resourceType\":\"Patient\",\"id\":\"warm-up\"}"u8);
            _ = node.LoadPolicy();
            startup.Stop();

            // --stages: the parallel stage's parts alone, in CPU seconds (where the time goes; next to raw_cpu_s).
            var stages = new Dictionary<string, double>();
            if (breakdown)
            {
                double Cpu(Action run)
                {
                    process.Refresh();
                    var before = process.TotalProcessorTime;
                    run();
                    process.Refresh();
                    return Math.Round((process.TotalProcessorTime - before).TotalSeconds, 2);
                }

                IEnumerable<SourceLine[]> Chunks() => files.SelectMany(f => IngestSources.Read(f, "x").Chunk(8192));
                stages["read_cpu_s"] = Cpu(() => _ = Chunks().Sum(c => c.Length));
                stages["parse_cpu_s"] = Cpu(() =>
                {
                    foreach (var batch in Chunks())
                    {
                        Parallel.ForEach(batch, new ParallelOptions { MaxDegreeOfParallelism = cores }, line => pipeline.Parse(line.Bytes.Span));
                    }
                });
                stages["parse_hash_reduce_cpu_s"] = Cpu(() => _ = Chunks().Sum(pipeline.ReduceOnly));
            }

            process.Refresh();
            var ingestCpu = process.TotalProcessorTime;
            var ingest = Stopwatch.StartNew();
            var summary = pipeline.Run(export);
            var run = ingest.Elapsed.TotalSeconds;
            var rows = new FeatureBuilder(node.Store).All().Count();
            ingest.Stop();
            process.Refresh();
            ingestCpu = process.TotalProcessorTime - ingestCpu;

            var rawMbps = bytes / 1e6 / raw.Elapsed.TotalSeconds;
            var ingestMbps = bytes / 1e6 / ingest.Elapsed.TotalSeconds;
            var result = new Dictionary<string, object>
            {
                ["export_mb"] = Math.Round(bytes / 1e6, 1),
                ["patients"] = patients,
                ["generate_patients_per_s"] = Math.Round(patients / generated.Seconds),
                ["ingest_mb_per_s"] = Math.Round(ingestMbps, 2),
                ["raw_parse_mb_per_s"] = Math.Round(rawMbps, 2),
                ["ratio"] = Math.Round(ingestMbps / rawMbps, 3),
                ["target_ratio"] = 0.5,
                ["cores_used"] = cores,
                ["lines_read"] = summary.LinesRead,
                ["raw_lines"] = rawLines,
                ["accepted"] = summary.Accepted,
                ["quarantined"] = summary.Quarantined,
                ["feature_rows"] = rows,
                ["ingest_s"] = Math.Round(ingest.Elapsed.TotalSeconds, 2),
                ["raw_parse_s"] = Math.Round(raw.Elapsed.TotalSeconds, 2),
                ["startup_s"] = Math.Round(startup.Elapsed.TotalSeconds, 2),
                ["raw_cpu_s"] = Math.Round(rawCpu.TotalSeconds, 2),
                ["ingest_cpu_s"] = Math.Round(ingestCpu.TotalSeconds, 2),
                ["stages"] = stages,
                ["phases"] = new Dictionary<string, double>(pipeline.LastPhases) { ["run_s"] = Math.Round(run, 2), ["features_s"] = Math.Round(ingest.Elapsed.TotalSeconds - run, 2) },
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
}
