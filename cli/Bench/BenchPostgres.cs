using System.Diagnostics;
using System.Globalization;
using FederatedTwin.Cli.Demo;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// The throwaway PostgreSQL cluster of `ftwin bench federation --store postgres`: <c>initdb</c> into a temporary directory,
/// <c>pg_ctl start</c> on a free loopback port (listen_addresses 127.0.0.1, its Unix socket in the same directory), trust
/// authentication for the <c>postgres</c> superuser over loopback, one database for the coordinator. Durability settings are
/// PostgreSQL's defaults (fsync and synchronous_commit on), as a coordinator would run: the bench measures the store as
/// deployed. Run as the <c>postgres</c> OS user when ftwin runs as root (initdb refuses root). Stopped and deleted on dispose.
/// Binaries: the newest /usr/lib/postgresql/&lt;version&gt;/bin (Debian's <c>postgresql</c> package), or FTWIN_PG_BIN. The same
/// steps as the tests' tests/Shared/PostgresCluster.cs, which the product cannot reference.
/// </summary>
internal sealed class BenchPostgres : IDisposable
{
    private const string Superuser = "postgres";
    private readonly string _bin;
    private readonly bool _asPostgres;
    private bool _stopped;

    private BenchPostgres(string bin, string directory, int port, bool asPostgres)
    {
        (_bin, Directory, Port, _asPostgres) = (bin, directory, port, asPostgres);
    }

    public string Directory { get; }

    public int Port { get; }

    private string DataDirectory => Path.Combine(Directory, "data");

    /// <summary>The coordinator database's connection string (loopback TCP, the superuser, trust: no password).</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username={Superuser};Database=coordinator";

    /// <summary>Starts a cluster in its own temporary directory (not under the bench's owner-only root: the postgres user must reach it).</summary>
    public static BenchPostgres Start(string nameHint)
    {
        var bin = FindBinaries();
        var asPostgres = Environment.UserName == "root";
        var directory = Path.Combine(Path.GetTempPath(), "ftwin-bench-pg-" + Path.GetFileName(Path.GetDirectoryName(nameHint)) + "-" + Guid.NewGuid().ToString("N")[..6]);
        System.IO.Directory.CreateDirectory(directory);
        var cluster = new BenchPostgres(bin, directory, ChildProcess.FreeLoopbackPort(), asPostgres);
        try
        {
            if (asPostgres)
            {
                Run("chown", ["postgres:postgres", directory], asPostgres: false);
            }

            cluster.Tool("initdb", ["-D", cluster.DataDirectory, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C"]);
            cluster.Tool("pg_ctl", ["start", "-w", "-t", "60", "-D", cluster.DataDirectory, "-l", Path.Combine(directory, "server.log"), "-o",
                $"-c listen_addresses=127.0.0.1 -p {cluster.Port} -c unix_socket_directories={directory} -c max_connections=200"]);
            cluster.Tool("createdb", ["-h", "127.0.0.1", "-p", cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser, "coordinator"]);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (_stopped)
        {
            return;
        }

        _stopped = true;
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                Tool("pg_ctl", ["stop", "-w", "-m", "fast", "-D", DataDirectory]);
            }
            catch (InvalidOperationException)
            {
                // already gone: the directory is deleted below either way
            }
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a temp folder
        }
    }

    private void Tool(string name, IReadOnlyList<string> args) => Run(Path.Combine(_bin, name), args, _asPostgres);

    private static void Run(string file, IReadOnlyList<string> args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in asPostgres ? ["-u", "postgres", "--", file, .. args] : args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {process.ExitCode}: {stdout}{stderr.GetAwaiter().GetResult()}");
        }
    }

    /// <summary>initdb and pg_ctl, or an error that says what to install.</summary>
    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("FTWIN_PG_BIN") is { Length: > 0 } overridden)
        {
            return File.Exists(Path.Combine(overridden, "initdb")) ? overridden : throw new BenchPostgresMissingException($"FTWIN_PG_BIN={overridden} holds no initdb.");
        }

        var found = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: double.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "initdb")) && File.Exists(Path.Combine(d.Dir, "pg_ctl")))
                .OrderByDescending(d => d.Version).Select(d => d.Dir).FirstOrDefault()
            : null;
        return found ?? throw new BenchPostgresMissingException(
            "PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb. Install Debian's postgresql package (.ci/setup does) or set FTWIN_PG_BIN to a directory holding initdb, pg_ctl and createdb.");
    }
}

/// <summary>The PostgreSQL binaries the bench needs are not there.</summary>
internal sealed class BenchPostgresMissingException(string message) : Exception(message)
{
    public BenchPostgresMissingException()
        : this("PostgreSQL is not installed.")
    {
    }

    public BenchPostgresMissingException(string message, Exception innerException)
        : this(message + " " + innerException.Message)
    {
    }
}
