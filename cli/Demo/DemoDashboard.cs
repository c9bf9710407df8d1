using System.Security.Cryptography;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using Spectre.Console;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// `ftwin demo --keep-running`: after the demo, the federation stays up and the coordinator's dashboard gets one demo
/// account with a random password, printed once (it is stored only as its hash), until Ctrl+C stops every process cleanly.
/// </summary>
internal static class DemoDashboard
{
    public const string UserName = "demo-admin";

    /// <summary>Creates the demo's admin account in the coordinator's store, as `ftwin coordinator user add` does, and returns its password.</summary>
    public static string CreateAccount(string coordinatorDir)
    {
        // 120 random bits, URL-safe base64: 20 characters, above the dashboard's minimum length.
        var password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(15)).Replace('+', '-').Replace('/', '_');
        using var store = CoordinatorStore.Sqlite(coordinatorDir);
        using var keys = CoordinatorKeys.LoadOrCreate(coordinatorDir);
        new DashboardUsers(store, new CoordinatorAuditTrail(store, keys)).Add(UserName, DashboardRoles.Admin, password, "ftwin demo --keep-running (" + Environment.UserName + ")", TimeProvider.System.GetUtcNow());
        return password;
    }

    /// <summary>Prints where to sign in and waits until Ctrl+C (or SIGTERM), or until the coordinator stops by itself (then false).</summary>
    public static async Task<bool> KeepRunning(LocalFederation federation, CancellationToken cancellationToken)
    {
        var password = CreateAccount(federation.CoordinatorDir);
        var signIn = new Uri(federation.CoordinatorUrl, "/signin");
        AnsiConsole.WriteLine();
        AnsiConsole.MarkupLine("[bold]The federation keeps running.[/] Open the coordinator's dashboard:");
        // Plain lines (no markup, no wrapping) so the URL and the password can be copied, and read by scripts.
        Console.WriteLine($"  dashboard: {signIn}");
        Console.WriteLine($"  user:      {UserName} (admin)");
        Console.WriteLine($"  password:  {password}");
        Console.WriteLine($"  admin API: {federation.CoordinatorAdminUrl} (admin token: {federation.AdminToken}; the coordinator keeps only its hash)");
        AnsiConsole.MarkupLine("[grey]The password is shown only now (the coordinator stores its hash). Each node's status page asks for that node's admin token:[/]");
        foreach (var (name, dir, port) in federation.Nodes)
        {
            // Each node keeps only a hash of its token: a new one is made for the demo and shown here, once.
            using var node = FederatedTwin.Node.NodeDirectory.OpenOrInitialize(dir);
            Console.WriteLine($"  node {name}: http://127.0.0.1:{port}/status (admin token: {node.IssueAdminToken()})");
        }

        AnsiConsole.MarkupLine("Press [bold]Ctrl+C[/] to stop the coordinator and the nodes.");
        try
        {
            while (!federation.CoordinatorExited)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }

            AnsiConsole.MarkupLine("[red]The coordinator stopped by itself; see its log under the demo directory (logs/coordinator.log).[/]");
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            AnsiConsole.MarkupLine("Stopping the nodes and the coordinator...");
            federation.Stop(TimeSpan.FromSeconds(20));
            AnsiConsole.MarkupLine("Stopped.");
            return true;
        }
    }
}
