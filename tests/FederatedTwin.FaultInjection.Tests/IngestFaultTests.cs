using System.Diagnostics;
using Dapper;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Synthetic;
using Xunit.Abstractions;

namespace FederatedTwin.FaultInjection.Tests;

/// <summary>Two synthetic exports (A then B, distinct patients) and a node directory holding both ingested one after the other, undisturbed.</summary>
public sealed class IngestExports : IAsyncLifetime
{
    public string A { get; private set; } = string.Empty;

    public string B { get; private set; } = string.Empty;

    /// <summary>Patients and stored entries after A and B were ingested undisturbed: what any faulted run must end with.</summary>
    public (long Patients, long Entries) Reference { get; private set; }

    public Task InitializeAsync()
    {
        Faults.Init();
        A = Faults.TempDir("export-a");
        B = Faults.TempDir("export-b");
        PopulationGenerator.Generate(150, SyntheticProfile.All[0], 101, A);
        PopulationGenerator.Generate(300, SyntheticProfile.All[1], 202, B);
        var dir = Faults.TempDir("reference-node");
        using (var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(dir))
        {
            new FederatedTwin.Node.Ingest.IngestPipeline(node).Run(A);
            new FederatedTwin.Node.Ingest.IngestPipeline(node).Run(B);
        }

        Reference = IngestFaultTests.Counts(dir);
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => Task.CompletedTask;
}

/// <summary>
/// The ingest's faults, with real `ftwin node ingest` processes: the store at its size cap (a full disk without root: PRAGMA
/// max_page_count through --max-store-mb), and two ingests on one node directory at once. Each ends with the store intact (integrity
/// check, audit chain), nothing lost and nothing counted twice.
/// </summary>
[Trait("Category", "FaultInjection")]
public sealed class IngestFaultTests(IngestExports exports, ITestOutputHelper output) : IClassFixture<IngestExports>
{
    internal static void AssertIngest(string nodeDir, string export, params string[] options)
    {
        var (code, stdout, stderr) = Faults.Ftwin(["node", "ingest", export, "--node-dir", nodeDir, "--json", .. options]);
        Assert.True(code == 0, $"exit {code}: {stdout} {stderr}");
    }

    /// <summary>Patients with stored facts, and the entries they hold (a line lost or counted twice changes the second).</summary>
    internal static (long Patients, long Entries) Counts(string nodeDir)
    {
        using var c = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return (c.ExecuteScalar<long>("SELECT COUNT(*) FROM patient_facts"), c.ExecuteScalar<long>("SELECT COALESCE(SUM(entries), 0) FROM patient_facts"));
    }

    private static Dictionary<string, string> Rows(string nodeDir)
    {
        using var c = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return c.Query<(string Pseudonym, byte[] Data)>("SELECT pseudonym, data FROM patient_facts").ToDictionary(r => r.Pseudonym, r => Convert.ToHexString(r.Data), StringComparer.Ordinal);
    }

    private static void AssertOneLineError(string stderr, string expected)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "not one line: " + stderr);
        Assert.StartsWith("error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void An_ingest_into_a_store_at_its_size_cap_fails_in_one_line_and_leaves_the_store_intact_and_resumable()
    {
        var clock = Stopwatch.StartNew();
        var node = Faults.TempDir("capped-node");
        AssertIngest(node, exports.A);
        var before = Rows(node);
        var size = new FileInfo(Path.Combine(node, "node.db")).Length;

        // B is twice A: it cannot fit under a cap of 1 MB more than the store holds now (the WAL checkpointed into node.db or not).
        var cap = (int)((size >> 20) + 1);
        var (code, stdout, stderr) = Faults.Ftwin("node", "ingest", exports.B, "--node-dir", node, "--max-store-mb", $"{cap}");
        Assert.True(code == 1, $"exit {code}: {stdout} {stderr}");
        AssertOneLineError(stderr, $"the node's store (node.db) is full: it reached its size cap of {cap} MB");
        Assert.Contains("raise --max-store-mb (Node:MaxStoreMegabytes)", stderr, StringComparison.Ordinal);

        // Intact: the file checks, the audit chain verifies, every patient row of A is as it was (B's committed partitions may be there).
        Faults.AssertIntact(Path.Combine(node, "node.db"));
        Faults.AssertAuditVerifies(AuditService.Node, node, "the capped node");
        var after = Rows(node);
        Assert.All(before, r => Assert.Equal(r.Value, after.GetValueOrDefault(r.Key)));

        // The cap raised (here: none), the same ingest resumes and ends where an undisturbed one does.
        AssertIngest(node, exports.B);
        Assert.Equal(exports.Reference, Counts(node));
        Faults.AssertIntact(Path.Combine(node, "node.db"));
        Faults.AssertAuditVerifies(AuditService.Node, node, "the node after the resumed ingest");
        output.WriteLine($"full store during ingest (cap {cap} MB, store {size >> 10} KiB): exit 1, one line; resumed to {exports.Reference}; {clock.Elapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public async Task Two_ingests_on_one_node_directory_at_once_are_refused_one_at_a_time_and_lose_or_duplicate_nothing()
    {
        var clock = Stopwatch.StartNew();
        var node = Faults.TempDir("two-ingests");
        AssertIngest(node, exports.A);

        // Held by another ingest (here the test, holding the same lock): refused at once, in one line, before anything is written.
        var runsBefore = Runs(node);
        using (new FileStream(Path.Combine(node, "ingest.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var (code, stdout, stderr) = Faults.Ftwin("node", "ingest", exports.B, "--node-dir", node);
            Assert.True(code == 1, $"exit {code}: {stdout} {stderr}");
            AssertOneLineError(stderr, "another ingest is running on this node directory");
        }

        Assert.Equal(runsBefore, Runs(node));

        // Two real ingests started together: each either runs or is refused; the refused one run again afterwards.
        var both = await Task.WhenAll(Task.Run(() => Faults.Ftwin("node", "ingest", exports.A, "--node-dir", node)), Task.Run(() => Faults.Ftwin("node", "ingest", exports.B, "--node-dir", node)));
        Assert.Contains(both, r => r.ExitCode == 0);
        foreach (var (r, export) in both.Zip([exports.A, exports.B]))
        {
            if (r.ExitCode != 0)
            {
                Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Stdout} {r.Stderr}");
                AssertOneLineError(r.Stderr, "another ingest is running on this node directory");
                AssertIngest(node, export);
            }
        }

        Assert.Equal(exports.Reference, Counts(node));
        Faults.AssertIntact(Path.Combine(node, "node.db"));
        Faults.AssertAuditVerifies(AuditService.Node, node, "the node");
        output.WriteLine($"two ingests at once: exits {string.Join(",", both.Select(r => r.ExitCode))}; store {Counts(node)} = reference; {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static long Runs(string nodeDir)
    {
        using var c = TestStore.OpenReadOnly(Path.Combine(nodeDir, "node.db"));
        return c.ExecuteScalar<long>("SELECT COUNT(*) FROM ingest_runs");
    }
}
