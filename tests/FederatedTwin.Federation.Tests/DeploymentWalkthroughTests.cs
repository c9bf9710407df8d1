using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FederatedTwin.Cli.Audit;
using FederatedTwin.Cli.Demo;
using FederatedTwin.Protocol.Audit;
using Xunit.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// docs/operations.md, "Deploy a federation, step by step", run as it is written: the fenced bash between its
/// deployment-walkthrough markers becomes one bash script, in which every `ftwin` is a separate process of the ftwin built
/// beside this test and the services run in the background as the document starts them. Only the host's places are
/// changed: /var/lib/ftwin becomes a temporary directory, each loopback port a free one, and HOME (where the officers'
/// keys go) a temporary directory. Any documented command that fails fails the script (set -e), and so this test.
/// </summary>
[Trait("Category", "Deployment")]
public sealed partial class DeploymentWalkthroughTests(ITestOutputHelper output)
{
    private const string Begin = "<!-- deployment-walkthrough:begin -->";
    private const string End = "<!-- deployment-walkthrough:end -->";

    /// <summary>Where the document puts the services' directories, replaced by a temporary one.</summary>
    private const string DocumentedDataRoot = "/var/lib/ftwin";

    private static readonly TimeSpan ScriptTimeout = TimeSpan.FromSeconds(180);

    [Fact]
    public void The_documented_deployment_runs_command_by_command_and_its_study_completes_with_the_sum_of_the_three_sites()
    {
        var root = TestFederation.TempDir("walkthrough"); // also sets ChildProcess.FtwinCommand to the ftwin beside this assembly
        var data = Path.Combine(root, "data");
        var home = Path.Combine(root, "home");
        var work = Path.Combine(root, "work");
        foreach (var dir in new[] { home, work })
        {
            Directory.CreateDirectory(dir);
        }

        var walkthrough = Walkthrough(File.ReadAllText(Path.Combine(DeploymentTests.RepositoryRoot(), "docs", "operations.md")));
        Assert.Contains(DocumentedDataRoot, walkthrough, StringComparison.Ordinal);
        var localized = Localize(walkthrough, data);
        Assert.DoesNotContain("/var/", localized, StringComparison.Ordinal); // nothing outside the test's directory, whatever the document adds
        var script = Preamble(WrapperDirectory(root)) + localized + "\n";
        var scriptPath = Path.Combine(root, "walkthrough.sh");
        File.WriteAllText(scriptPath, script);

        var stopwatch = Stopwatch.StartNew();
        var (exitCode, log) = RunBash(scriptPath, work, home, data);
        output.WriteLine($"walkthrough: exit code {exitCode} after {stopwatch.Elapsed.TotalSeconds:F1} s; script {scriptPath}");
        Assert.True(exitCode == 0, $"the walkthrough failed (exit code {exitCode}); the end of its trace:\n{Tail(log, 6000)}{ServiceLogs(data)}");

        // The documented study completed with exactly the sum of the three sites' censuses, every hospital taking part.
        var nodes = Directory.GetDirectories(data).Where(d => File.Exists(Path.Combine(d, "node.db"))).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(3, nodes.Count);
        var coordinator = Directory.GetDirectories(data).Single(d => File.Exists(Path.Combine(d, "coordinator.db")));
        var study = SingleStudy(coordinator);
        Assert.True(study["state"]!.ToString() == "completed", $"study {study["state"]}: {study["failure_reason"]}");
        var sums = TestFederation.Sum(nodes.Select(TestFederation.SiteVector));
        Assert.Equal(sums, study["result"]!["sums"]!.AsArray().Select(v => v!.GetValue<long>()).ToArray());
        Assert.Equal(3, study["accepted"]!.GetValue<long>());

        // `ftwin study wait` printed the study it waited for, the census included.
        Assert.Contains($"{study["id"]}  completed", log, StringComparison.Ordinal);
        Assert.Matches($@"[│|] 0-17 female\s+[│|]\s+{sums[0]} [│|]", log); // Spectre draws ASCII borders where the terminal lacks Unicode

        // The documented stop was a clean one: every service recorded it in its audit trail before it exited.
        Assert.Equal(AuditActions.ServiceStopped, LastServiceEntry(AuditService.Coordinator, coordinator));
        Assert.All(nodes, n => Assert.Equal(AuditActions.ServiceStopped, LastServiceEntry(AuditService.Node, n)));
    }

    /// <summary>The fenced bash blocks between the walkthrough's markers, in order.</summary>
    private static string Walkthrough(string markdown)
    {
        var begin = markdown.IndexOf(Begin, StringComparison.Ordinal);
        var end = markdown.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, $"docs/operations.md has no {Begin} … {End} section");
        var blocks = BashBlock().Matches(markdown[begin..end]).Select(m => m.Groups["code"].Value).ToList();
        Assert.NotEmpty(blocks);
        return string.Join("\n", blocks);
    }

    /// <summary>
    /// The document's places made this machine's: its data root becomes <paramref name="dataRoot"/>, and every loopback port
    /// it names a free one (the same documented port always the same free port, so the coordinator's URL and the nodes'
    /// admin addresses stay consistent).
    /// </summary>
    private static string Localize(string walkthrough, string dataRoot)
    {
        var ports = new Dictionary<string, int>(StringComparer.Ordinal);
        var localized = LoopbackPort().Replace(walkthrough, m =>
        {
            if (!ports.TryGetValue(m.Groups["port"].Value, out var port))
            {
                do
                {
                    port = ChildProcess.FreeLoopbackPort();
                }
                while (ports.ContainsValue(port));
                ports[m.Groups["port"].Value] = port;
            }

            return $"127.0.0.1:{port}";
        });
        return localized.Replace(DocumentedDataRoot, dataRoot, StringComparison.Ordinal);
    }

    /// <summary>
    /// What the script runs before the document: strict mode (a failing command, an unset variable or a failing stage of a
    /// pipe ends it), a trace of every command for the failure message, and on every exit the end of any service still in
    /// the background (the walkthrough stops its own; this covers a walkthrough that fails before it does).
    /// </summary>
    private static string Preamble(string wrapperDirectory) => $"""
        set -euo pipefail
        export PATH='{wrapperDirectory}':"$PATH"
        PS4='+ walkthrough:$LINENO: '
        set -x
        trap 'status=$?; set +e; jobs -p | xargs -r kill 2>/dev/null; wait; exit $status' EXIT

        """;

    /// <summary>
    /// A directory holding `ftwin`: a script that execs the ftwin.dll beside this test with dotnet, so that a background `ftwin ... &amp;`
    /// is the service's own process and the walkthrough's `kill` reaches it.
    /// </summary>
    private static string WrapperDirectory(string root)
    {
        var bin = Path.Combine(root, "bin");
        Directory.CreateDirectory(bin);
        var (file, leading) = ChildProcess.FtwinCommand;
        var wrapper = Path.Combine(bin, "ftwin");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec {string.Join(' ', new[] { file }.Concat(leading).Select(Quote))} \"$@\"\n");
        if (!OperatingSystem.IsWindows()) // the walkthrough is bash: this test runs where the services' hosts do, on Linux (or macOS)
        {
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        return bin;
    }

    /// <summary>Runs the script with bash to its end (killing it and everything it started after <see cref="ScriptTimeout"/>); its exit code and output.</summary>
    private static (int ExitCode, string Log) RunBash(string script, string workingDirectory, string home, string data)
    {
        var info = new ProcessStartInfo("/bin/bash") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        info.ArgumentList.Add(script);
        info.Environment["HOME"] = home;
        info.Environment.Remove("FTWIN_ADMIN_TOKEN"); // the walkthrough gives the coordinator's data directory; a token from the environment would win
        var log = new StringBuilder();
        using var bash = new Process { StartInfo = info };
        bash.OutputDataReceived += (_, e) => Append(log, e.Data);
        bash.ErrorDataReceived += (_, e) => Append(log, e.Data);
        bash.Start();
        bash.StandardInput.Close();
        bash.BeginOutputReadLine();
        bash.BeginErrorReadLine();
        if (!bash.WaitForExit(ScriptTimeout))
        {
            bash.Kill(entireProcessTree: true);
            bash.WaitForExit();
            Assert.Fail($"the walkthrough did not finish within {ScriptTimeout.TotalSeconds:F0} s; the end of its trace:\n{Tail(Snapshot(log), 6000)}{ServiceLogs(data)}");
        }

        bash.WaitForExit(); // the output pumps have drained
        File.WriteAllText(script + ".log", Snapshot(log));
        return (bash.ExitCode, Snapshot(log));
    }

    /// <summary>The coordinator's one study, read from its store after the walkthrough stopped it.</summary>
    private static JsonObject SingleStudy(string coordinatorDir)
    {
        using var connection = TestStore.OpenReadOnly(Path.Combine(coordinatorDir, "coordinator.db"));
        var (id, state, failure, result) = Dapper.SqlMapper.QuerySingle<(string, string, string?, string?)>(connection, "SELECT study_id, state, failure_reason, result_json FROM studies");
        var accepted = Dapper.SqlMapper.ExecuteScalar<long>(connection, "SELECT COUNT(*) FROM decisions WHERE study_id=@id AND accept=1", new { id });
        return new JsonObject { ["id"] = id, ["state"] = state, ["failure_reason"] = failure, ["result"] = result is null ? null : JsonNode.Parse(result), ["accepted"] = accepted };
    }

    private static string LastServiceEntry(AuditService service, string dir) =>
        AuditSource.Open(service, dir).Entries.Last(e => e.Action is AuditActions.ServiceStarted or AuditActions.ServiceStopped).Action;

    /// <summary>The end of each service's log, where the walkthrough writes them ($FTWIN_DATA/*.log), for a failure's message.</summary>
    private static string ServiceLogs(string data) => Directory.Exists(data)
        ? string.Concat(Directory.GetFiles(data, "*.log").Order(StringComparer.Ordinal).Select(f => $"\n--- {Path.GetFileName(f)}:\n{Tail(File.ReadAllText(f), 2000)}"))
        : string.Empty;

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void Append(StringBuilder log, string? line)
    {
        if (line is not null)
        {
            lock (log)
            {
                log.AppendLine(line);
            }
        }
    }

    private static string Snapshot(StringBuilder log)
    {
        lock (log)
        {
            return log.ToString();
        }
    }

    private static string Tail(string text, int length) => text.Length <= length ? text : "…" + text[^length..];

    [GeneratedRegex(@"^```bash[ \t]*\n(?<code>.*?)^```[ \t]*$", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex BashBlock();

    [GeneratedRegex(@"127\.0\.0\.1:(?<port>\d{2,5})")]
    private static partial Regex LoopbackPort();
}
