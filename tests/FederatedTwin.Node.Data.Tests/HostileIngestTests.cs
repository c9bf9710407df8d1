using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Dapper;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Node.Data.Tests;

/// <summary>
/// Inputs made to hurt the node, as issue 19's hostile pass made them: truncated and corrupt gzip files, files that are
/// not files, floods of blank or bad lines, a full disk. Real files on disk, a real store, and `ftwin node ingest` as
/// hospital IT runs it. Each bad file is reported (by content hash, or a keyed hash of its path) and never stops the
/// others; no message names a file.
/// </summary>
public sealed class HostileIngestTests
{
    private static readonly string SampleEncounters = Path.Combine(DataTestSupport.NdjsonSample, "Encounter.000.ndjson");
    private static readonly string SamplePatients = Path.Combine(DataTestSupport.NdjsonSample, "Patient.000.ndjson");

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }

    /// <summary>The sample's Encounters as a gzip file, mangled; the Patients beside them, intact.</summary>
    private static (string Export, string Mangled) ExportWith(string name, Func<byte[], byte[]> mangle)
    {
        var export = DataTestSupport.TempDir(name);
        var mangled = Path.Combine(export, "Encounter.000.ndjson.gz");
        File.WriteAllBytes(mangled, mangle(Gzip(File.ReadAllBytes(SampleEncounters))));
        File.Copy(SamplePatients, Path.Combine(export, "Patient.000.ndjson"));
        return (export, mangled);
    }

    public static TheoryData<string, string?, bool> GzipCases() => new()
    {
        // case, the failure expected (null: none), whether every Encounter line is still read
        { "intact", null, true },
        { "two-members", null, true },
        { "half", "truncated_gzip", false },
        { "no-trailer", "truncated_gzip", true },
        { "half-a-trailer", "truncated_gzip", true },
        { "garbage", "corrupt_gzip", false },
        { "trailing-zeros", "gzip_trailing_data", true },
    };

    [Theory]
    [MemberData(nameof(GzipCases))]
    public void A_gzip_file_that_does_not_end_as_gzip_ends_is_a_failed_file_with_the_lines_before_kept_and_the_run_goes_on(string mangling, string? expected, bool allLines)
    {
        var encounters = File.ReadAllLines(SampleEncounters).Count(l => l.Length > 0);
        var (export, file) = ExportWith("gzip-" + mangling, gz => mangling switch
        {
            "two-members" => [.. Gzip(File.ReadAllBytes(SampleEncounters)[..1000]), .. Gzip(File.ReadAllBytes(SampleEncounters)[1000..])],
            "half" => gz[..(gz.Length / 2)],
            "no-trailer" => gz[..^8],
            "half-a-trailer" => gz[..^4],
            "garbage" => Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("not gzip at all ", 200))),
            "trailing-zeros" => [.. gz, .. new byte[512]],
            _ => gz,
        });
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("gzip-node"));
        var summary = DataTestSupport.Ingest(node, export);

        Assert.Equal(13, summary.PerType["Patient"]); // the other file is read whatever happens to this one
        Assert.Equal(expected is null, summary.Complete);
        if (expected is null)
        {
            Assert.Empty(summary.FailedFiles);
            Assert.Equal(encounters, summary.PerType["Encounter"]);
            return;
        }

        var failed = Assert.Single(summary.FailedFiles);
        Assert.Equal(DataTestSupport.ContentHash(file), failed.Source);
        Assert.Equal(expected, failed.Code);
        Assert.Equal(summary.PerType.GetValueOrDefault("Encounter") + summary.Quarantined, failed.LinesRead);
        if (allLines)
        {
            Assert.Equal(encounters, summary.PerType["Encounter"]);
        }
        else if (mangling == "half")
        {
            // The lines before the cut are kept (the last, cut in two, is quarantined as not JSON).
            Assert.InRange(summary.PerType["Encounter"], encounters / 4, encounters - 1);
        }
    }

    [Fact]
    public void Ftwin_exits_non_zero_for_a_truncated_gzip_file_and_its_JSON_names_the_file_by_content_hash()
    {
        var (export, file) = ExportWith("gzip-cli", gz => gz[..(gz.Length / 2)]);
        var dir = DataTestSupport.TempDir("gzip-cli-node");
        var (code, stdout, stderr, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(2), string.Empty, "node", "ingest", export, "--node-dir", dir, "--json");
        Assert.True(code == 3, stdout + stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.False(json.RootElement.GetProperty("complete").GetBoolean());
        var failed = Assert.Single(json.RootElement.GetProperty("failed_files").EnumerateArray());
        Assert.Equal(DataTestSupport.ContentHash(file), failed.GetProperty("source").GetString());
        Assert.Equal("truncated_gzip", failed.GetProperty("reason_code").GetString());
        Assert.True(failed.GetProperty("lines_read").GetInt64() > 0);
        Assert.DoesNotContain("Encounter.000", stdout + stderr, StringComparison.Ordinal);

        // Without --json too: one line per failed file, by hash.
        var (again, text, _, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(2), string.Empty, "node", "ingest", export, "--node-dir", dir);
        Assert.Equal(3, again);
        Assert.Contains($"failed file {DataTestSupport.ContentHash(file)}: truncated_gzip", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Entries_that_are_not_regular_files_are_never_opened_and_are_reported_by_a_keyed_hash_of_their_path()
    {
        Assert.True(OperatingSystem.IsLinux(), "FIFOs and /dev/zero: the node runs on Linux");
        var export = DataTestSupport.TempDir("not-files");
        File.Copy(SamplePatients, Path.Combine(export, "Patient.000.ndjson"));
        var fifo = Path.Combine(export, "Observation.000.ndjson");
        using (var mkfifo = Process.Start("mkfifo", [fifo]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var zero = Path.Combine(export, "Condition.000.ndjson");
        File.CreateSymbolicLink(zero, "/dev/zero");
        var dangling = Path.Combine(export, "Jane_Doe_Smith_1962.ndjson"); // a name that must never be printed
        File.CreateSymbolicLink(dangling, Path.Combine(export, "gone", "Jane_Doe_Smith_1962.ndjson"));
        var loop = Path.Combine(export, "Claim.000.ndjson");
        File.CreateSymbolicLink(loop, loop);
        var directory = Path.Combine(export, "Encounter.000.ndjson");
        Directory.CreateDirectory(directory);

        var dir = DataTestSupport.TempDir("not-files-node");
        var (code, stdout, stderr, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(2), string.Empty, "node", "ingest", export, "--node-dir", dir, "--json");
        Assert.True(code == 3, $"exit {code} (-1: killed, the ingest hung): {stdout}{stderr}");
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(13, json.RootElement.GetProperty("accepted").GetInt64());
        using var node = NodeDirectory.OpenOrInitialize(dir);
        var expected = new Dictionary<string, string>
        {
            [SourceFile.PathSource(node.Pseudonymizer, fifo)] = "not_a_regular_file",
            [SourceFile.PathSource(node.Pseudonymizer, zero)] = "not_a_regular_file",
            [SourceFile.PathSource(node.Pseudonymizer, dangling)] = "dangling_link",
            [SourceFile.PathSource(node.Pseudonymizer, loop)] = "link_loop",
            [SourceFile.PathSource(node.Pseudonymizer, directory)] = "not_a_regular_file",
        };
        var failed = json.RootElement.GetProperty("failed_files").EnumerateArray().ToDictionary(f => f.GetProperty("source").GetString()!, f => f.GetProperty("reason_code").GetString()!);
        Assert.Equal(expected.OrderBy(e => e.Key), failed.OrderBy(e => e.Key));
        Assert.Contains("a FIFO", stdout, StringComparison.Ordinal);
        Assert.Contains("a character device", stdout, StringComparison.Ordinal);

        // No name or path in what it printed, stored or audited.
        node.Store.Read(c => c.Execute("PRAGMA wal_checkpoint(TRUNCATE)"));
        var stored = string.Join("\n", Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Select(f => Encoding.Latin1.GetString(File.ReadAllBytes(f))));
        foreach (var text in new[] { stdout + stderr, stored })
        {
            foreach (var needle in new[] { "Jane", "Doe_Smith", export, "Observation.000", "/dev/zero" })
            {
                Assert.DoesNotContain(needle, text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Quarantine_is_capped_per_file_and_per_run_and_the_rest_is_counted_not_stored()
    {
        var export = DataTestSupport.TempDir("caps");
        foreach (var (name, line) in new[] { ("A.000.ndjson", "{}"), ("B.000.ndjson", "{ }"), ("C.000.ndjson", "[]") })
        {
            File.WriteAllText(Path.Combine(export, name), string.Concat(Enumerable.Repeat(line + "\n", 300))); // three contents: three sources
        }

        File.Copy(SamplePatients, Path.Combine(export, "Patient.000.ndjson"));
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("caps-node"));
        var summary = new IngestPipeline(node, limits: new IngestLimits(QuarantinePerFile: 100, QuarantinePerRun: 250)).Run(export);
        Assert.Equal(900, summary.Quarantined);
        Assert.Equal(900, summary.QuarantineReasons["not_a_resource"]);
        Assert.Equal(650, summary.QuarantineNotStored); // A 100, B 100, C 50 (the run's 250)
        Assert.Equal(13, summary.Accepted);
        Assert.False(summary.Complete);
        var perFile = node.Store.Read(c => c.Query<long>("SELECT COUNT(*) FROM quarantine GROUP BY source_hash ORDER BY 1 DESC").ToList());
        Assert.Equal([100L, 100L, 50L], perFile);
        var audit = node.Store.Read(c => c.QuerySingle<string>("SELECT detail FROM audit_log WHERE action='ingest_run' ORDER BY seq DESC LIMIT 1"));
        Assert.Equal(650, JsonDocument.Parse(audit).RootElement.GetProperty("quarantine_not_stored").GetInt64());
    }

    [Fact]
    public void A_small_gzip_file_of_bad_lines_stores_at_most_the_default_cap_and_ftwin_marks_the_run()
    {
        // Before the cap, 5,865 bytes of gzip holding 2,000,000 "{}" lines wrote 2 million rows (a 468 MB store), exit 0.
        var export = DataTestSupport.TempDir("flood");
        File.WriteAllBytes(Path.Combine(export, "Observation.000.ndjson.gz"), Gzip(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("{}\n", 25_000)))));
        var dir = DataTestSupport.TempDir("flood-node");
        var (code, stdout, stderr, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(2), string.Empty, "node", "ingest", export, "--node-dir", dir, "--json");
        Assert.True(code == 3, stdout + stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal(25_000, json.RootElement.GetProperty("quarantined").GetInt64());
        Assert.Equal(IngestLimits.DefaultQuarantinePerFile, json.RootElement.GetProperty("quarantine_stored").GetInt64());
        Assert.Equal(15_000, json.RootElement.GetProperty("quarantine_not_stored").GetInt64());
        Assert.False(json.RootElement.GetProperty("complete").GetBoolean());

        var (larger, again, _, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(2), string.Empty, "node", "ingest", export, "--node-dir", DataTestSupport.TempDir("flood-node-2"), "--json", "--max-quarantine-per-file", "30000");
        Assert.Equal(0, larger);
        Assert.Equal(0, JsonDocument.Parse(again).RootElement.GetProperty("quarantine_not_stored").GetInt64());
    }

    [Fact]
    public void Memory_stays_bounded_by_the_limit_on_a_flood_of_blank_lines_and_on_a_large_Bundle()
    {
        Assert.True(OperatingSystem.IsLinux(), "peak memory is read from /proc");

        // 512 MiB of newlines with one short line after each MiB, gzip-compressed (under a megabyte on disk). Before, blank
        // lines never filled a batch, so every read buffer was held: 1 GiB of newlines cost 1.21 GB resident.
        var blanks = DataTestSupport.TempDir("blanks");
        using (var gzip = new GZipStream(File.Create(Path.Combine(blanks, "Observation.000.ndjson.gz")), CompressionLevel.Fastest))
        {
            var mebibyte = new byte[1 << 20];
            Array.Fill(mebibyte, (byte)'\n');
            for (var i = 0; i < 512; i++)
            {
                gzip.Write("{}"u8);
                gzip.Write(mebibyte);
            }
        }

        var (code, stdout, stderr, peak) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(3), string.Empty, "node", "ingest", blanks, "--node-dir", DataTestSupport.TempDir("blanks-node"), "--json", "--memory-mb", "64");
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(512, JsonDocument.Parse(stdout).RootElement.GetProperty("lines_read").GetInt64());
        Assert.InRange(peak, 1, 400L << 20);

        // A Bundle of 320 MB: read whole, it took some 2.7 times its size (1,081 MB resident for 400 MB, 533 MB for this one's
        // 200 MB version); entry by entry it stays flat (316 MB for 200 MB, 377 MB for 400 MB).
        var bundle = Path.Combine(DataTestSupport.TempDir("big-bundle"), "bundle.json");
        long entries = 0;
        using (var writer = new StreamWriter(bundle, false, new UTF8Encoding(false), 1 << 20))
        {
            var note = new string('x', 1500);
            writer.Write("{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[");
            for (var bytes = 0L; bytes < 320_000_000; entries++)
            {
                var entry = $"{(entries == 0 ? string.Empty : ",")}{{\"resource\":{{\"resourceType\":\"Observation\",\"id\":\"o{entries}\",\"status\":\"final\",\"code\":{{\"coding\":[{{\"system\":\"http://loinc.org\",\"code\":\"4548-4\"}}]}},\"subject\":{{\"reference\":\"Patient/p{entries % 97}\"}},\"effectiveDateTime\":\"2021-03-04\",\"valueQuantity\":{{\"value\":6.1}},\"note\":[{{\"text\":\"{note}\"}}]}}}}";
                writer.Write(entry);
                bytes += entry.Length;
            }

            writer.Write("]}");
        }

        try
        {
            (code, stdout, stderr, peak) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(5), string.Empty, "node", "ingest", bundle, "--node-dir", DataTestSupport.TempDir("big-bundle-node"), "--json", "--memory-mb", "64");
        }
        finally
        {
            File.Delete(bundle);
        }

        Assert.True(code == 0, stdout + stderr);
        Assert.Equal(entries, JsonDocument.Parse(stdout).RootElement.GetProperty("accepted").GetInt64());
        Assert.InRange(peak, 1, 450L << 20);
    }

    [Fact]
    public void A_full_disk_stops_the_ingest_with_one_line_and_no_stack_trace()
    {
        Assert.True(OperatingSystem.IsLinux(), "a file size limit (ulimit -f) stands in for a full disk");
        var export = DataTestSupport.TempDir("full-export");
        Synthetic.PopulationGenerator.Generate(2000, Synthetic.SyntheticProfile.Named("urban-academic"), 3, export, badLines: 0);
        var dir = DataTestSupport.TempDir("full-node");
        using (NodeDirectory.OpenOrInitialize(dir))
        {
        }

        // Writes past 4 MiB fail with EFBIG (SIGXFSZ ignored, as a write to a full disk fails with ENOSPC); .NET's
        // W^X double mapping uses a file too, so it is off for this process.
        var (code, stdout, stderr, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(3), "export DOTNET_EnableWriteXorExecute=0; trap '' XFSZ; ulimit -f 4096;", "node", "ingest", export, "--node-dir", dir, "--json");
        Assert.True(code == 1, $"exit {code}: {stdout}{stderr}");
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line, StringComparison.Ordinal);
        Assert.Contains("SQLite error", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stdout + stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", stdout + stderr, StringComparison.Ordinal);

        // The store is intact, the failure audited, and a run with room finishes the job.
        using (var node = NodeDirectory.OpenOrInitialize(dir))
        {
            Assert.Equal("ok", node.Store.Read(c => c.ExecuteScalar<string>("PRAGMA integrity_check")));
            Assert.Equal(1L, node.Store.Read(c => c.ExecuteScalar<long>("SELECT COUNT(*) FROM audit_log WHERE action='ingest_failed'")));
        }

        var (after, json, _, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(3), string.Empty, "node", "ingest", export, "--node-dir", dir, "--json");
        Assert.True(after == 0, json);
    }

    [Fact]
    public void Conflicts_are_found_among_spilled_entries_and_across_files_and_quarantined_at_their_line()
    {
        // --memory-mb 1: the entries spill to the staging table as the run goes, and the merge still finds the conflicts
        // (the later of two different Patient p5, and a Condition given under two patients in two files).
        static string Patient(int i, string birthDate = "1950-03-04") => $"{{\"resourceType\":\"Patient\",\"id\":\"p{i}\",\"gender\":\"male\",\"birthDate\":\"{birthDate}\"}}";
        static string Condition(string id, int patient) => $"{{\"resourceType\":\"Condition\",\"id\":\"{id}\",\"code\":{{\"coding\":[{{\"system\":\"http://snomed.info/sct\",\"code\":\"88805009\"}}]}},\"subject\":{{\"reference\":\"Patient/p{patient}\"}},\"onsetDateTime\":\"2021-02-01\"}}";
        var export = DataTestSupport.TempDir("conflicts");
        var late = Patient(5, "1990-01-01");
        File.WriteAllLines(Path.Combine(export, "Patient.000.ndjson"), [.. Enumerable.Range(0, 20_000).Select(i => Patient(i)), string.Empty, late]);
        File.WriteAllLines(Path.Combine(export, "Condition.000.ndjson"), [Condition("c1", 7), Condition("c9", 7)]);
        File.WriteAllLines(Path.Combine(export, "Condition.001.ndjson"), [Condition("c9", 8)]);
        using var node = NodeDirectory.OpenOrInitialize(DataTestSupport.TempDir("conflicts-node"));
        var summary = new IngestPipeline(node, memoryMegabytes: 1).Run(export);
        Assert.Equal(2, summary.QuarantineReasons["conflicting_duplicate"]);
        Assert.Equal(20_002, summary.Accepted);
        Assert.Equal(20_000, summary.PerType["Patient"]);
        Assert.Equal(2, summary.PerType["Condition"]);
        var rows = node.Store.Read(c => c.Query<(string Source, long Line, long Offset, string Hmac)>("SELECT source_hash, line_no, byte_offset, line_hmac FROM quarantine ORDER BY line_no DESC").ToList());
        Assert.Equal(2, rows.Count);
        Assert.Equal((DataTestSupport.ContentHash(Path.Combine(export, "Patient.000.ndjson")), 20_002L), (rows[0].Source, rows[0].Line));
        Assert.Equal(node.Pseudonymizer.Line(Encoding.UTF8.GetBytes(late)), rows[0].Hmac);
        Assert.Equal((DataTestSupport.ContentHash(Path.Combine(export, "Condition.001.ndjson")), 1L, 0L), (rows[1].Source, rows[1].Line, rows[1].Offset));
        Assert.Equal(20_002L, node.Store.Read(c => c.ExecuteScalar<long>("SELECT SUM(entries) FROM patient_facts"))); // c9 stays with p7
    }

    [Fact]
    public void A_path_that_does_not_exist_is_refused_without_being_printed()
    {
        var missing = Path.Combine(DataTestSupport.TempDir("missing"), "John_Q_Public_1950.json");
        var (code, stdout, stderr, _) = DataTestSupport.FtwinWithin(TimeSpan.FromMinutes(1), string.Empty, "node", "ingest", missing, "--node-dir", DataTestSupport.TempDir("missing-node"));
        Assert.Equal(2, code);
        Assert.Equal("error: no export folder or file at the given path", stderr.Trim());
        Assert.DoesNotContain("John", stdout + stderr, StringComparison.Ordinal);
    }
}
