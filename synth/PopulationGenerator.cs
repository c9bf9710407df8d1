using System.Text;
using System.Text.Json;

namespace FederatedTwin.Synthetic;

/// <summary>What the generator wrote.</summary>
public sealed record GenerationSummary(int Patients, IReadOnlyDictionary<string, long> Resources, int BadLines, double Seconds);

/// <summary>
/// `ftwin synth`: FHIR R4 NDJSON in the Bulk Data layout (one Type.000.ndjson per resource type) for
/// a synthetic hospital population, deterministic by seed. Each patient has a history from
/// <see cref="FirstYear"/> to <see cref="LastYear"/>: chronic conditions present at the start and
/// new onsets, ambulatory, emergency and inpatient encounters with claims, HbA1c and blood pressure
/// observations, research-consent opt-outs and some 42 CFR Part 2 substance-use records. Each year's
/// admissions, ED visits, cost and death are drawn from <see cref="GroundTruth"/> applied to the
/// previous year's features. Identifiers (names, SSNs, MRNs, phones, addresses, full dates) are
/// synthetic but shaped like real ones, so de-identification is exercised for real.
/// </summary>
public static class PopulationGenerator
{
    public const int FirstYear = 2019;
    public const int LastYear = 2024;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static readonly IReadOnlyList<string> ResourceTypes = ["Patient", "Condition", "Encounter", "Observation", "Claim", "Consent"];

    public static GenerationSummary Generate(int patients, SyntheticProfile profile, ulong seed, string outDir, int badLines = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(patients);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        const int chunk = 500;
        var chunks = (patients + chunk - 1) / chunk;
        var outputs = ResourceTypes.ToDictionary(t => t, t => new FileStream(Path.Combine(outDir, $"{t}.000.ndjson"), FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20));
        var counts = ResourceTypes.ToDictionary(t => t, _ => 0L);
        try
        {
            // Chunks are generated in parallel, written in order: the output depends on the seed only. Chunk
            // buffers are large-object-heap arrays, so they are reused rather than reallocated (each new one
            // costs a gen-2 collection sooner or later).
            var pool = new System.Collections.Concurrent.ConcurrentBag<Dictionary<string, Buffer>>();
            // A sliding window of chunk tasks: the next chunks are generated while the oldest is written, so
            // the cores never wait at a batch barrier; writing stays in chunk order.
            var window = Math.Max(2, Environment.ProcessorCount * 2);
            var pending = new Queue<Task<Dictionary<string, Buffer>>>();
            var next = 0;
            while (next < chunks || pending.Count > 0)
            {
                while (next < chunks && pending.Count < window)
                {
                    var c = next++;
                    pending.Enqueue(Task.Run(() => GenerateChunk(c * chunk, Math.Min(chunk, patients - (c * chunk)), profile, seed, pool)));
                }

                var written = pending.Dequeue().GetAwaiter().GetResult();
                foreach (var (type, buffer) in written)
                {
                    outputs[type].Write(buffer.Bytes.WrittenSpan);
                    counts[type] += buffer.Lines;
                }

                pool.Add(written);
            }

            if (badLines > 0)
            {
                BadLines.Append(outputs["Encounter"], badLines, seed);
            }

            File.WriteAllText(Path.Combine(outDir, "ground-truth.json"), JsonSerializer.Serialize(new
            {
                generator = "ftwin synth",
                profile,
                seed,
                patients,
                first_year = FirstYear,
                last_year = LastYear,
                note = "Outcomes of year y+1 are drawn from these models applied to the features of year y.",
                models = GroundTruth.Models,
            }, Indented));
        }
        finally
        {
            foreach (var s in outputs.Values)
            {
                s.Dispose();
            }
        }

        return new GenerationSummary(patients, counts, badLines, started.Elapsed.TotalSeconds);
    }

    /// <summary>One resource type's output for a chunk, with one JSON writer reused line after line (Reset, not new).</summary>
    internal sealed class Buffer : IDisposable
    {
        public Buffer(int capacity)
        {
            Bytes = new(capacity);
            Writer = new Utf8JsonWriter(Bytes);
        }

        public System.Buffers.ArrayBufferWriter<byte> Bytes { get; }

        public Utf8JsonWriter Writer { get; }

        public long Lines { get; set; }

        public void Reset()
        {
            Bytes.ResetWrittenCount();
            Lines = 0;
        }

        public void Dispose() => Writer.Dispose();
    }

    private static Dictionary<string, Buffer> GenerateChunk(int firstPatient, int count, SyntheticProfile profile, ulong seed, System.Collections.Concurrent.ConcurrentBag<Dictionary<string, Buffer>> pool)
    {
        if (pool.TryTake(out var reused))
        {
            foreach (var b in reused.Values)
            {
                b.Reset();
            }
        }

        // Sized from the bytes a patient writes per type on average (urban profile), so chunks rarely regrow.
        var buffers = reused ?? ResourceTypes.ToDictionary(t => t, t => new Buffer(count * t switch { "Claim" => 9_000, "Encounter" => 5_000, "Observation" => 4_000, _ => 1_000 }));
        var writer = new FhirNdjsonWriter(buffers);
        for (var i = 0; i < count; i++)
        {
            // Each patient's stream starts at a hash of (seed, patient), not at seed ^ γ·i: SplitMix64 steps its
            // state by γ, so γ-spaced starts would make neighbouring patients' streams (and resource ids) overlap.
            var rng = new SplitMix64(SplitMix64.Mix(seed ^ SplitMix64.Mix((ulong)(firstPatient + i + 1))));
            new PatientHistory(firstPatient + i, profile, rng, seed).Write(writer);
        }

        return buffers;
    }
}

/// <summary>SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): small, fast, and good enough for synthetic data (not for secrets).</summary>
internal sealed class SplitMix64(ulong state)
{
    private ulong _state = state;

    public ulong Next() => Mix(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>SplitMix64's output function (a bijective 64-bit finalizer): used alone, it hashes a seed.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    public int Next(int maxExclusive) => (int)(NextDouble() * maxExclusive);

    public bool Chance(double p) => NextDouble() < p;

    public double Normal()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Knuth's multiplication method; fine for the small means drawn here.</summary>
    public int Poisson(double mean)
    {
        var limit = Math.Exp(-Math.Min(mean, 30));
        var k = 0;
        var p = NextDouble();
        while (p > limit)
        {
            k++;
            p *= NextDouble();
        }

        return k;
    }

    public Guid Guid()
    {
        Span<byte> b = stackalloc byte[16];
        BitConverter.TryWriteBytes(b, Next());
        BitConverter.TryWriteBytes(b[8..], Next());
        b[7] = (byte)((b[7] & 0x0F) | 0x40); // version 4 layout
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        return new Guid(b);
    }
}

/// <summary>Malformed lines for the quarantine: one of each kind, in turn.</summary>
internal static class BadLines
{
    private static readonly string[] Kinds =
    [
        "{\"resourceType\":\"Encounter\",\"id\":\"trunc",                                             // truncated JSON
        "{\"resourceType\":\"Spaceship\",\"id\":\"x1\"}",                                              // unknown resource type
        "{\"resourceType\":\"Encounter\",\"id\":\"e1\",\"status\":\"finished\",\"period\":{\"start\":\"1999-13-45\"}}", // impossible date
        "[1,2,3]",                                                                                     // not a resource
        "{\"id\":\"no-type\",\"status\":\"finished\"}",                                                // no resourceType
        "{\"resourceType\":\"Encounter\",\"id\":\"e2\",\"status\":\"finished\",\"colour\":\"blue\"}",  // unknown element
        "{\"resourceType\":\"Encounter\",\"id\":\"e3\",\"status\":42}",                                 // wrong type
    ];

    public static void Append(Stream stream, int count, ulong seed)
    {
        for (var i = 0; i < count; i++)
        {
            stream.Write(Encoding.UTF8.GetBytes(Kinds[(int)((seed + (ulong)i) % (ulong)Kinds.Length)] + "\n"));
        }
    }
}
