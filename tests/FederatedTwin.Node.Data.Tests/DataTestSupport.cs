using System.Diagnostics;
using FederatedTwin.Node;
using FederatedTwin.Node.Ingest;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Node.Data.Tests;

internal static class DataTestSupport
{
    /// <summary>A fixed instant mid-year, so that what ingest dates ("this year", a record's age) does not depend on when the test runs.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 6, 15, 9, 0, 0, TimeSpan.Zero);

    /// <summary>The clock of the node under test (its store, audit trail and ingest runs), moved by the test: <see cref="FakeTimeProvider"/>.</summary>
    public static FakeTimeProvider Clock() => new(Epoch);

    public static string RepositoryRoot => PhiScan.RepositoryRoot;

    public static string SharedData => Path.Combine(RepositoryRoot, "..", "shared", "data");

    public static string NdjsonSample => Path.Combine(SharedData, "synthea-sample-10");

    public static string BundleSample => Path.Combine(SharedData, "synthea-bundles-r4");

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-data-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static IngestSummary Ingest(NodeDirectory node, string path, TimeProvider? clock = null) => new IngestPipeline(node, time: clock).Run(path);

    /// <summary>Runs ftwin (the build beside the tests) and returns exit code and output.</summary>
    public static (int ExitCode, string Output) Ftwin(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// Runs ftwin through bash (for ulimit and the like: <paramref name="prelude"/> comes before the exec), killed if it
    /// takes longer than <paramref name="timeout"/>; returns its exit code (-1 when killed), standard output and error, and
    /// its peak resident memory in bytes as /proc last showed it (VmHWM, polled while it runs; 0 where there is no /proc).
    /// </summary>
    public static (int ExitCode, string Stdout, string Stderr, long PeakBytes) FtwinWithin(TimeSpan timeout, string prelude, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(prelude + " exec dotnet \"$0\" \"$@\"");
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "ftwin.dll"));
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var deadline = Stopwatch.StartNew();
        long peak = 0;
        while (!p.WaitForExit(20))
        {
            peak = Math.Max(peak, PeakResident(p.Id));
            if (deadline.Elapsed > timeout)
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                return (-1, stdout.Result, stderr.Result, peak);
            }
        }

        return (p.ExitCode, stdout.Result, stderr.Result, peak);
    }

    private static long PeakResident(int pid)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException)
        {
            return 0; // exited between the poll and the read
        }
        catch (UnauthorizedAccessException)
        {
            return 0;
        }
    }

    /// <summary>The first 32 hex digits of the SHA-256 of a file's content: its source id in the quarantine and in failed_files.</summary>
    public static string ContentHash(string file) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)))[..32];
}
