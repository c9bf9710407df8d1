using System.Diagnostics;
using Dapper;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Protocol.Audit;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace FederatedTwin.Audit.Tests;

/// <summary>Temporary directories, the ftwin build beside the tests, a clock the tests move, and direct SQLite access for tampering.</summary>
internal static class AuditTestSupport
{
    /// <summary>A fixed instant mid-year and mid-day, so that what a test dates "today" or "this year" does not depend on when it runs.</summary>
    public static readonly DateTimeOffset Epoch = new(2026, 6, 15, 9, 0, 0, TimeSpan.Zero);

    /// <summary>The clock of the components under test (node store, audit trail, decisions), moved by the test: <see cref="FakeTimeProvider"/>.</summary>
    public static FakeTimeProvider Clock() => new(Epoch);

    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Real Synthea output (13 patients, 7,160 lines): ../shared/data/synthea-sample-10 beside the repository.</summary>
    public static string NdjsonSample => Path.Combine(RepositoryRoot, "..", "shared", "data", "synthea-sample-10");

    public static string FtwinDll => Path.Combine(AppContext.BaseDirectory, "ftwin.dll");

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ftwin-audit-" + name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Runs `dotnet ftwin.dll args` as a real process and returns its exit code and output.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Ftwin(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(FtwinDll);
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"ftwin {string.Join(' ', args)} did not finish within 120 s.");
        }

        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>An open connection to a store with the audit triggers dropped, as someone with write access to the file could.</summary>
    public static SqliteConnection OpenWithoutTriggers(string dbPath)
    {
        var connection = TestStore.OpenWritable(dbPath);
        foreach (var trigger in connection.Query<string>("SELECT name FROM sqlite_master WHERE type='trigger' AND name LIKE 'audit%'").ToList())
        {
            connection.Execute($"DROP TRIGGER {trigger}");
        }

        return connection;
    }

    public static AuditVerification VerifyNode(string nodeDir, string publicKey) => AuditSource.Open(AuditService.Node, nodeDir).Verify(publicKey);

    public static List<AuditEntry> NodeEntries(string nodeDir) => AuditSource.Open(AuditService.Node, nodeDir).Entries;

    public static List<AuditEntry> CoordinatorEntries(string dataDir) => AuditSource.Open(AuditService.Coordinator, dataDir).Entries;

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("FederatedTwin.sln not found above the tests.");
    }
}
