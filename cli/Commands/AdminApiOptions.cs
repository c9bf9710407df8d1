using System.CommandLine;
using FederatedTwin.Analytics.Studies;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// How `ftwin study ...` and `ftwin model ...` reach the coordinator's admin API: --coordinator (the admin listener; https
/// beyond loopback), and the admin token from --admin-token, FTWIN_ADMIN_TOKEN or --admin-token-file, in that order (the
/// coordinator's own admin.token holds only a hash of it). Each command group makes
/// one and adds its options to every subcommand that calls the API.
/// </summary>
internal sealed class AdminApiOptions
{
    public Option<Uri> Coordinator { get; } = HttpUrlOption.CoordinatorAdmin();

    public Option<string?> Token { get; } = new("--admin-token") { Description = "The coordinator's admin token (or set FTWIN_ADMIN_TOKEN, or give --admin-token-file)." };

    public Option<FileInfo?> TokenFile { get; } = new("--admin-token-file") { Description = "Read the admin token from this file (kept owner-only; the coordinator's admin.token holds only a hash)." };

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
        string? adminToken;
        try
        {
            adminToken = parse.GetValue(Token) ?? Environment.GetEnvironmentVariable("FTWIN_ADMIN_TOKEN")
                ?? (parse.GetValue(TokenFile) is { } file ? (await File.ReadAllTextAsync(file.FullName)).Trim() : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: cannot read the admin token file: {e.Message}");
            return 2;
        }

        if (adminToken is null)
        {
            Console.Error.WriteLine("error: give --admin-token, FTWIN_ADMIN_TOKEN or --admin-token-file (`ftwin coordinator admin-token` makes a token on the coordinator's host)");
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
