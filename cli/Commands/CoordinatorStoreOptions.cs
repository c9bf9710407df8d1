using System.CommandLine;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Storage;
using Microsoft.Extensions.Configuration;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `--store sqlite|postgres`, `--postgres CONNECTION` and `--postgres-password-file FILE`: which store a coordinator command opens,
/// the same on `coordinator run` and on every command that opens the store itself (token, user, roster, key, node, backup). Absent
/// flags fall back to the configuration the service reads (FTWIN_Coordinator__Store, FTWIN_Coordinator__PostgresConnectionString,
/// FTWIN_Coordinator__PostgresPasswordFile), so a command and the service beside it open the same store.
/// </summary>
internal static class CoordinatorStoreOptions
{
    public static readonly Option<string?> Store = CreateStore();

    public static readonly Option<string?> Postgres = new("--postgres")
    {
        Description = "With --store postgres: the Npgsql connection string, without the password, e.g. \"Host=db.internal;Database=ftwin_coordinator;Username=ftwin\". Also Coordinator:PostgresConnectionString.",
    };

    public static readonly Option<FileInfo?> PasswordFile = new("--postgres-password-file")
    {
        Description = "A file whose first line is the PostgreSQL password (owner-only), when PGPASSFILE (~/.pgpass) or PGPASSWORD do not give it. Also Coordinator:PostgresPasswordFile.",
    };

    /// <summary>Adds the three options to a command.</summary>
    public static void AddTo(Command command)
    {
        command.Options.Add(Store);
        command.Options.Add(Postgres);
        command.Options.Add(PasswordFile);
    }

    /// <summary>The store settings the flags give, over the service's configuration, onto <paramref name="options"/>.</summary>
    public static void Apply(ParseResult parse, CoordinatorOptions options)
    {
        var configured = new ConfigurationBuilder().AddEnvironmentVariables("FTWIN_").Build().GetSection(CoordinatorOptions.Section);
        options.Store = parse.GetValue(Store) ?? configured[nameof(CoordinatorOptions.Store)] ?? options.Store;
        options.PostgresConnectionString = parse.GetValue(Postgres) ?? configured[nameof(CoordinatorOptions.PostgresConnectionString)] ?? options.PostgresConnectionString;
        options.PostgresPasswordFile = parse.GetValue(PasswordFile)?.FullName ?? configured[nameof(CoordinatorOptions.PostgresPasswordFile)] ?? options.PostgresPasswordFile;
    }

    /// <summary>
    /// The store of the coordinator whose data directory is <paramref name="dataDir"/>, or null after one line on standard error saying
    /// why it cannot be opened (an unknown --store, postgres without a connection string, a server it cannot reach: host and port,
    /// never the password).
    /// </summary>
    /// <param name="existingOnly">Refuse a SQLite directory without coordinator.db instead of creating the store.</param>
    public static CoordinatorStore? Open(ParseResult parse, string dataDir, bool existingOnly = false)
    {
        var options = new CoordinatorOptions { DataDir = dataDir };
        Apply(parse, options);
        if (options.StoreProblem() is { } problem)
        {
            Console.Error.WriteLine($"error: {problem}");
            return null;
        }

        if (existingOnly && options.StoreKind == CoordinatorStoreKind.Sqlite && !File.Exists(Path.Combine(dataDir, CoordinatorStore.FileName)))
        {
            Console.Error.WriteLine($"error: {dataDir} holds no {CoordinatorStore.FileName}: it is not a coordinator's data directory (or name its PostgreSQL store with --store postgres --postgres ...).");
            return null;
        }

        try
        {
            return CoordinatorStore.Open(options);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return null;
        }
    }

    private static Option<string?> CreateStore()
    {
        var option = new Option<string?>("--store") { Description = "Where the coordinator's state is: sqlite (coordinator.db in --data-dir, the default) or postgres (--postgres). Also Coordinator:Store." };
        option.AcceptOnlyFromAmong([.. CoordinatorOptions.StoreNames.All]);
        return option;
    }
}
