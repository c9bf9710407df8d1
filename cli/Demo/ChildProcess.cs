using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FederatedTwin.Cli.Demo;

/// <summary>A child `ftwin` process (a node or the coordinator) whose output goes to a log file, killed with its tree on dispose.</summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private ChildProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// How to start ftwin: this same build, as its apphost or as `dotnet ftwin.dll`. Tests, whose
    /// process is the test host, point it at the ftwin.dll beside them.
    /// </summary>
    public static (string File, string[] LeadingArguments) FtwinCommand { get; set; } = DefaultCommand();

    private static (string, string[]) DefaultCommand()
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot locate the ftwin executable.");
        return Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase)
            ? (self, [typeof(ChildProcess).Assembly.Location])
            : (self, []);
    }

    /// <summary>Starts ftwin with these arguments (and these environment variables over the inherited ones, e.g. FTWIN_ configuration).</summary>
    public static ChildProcess StartFtwin(IEnumerable<string> arguments, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(FtwinCommand.File) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        foreach (var a in FtwinCommand.LeadingArguments)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ChildProcess(process, log);
    }

    /// <summary>Waits for the process to exit and its output to be written to the log (false on timeout).</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }

        _process.WaitForExit(); // once exited, this returns when the output pumps have drained
        return true;
    }

    /// <summary>
    /// Asks the process to shut down cleanly (SIGTERM: the host stops, the audit trail signs its head) and waits up to
    /// <paramref name="grace"/>; kills it if it has not exited by then. Returns whether it exited by itself.
    /// </summary>
    public bool Stop(TimeSpan grace, int signal = SigTerm)
    {
        try
        {
            if (_process.HasExited)
            {
                return true;
            }

            if (!OperatingSystem.IsWindows() && SendSignal(_process.Id, signal) == 0 && WaitForExit(grace))
            {
                return true;
            }
        }
        catch (InvalidOperationException)
        {
            return true; // already gone
        }

        Kill();
        return false;
    }

    /// <summary>POSIX signal numbers (Linux and macOS): SIGINT is what Ctrl+C sends, SIGTERM what a service manager sends.</summary>
    public const int SigInt = 2, SigTerm = 15;

    /// <summary>kill(2): sends a signal to a process (.NET has no API for signalling another process).</summary>
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>Kills the process without letting it shut down cleanly (as kill -9 would).</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    public static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // the process outlived its log during shutdown
            }
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        lock (_log)
        {
            _log.Dispose();
        }
    }
}
