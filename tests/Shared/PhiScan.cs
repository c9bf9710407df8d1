using System.Diagnostics;

namespace FederatedTwin.Tests;

/// <summary>
/// The repository's root, and `../shared/tools/phi_scan.py` beside it: scans everything a node wrote (one directory) for identifiers
/// taken from FHIR source files. Tests that read ../shared find it from the folder of FederatedTwin.sln.
/// </summary>
internal static class PhiScan
{
    /// <summary>The folder of FederatedTwin.sln above the running tests.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Runs the scanner over <paramref name="nodeDir"/> with identifiers taken from <paramref name="sources"/>; returns its exit code and report.</summary>
    public static (int ExitCode, string Report) Run(string nodeDir, IEnumerable<string> sources)
    {
        var info = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(RepositoryRoot, "..", "shared", "tools", "phi_scan.py"));
        info.ArgumentList.Add(nodeDir);
        foreach (var source in sources)
        {
            info.ArgumentList.Add(source);
        }

        using var scan = Process.Start(info)!;
        var error = scan.StandardError.ReadToEndAsync();
        var report = scan.StandardOutput.ReadToEnd() + error.GetAwaiter().GetResult();
        scan.WaitForExit();
        return (scan.ExitCode, report);
    }

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
