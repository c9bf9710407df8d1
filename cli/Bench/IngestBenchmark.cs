using System.Diagnostics;
using System.Text.Json;
using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench ingest`: ingest + de-identify + featurize a generated export, and in the same run a bare
/// JsonDocument.Parse of every line of the same files, both on the same number of cores (all by default), and their ratio (the
/// target: ≥ 0.5). Files are read once before either timing so both start from the page cache.
/// Both measurements are of a warm process, as BenchmarkDotNet measures: a small export (<see cref="WarmupPatients"/>
/// patients, with bad lines) is parsed and ingested first, so that the one-time JIT compilation of the ingest's code
/// (ftwin runs without tiered compilation, so every method is compiled fully on its first call; the baseline's
/// System.Text.Json is precompiled) is not counted as throughput. Its time is reported as warmup_ingest_s.
/// </summary>
internal static class IngestBenchmark
{
    /// <summary>Patients in the warm-up export: enough for every resource type, bad-line kind and code path to run once.</summary>
    private const int WarmupPatients = 300;

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

            // Warm-up, outside both timings: the baseline's parse and a whole ingest + featurize of a small export
            // into a node of its own (loading Firely's model metadata, the site policy's JSON Schema and compiling the code).
            var warmupExport = Path.Combine(root, "warmup-export");
            PopulationGenerator.Generate(WarmupPatients, SyntheticProfile.Named("urban-academic"), 7, warmupExport, badLines: 10);
            _ = RawParse(IngestSources.Files(warmupExport), cores);
            var warmup = Stopwatch.StartNew();
            using (var warmNode = NodeDirectory.OpenOrInitialize(Path.Combine(root, "warmup-node")))
            {
                _ = new IngestPipeline(warmNode, cores).Run(warmupExport);
                _ = new FeatureBuilder(warmNode.Store).All().Count();
            }

            warmup.Stop();

            // Baseline: a bare parse of every line, same files, same reader, on as many cores as the ingest's parallel stage.
            var process = Process.GetCurrentProcess();
            GC.Collect();
            process.Refresh();
            var rawCpu = process.TotalProcessorTime;
            var raw = Stopwatch.StartNew();
            var rawLines = RawParse(files, cores);
            raw.Stop();
            process.Refresh();
            rawCpu = process.TotalProcessorTime - rawCpu;

            using var node = NodeDirectory.OpenOrInitialize(Path.Combine(root, "node"));
            var pipeline = new IngestPipeline(node, cores);

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

            GC.Collect();
            process.Refresh();
            var ingestCpu = process.TotalProcessorTime;
            var (allocated, gen0, gen1, gen2, paused) = (GC.GetTotalAllocatedBytes(), GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
            var ingest = Stopwatch.StartNew();
            var summary = pipeline.Run(export);
            var run = ingest.Elapsed.TotalSeconds;
            var rows = new FeatureBuilder(node.Store).All().Count();
            ingest.Stop();
            process.Refresh();
            ingestCpu = process.TotalProcessorTime - ingestCpu;
            var gc = new Dictionary<string, double>
            {
                ["allocated_mb"] = Math.Round((GC.GetTotalAllocatedBytes() - allocated) / 1e6),
                ["gen0"] = GC.CollectionCount(0) - gen0,
                ["gen1"] = GC.CollectionCount(1) - gen1,
                ["gen2"] = GC.CollectionCount(2) - gen2,
                ["pause_s"] = Math.Round((GC.GetTotalPauseDuration() - paused).TotalSeconds, 2),
            };

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
                ["warmup_ingest_s"] = Math.Round(warmup.Elapsed.TotalSeconds, 2),
                ["warmup_patients"] = WarmupPatients,
                ["raw_cpu_s"] = Math.Round(rawCpu.TotalSeconds, 2),
                ["ingest_cpu_s"] = Math.Round(ingestCpu.TotalSeconds, 2),
                ["stages"] = stages,
                ["ingest_gc"] = gc,
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

    /// <summary>The baseline: JsonDocument.Parse of every line (a bad line is counted, not parsed); returns the lines.</summary>
    private static long RawParse(IEnumerable<string> files, int cores)
    {
        long lines = 0;
        foreach (var f in files)
        {
            foreach (var batch in IngestSources.Read(f, "x").Chunk(8192))
            {
                lines += batch.Length;
                Parallel.ForEach(batch, new ParallelOptions { MaxDegreeOfParallelism = cores }, line =>
                {
                    try
                    {
                        using var doc = JsonDocument.Parse(line.Bytes);
                    }
                    catch (JsonException)
                    {
                        // the bad lines
                    }
                });
            }
        }

        return lines;
    }
}
