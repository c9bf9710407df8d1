using System.Diagnostics;
using System.Text.Json;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// Times Microsoft SEAL's BFV at N = 8192 (node-seal, WebAssembly) in the same run as our own
/// figures, from bench/seal in a source checkout. Returns null when node or npm is missing or the
/// baseline fails: the comparison is optional, our own figures are not.
/// </summary>
internal static class SealComparison
{
    public static Dictionary<string, object>? Run()
    {
        var folder = FindBaselineFolder();
        if (folder is null)
        {
            return null;
        }

        if (!Directory.Exists(Path.Combine(folder, "node_modules", "node-seal")) &&
            RunProcess("npm", "ci --no-audit --no-fund", folder, TimeSpan.FromMinutes(3)) is null)
        {
            return null;
        }

        var output = RunProcess("node", "seal-bench.mjs", folder, TimeSpan.FromMinutes(3));
        if (output is null)
        {
            return null;
        }

        try
        {
            using var doc = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            return doc.RootElement.EnumerateObject().ToDictionary(
                p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : (object)(p.Value.GetString() ?? string.Empty));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? FindBaselineFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FederatedTwin.sln")))
            {
                var folder = Path.Combine(dir.FullName, "bench", "seal");
                return File.Exists(Path.Combine(folder, "seal-bench.mjs")) ? folder : null;
            }
        }

        return null;
    }

    private static string? RunProcess(string file, string arguments, string workingDirectory, TimeSpan timeout)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(file, arguments)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            });
            if (process is null)
            {
                return null;
            }

            var stdout = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                return null;
            }

            return process.ExitCode == 0 ? stdout.Result : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // the program is not installed
        }
    }
}
