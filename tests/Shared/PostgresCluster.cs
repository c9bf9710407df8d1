using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FederatedTwin.Tests;

/// <summary>
/// A throwaway PostgreSQL cluster for tests that need a real one (OMOP sources; later the coordinator's store): <c>initdb</c> into
/// a temporary directory, <c>pg_ctl start</c> on a free loopback port (listen_addresses 127.0.0.1, its Unix socket in the same
/// directory, fsync off: nothing here outlives the test), trust authentication for the <c>postgres</c> superuser over loopback.
/// Run as the <c>postgres</c> OS user when the tests run as root (initdb refuses root). Stopped and deleted on dispose. The
/// binaries are found under /usr/lib/postgresql/&lt;version&gt;/bin (the newest; Debian's <c>postgresql</c> package, which
/// .ci/setup installs), or in the directory named by FTWIN_PG_BIN. A missing PostgreSQL is an error, never a skip.
/// </summary>
internal sealed class PostgresCluster : IDisposable
{
    /// <summary>The database superuser (initdb -U).</summary>
    public const string Superuser = "postgres";

    private readonly bool _asPostgres;
    private bool _stopped;

    private PostgresCluster(string binDirectory, string directory, int port, bool asPostgres)
    {
        BinDirectory = binDirectory;
        Directory = directory;
        Port = port;
        _asPostgres = asPostgres;
    }

    /// <summary>Where initdb, pg_ctl and createdb were found.</summary>
    public string BinDirectory { get; }

    /// <summary>The cluster's temporary directory (data/, the socket, the server log); deleted on dispose.</summary>
    public string Directory { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    public string LogFile => Path.Combine(Directory, "server.log");

    /// <summary>The loopback TCP port the server listens on.</summary>
    public int Port { get; }

    /// <summary>Initializes and starts a cluster; throws with what is missing when PostgreSQL is not installed.</summary>
    public static PostgresCluster Start()
    {
        var bin = FindBinaries();
        var asPostgres = OperatingSystem.IsLinux() && Environment.UserName == "root"; // the effective user (getpwuid(geteuid()))
        var directory = Path.Combine(Path.GetTempPath(), "ftwin-pg-" + Guid.NewGuid().ToString("N")[..10]);
        System.IO.Directory.CreateDirectory(directory);
        var cluster = new PostgresCluster(bin, directory, FreePort(), asPostgres);
        try
        {
            if (asPostgres)
            {
                Run("chown", ["postgres:postgres", directory], asPostgres: false);
            }

            cluster.Tool("initdb", ["-D", cluster.DataDirectory, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]);
            cluster.Tool("pg_ctl", ["start", "-w", "-t", "60", "-D", cluster.DataDirectory, "-l", cluster.LogFile, "-o",
                $"-c listen_addresses=127.0.0.1 -p {cluster.Port} -c unix_socket_directories={directory} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"]);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Creates a database and returns its connection string (loopback TCP, the superuser, no password: trust).</summary>
    public string CreateDatabase(string name)
    {
        Tool("createdb", ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", Superuser, name]);
        return ConnectionString(name);
    }

    /// <summary>A plain-SQL dump of a database (pg_dump, as an operator backs one up): every row as the server stores it.</summary>
    public byte[] Dump(string database)
    {
        var info = new ProcessStartInfo(Path.Combine(BinDirectory, "pg_dump")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", Superuser, "--format=plain", database })
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("Could not start pg_dump.");
        var stderr = process.StandardError.ReadToEndAsync();
        using var output = new MemoryStream();
        process.StandardOutput.BaseStream.CopyTo(output);
        process.WaitForExit();
        return process.ExitCode == 0 ? output.ToArray() : throw new InvalidOperationException($"pg_dump {database} exited with {process.ExitCode}: {stderr.GetAwaiter().GetResult()}");
    }

    /// <summary>The connection string of a database of this cluster.</summary>
    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username={Superuser};Database={database};Pooling=false";

    public void Dispose()
    {
        if (!_stopped)
        {
            _stopped = true;
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                try
                {
                    Tool("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", DataDirectory]);
                }
                catch (InvalidOperationException)
                {
                    // Already gone: the directory is deleted below either way.
                }
            }

            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private void Tool(string name, IReadOnlyList<string> args) => Run(Path.Combine(BinDirectory, name), args, _asPostgres);

    private static void Run(string file, IReadOnlyList<string> args, bool asPostgres)
    {
        var info = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                info.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} exited with {process.ExitCode}: {stdout}{stderr.GetAwaiter().GetResult()}");
        }
    }

    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("FTWIN_PG_BIN") is { Length: > 0 } overridden)
        {
            return File.Exists(Path.Combine(overridden, "initdb")) ? overridden : throw new InvalidOperationException($"FTWIN_PG_BIN={overridden} holds no initdb.");
        }

        var found = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: double.TryParse(Path.GetFileName(d), System.Globalization.CultureInfo.InvariantCulture, out var v) ? v : 0))
                .Where(d => File.Exists(Path.Combine(d.Dir, "initdb")) && File.Exists(Path.Combine(d.Dir, "pg_ctl")))
                .OrderByDescending(d => d.Version).Select(d => d.Dir).FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "PostgreSQL is not installed: no /usr/lib/postgresql/<version>/bin/initdb. Run .ci/setup (it installs Debian's postgresql package) or set FTWIN_PG_BIN to a directory holding initdb, pg_ctl and createdb. These tests need a real PostgreSQL and do not skip.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
