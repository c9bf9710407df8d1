using System.CommandLine;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Coordinator.Security;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// How `ftwin study ...` and `ftwin model ...` reach the coordinator's admin API: --coordinator, and the admin token from
/// --admin-token, FTWIN_ADMIN_TOKEN or --data-dir (on the coordinator's host), in that order. Each command group makes
/// one and adds its options to every subcommand that calls the API.
/// </summary>
internal sealed class AdminApiOptions
{
    public Option<Uri> Coordinator { get; } = HttpUrlOption.Coordinator();

    public Option<string?> Token { get; } = new("--admin-token") { Description = "The coordinator's admin token (or set FTWIN_ADMIN_TOKEN, or give --data-dir on the coordinator's host)." };

    public Option<DirectoryInfo?> DataDir { get; } = new("--data-dir") { Description = "Read the admin token from this coordinator data directory." };

    /// <summary>Runs an admin API action that prints what it read; 0, or 2 when the coordinator could not be asked or refused.</summary>
    public Task<int> Run(ParseResult parse, Func<AdminClient, Task> action) =>
        Run(parse, async client =>
        {
            await action(client);
            return 0;
        });

    /// <summary>Runs an admin API action; its own exit code, or 2 when the coordinator could not be asked or refused.</summary>
    public async Task<int> Run(ParseResult parse, Func<AdminClient, Task<int>> action)
    {
        var adminToken = parse.GetValue(Token) ?? Environment.GetEnvironmentVariable("FTWIN_ADMIN_TOKEN")
            ?? (parse.GetValue(DataDir) is { } dir ? CoordinatorKeys.ReadAdminToken(dir.FullName) : null);
        if (adminToken is null)
        {
            Console.Error.WriteLine("error: give --admin-token, FTWIN_ADMIN_TOKEN or --data-dir");
            return 2;
        }

        using var client = new AdminClient(parse.GetValue(Coordinator)!, adminToken);
        try
        {
            return await action(client);
        }
        catch (Exception e) when (e is AdminRequestException or StudyFileException or HttpRequestException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
