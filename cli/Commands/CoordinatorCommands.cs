using System.CommandLine;
using Microsoft.Extensions.Hosting;
using FederatedTwin.Coordinator;
using FederatedTwin.Coordinator.Audit;
using FederatedTwin.Coordinator.Dashboard;
using FederatedTwin.Coordinator.Orchestration;
using FederatedTwin.Coordinator.Security;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Crypto;
using FederatedTwin.Hosting.Security;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin coordinator ...`: run the ACO's coordinator and administer it on its own host.</summary>
internal static class CoordinatorCommands
{
    public static Command Create()
    {
        var command = new Command("coordinator", "Run and administer the ACO's coordinator.");
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The coordinator's data directory (coordinator.db, keys, admin.token).", Required = true };
        var urls = new Option<string>("--urls") { Description = "Where nodes reach the coordinator, e.g. http://127.0.0.1:7400. Beyond loopback use https (with --tls-certificate), or http behind a TLS-terminating proxy (--behind-tls-proxy).", DefaultValueFactory = _ => "http://127.0.0.1:7400" };
        var adminUrl = new Option<string>("--admin-url") { Description = "Where the admin API listens, apart from the nodes' address: loopback, or https.", DefaultValueFactory = _ => HttpUrlOption.DefaultCoordinatorAdmin.ToString().TrimEnd('/') };

        var maxStore = StoreSizeCapOption.Create("coordinator.db");
        var tlsCertificate = new Option<FileInfo?>("--tls-certificate") { Description = "The TLS certificate for https listeners: PEM (with --tls-key, or its key in the same file) or PKCS#12 (.pfx). Also Coordinator:TlsCertificatePath." };
        var tlsKey = new Option<FileInfo?>("--tls-key") { Description = "The PEM private key of --tls-certificate. Also Coordinator:TlsKeyPath." };
        var requireClientCertificates = new Option<bool>("--require-client-certificates") { Description = "Mutual TLS: nodes must present the TLS client certificate they registered when they enrolled. Also Coordinator:RequireClientCertificates." };
        var behindTlsProxy = new Option<bool>("--behind-tls-proxy") { Description = "The node listener is plain http beyond loopback because a TLS-terminating proxy serves https in front of it. Also Coordinator:BehindTlsProxy." };
        var run = new Command("run", "Run the coordinator service.") { dataDir, urls, adminUrl, maxStore, tlsCertificate, tlsKey, requireClientCertificates, behindTlsProxy };
        CoordinatorStoreOptions.AddTo(run);
        run.SetAction(async (parse, cancellationToken) =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            FederatedTwin.Hosting.Files.OwnerOnly.Require(dir); // one line with the chmod that fixes it, before the store or the keys are opened
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2; // why is on standard error: the service would refuse to start for the same reason
            }

            using (store)
            using (LoadKeys(dir, store))
            {
                // the identity and the admin token exist before the service starts (a new admin token is shown here, once)
            }

            Microsoft.AspNetCore.Builder.WebApplication app;
            try
            {
                app = CoordinatorHost.Build(["--urls", parse.GetValue(urls)!], o =>
                {
                    o.DataDir = dir;
                    o.AdminUrl = parse.GetValue(adminUrl)!;
                    o.MaxStoreMegabytes = parse.GetValue(maxStore) ?? o.MaxStoreMegabytes;
                    // Given on the command line, over the configuration (FTWIN_Coordinator__...); absent, the configuration's stand.
                    o.TlsCertificatePath = parse.GetValue(tlsCertificate)?.FullName ?? o.TlsCertificatePath;
                    o.TlsKeyPath = parse.GetValue(tlsKey)?.FullName ?? o.TlsKeyPath;
                    o.RequireClientCertificates |= parse.GetValue(requireClientCertificates);
                    o.BehindTlsProxy |= parse.GetValue(behindTlsProxy);
                    CoordinatorStoreOptions.Apply(parse, o);
                });
            }
            catch (Microsoft.Extensions.Options.OptionsValidationException e)
            {
                // A misconfigured service refuses to start with its reasons, one line each (no stack trace).
                foreach (var failure in e.Failures)
                {
                    Console.Error.WriteLine($"error: {failure}");
                }

                return 2;
            }

            await app.StartAsync(cancellationToken);
            await app.WaitForShutdownAsync(cancellationToken);
            return 0;
        });
        command.Subcommands.Add(run);

        var token = new Command("token", "Enrollment tokens for new nodes.");
        var create = new Command("create", "Issue a one-time enrollment token and print it.") { dataDir };
        CoordinatorStoreOptions.AddTo(create);
        create.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            return WithGateway(dir, CoordinatorStoreOptions.Open(parse, dir), gateway =>
            {
                Console.WriteLine(gateway.CreateEnrollmentToken(TimeProvider.System.GetUtcNow(), TimeSpan.FromDays(7)));
                return 0;
            });
        });
        token.Subcommands.Add(create);
        command.Subcommands.Add(token);

        var user = new Command("user", "Dashboard accounts (local, in coordinator.db).");
        var userName = new Argument<string>("name") { Description = "The account's user name." };
        var role = new Option<string>("--role") { Description = "analyst, admin or auditor (read-only).", DefaultValueFactory = _ => DashboardRoles.Admin };
        role.AcceptOnlyFromAmong([.. DashboardRoles.All]);
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from standard input (one line) instead of asking for it." };
        var add = new Command("add", "Create a dashboard account; the first one is usually an admin.") { dataDir, userName, role, passwordStdin };
        CoordinatorStoreOptions.AddTo(add);
        add.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;
            var password = parse.GetValue(passwordStdin) || Console.IsInputRedirected ? Console.ReadLine() ?? string.Empty : PromptPassword();
            using var keys = LoadKeys(dir, store);
            var users = new DashboardUsers(store, new CoordinatorAuditTrail(store, keys));
            try
            {
                users.Add(parse.GetValue(userName)!, parse.GetValue(role)!, password, "ftwin coordinator user add (" + Environment.UserName + ")", TimeProvider.System.GetUtcNow());
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                Console.Error.WriteLine(e.Message);
                return 1;
            }

            Console.WriteLine($"Created {parse.GetValue(role)} '{parse.GetValue(userName)}'. Sign in at the coordinator's URL (/signin).");
            return 0;
        });
        user.Subcommands.Add(add);
        var list = new Command("list", "List the dashboard accounts and their roles.") { dataDir };
        CoordinatorStoreOptions.AddTo(list);
        list.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;
            using var keys = LoadKeys(dir, store);
            foreach (var u in new DashboardUsers(store, new CoordinatorAuditTrail(store, keys)).List())
            {
                Console.WriteLine($"{u.Name}\t{u.Role}");
            }

            return 0;
        });
        user.Subcommands.Add(list);
        command.Subcommands.Add(user);

        var roster = new Command("roster", "The federation roster the coordinator relays to nodes (they pin it only with their own officers' approval).");
        var rosterFile = new Argument<FileInfo>("file") { Description = "The roster document, with the member hospitals' approvals (`ftwin roster sign`)." };
        var publish = new Command("publish", "Publish a new roster version for nodes to fetch; it must be newer than the last one published.") { rosterFile, dataDir };
        CoordinatorStoreOptions.AddTo(publish);
        publish.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            return WithGateway(dir, CoordinatorStoreOptions.Open(parse, dir), gateway =>
            {
                try
                {
                    var published = gateway.PublishRoster(File.ReadAllBytes(parse.GetValue(rosterFile)!.FullName), TimeProvider.System.GetUtcNow());
                    Console.WriteLine($"published {published.Roster.Federation} version {published.Roster.Version} ({published.Roster.Members.Count} members, {published.Approvals.Count} approvals); nodes fetch it on their next poll");
                    return 0;
                }
                catch (ProtocolRefusalException e)
                {
                    Console.Error.WriteLine($"error: {e.Title}: {e.Message}");
                    return 2;
                }
            });
        });
        roster.Subcommands.Add(publish);
        command.Subcommands.Add(roster);

        var adminToken = new Command("admin-token", "Make a new admin token and print it (once: admin.token keeps only its hash). The old token is refused from now on, by a running coordinator too.") { dataDir };
        CoordinatorStoreOptions.AddTo(adminToken);
        adminToken.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2;
            }

            using (store)
            {
                Console.WriteLine(IssueAdminToken(dir, store, "ftwin coordinator admin-token (" + Environment.UserName + ")"));
            }

            return 0;
        });
        command.Subcommands.Add(adminToken);

        var key = new Command("key", "Print the coordinator's Ed25519 public key, to pin in nodes' site policies (creates the data directory and its key if they do not exist).") { dataDir };
        CoordinatorStoreOptions.AddTo(key);
        key.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;
            using var keys = LoadKeys(dir, store);
            Console.WriteLine(keys.Identity.PublicKey);
            return 0;
        });
        command.Subcommands.Add(key);
        CoordinatorNodeCommands.AddTo(command, dataDir);
        BackupCommands.AddToCoordinator(command, dataDir);
        CoordinatorTlsCommands.AddTo(command);
        return command;
    }

    /// <summary>
    /// The coordinator's keys for a command on its host. Whichever command first meets a new data directory creates the identity
    /// (in a deployment usually `ftwin coordinator key`, to hand the key to the hospitals before the service first starts), and the
    /// audit trail records that creation as the service does when it creates the key itself: no identity key without its entry.
    /// So with the admin token: a new one is printed to standard error, once (standard output stays the command's own), and
    /// recorded; a plaintext one from an older version is replaced by its hash, and that is recorded too.
    /// </summary>
    internal static CoordinatorKeys LoadKeys(string dataDir, CoordinatorStore store, bool showCreatedToken = true)
    {
        var keys = CoordinatorKeys.LoadOrCreate(dataDir);
        var audit = new CoordinatorAuditTrail(store, keys);
        if (keys.IdentityCreated)
        {
            audit.Append(CoordinatorAuditRecords.IdentityKeyCreated(keys.Identity.PublicKey), TimeProvider.System.GetUtcNow());
        }

        if (keys.AdminTokenFile != AdminTokenFile.Existing)
        {
            audit.Append(CoordinatorAuditRecords.AdminTokenCreated(keys.AdminTokenFile == AdminTokenFile.Created ? "created" : "migrated", "ftwin (" + Environment.UserName + ")"), TimeProvider.System.GetUtcNow());
        }

        if (showCreatedToken && keys.CreatedAdminToken is { } token)
        {
            Console.Error.WriteLine($"admin token (shown once; {Path.Combine(dataDir, AdminTokens.FileName)} keeps only its hash): {token}");
        }

        return keys;
    }

    /// <summary>
    /// Runs a command on the coordinator's node gateway, built over its data directory as the service builds it, so what the
    /// command changes (enrollment tokens, the roster, revocations) is checked and audited as it is through the service.
    /// </summary>
    /// <param name="store">The store, or null when it could not be opened (the reason is on standard error): exit code 2.</param>
    internal static int WithGateway(string dataDir, CoordinatorStore? store, Func<NodeGateway, int> action)
    {
        if (store is null)
        {
            return 2;
        }

        using var storeLifetime = store;
        using var keys = LoadKeys(dataDir, store);
        using var metrics = new CoordinatorMetrics();
        return action(new NodeGateway(store, RlweThresholdScheme.Default, metrics, new CoordinatorAuditTrail(store, keys), new CoordinatorSignals()));
    }

    /// <summary>A new admin token for the data directory (the old one stops working), recorded in the audit trail; the caller shows it once.</summary>
    internal static string IssueAdminToken(string dataDir, CoordinatorStore store, string requestedBy)
    {
        using var keys = LoadKeys(dataDir, store, showCreatedToken: false);
        if (keys.CreatedAdminToken is { } created)
        {
            return created; // a new data directory: its first token, made and recorded just now
        }

        var token = CoordinatorKeys.IssueAdminToken(dataDir);
        new CoordinatorAuditTrail(store, keys).Append(CoordinatorAuditRecords.AdminTokenCreated("issued", requestedBy), TimeProvider.System.GetUtcNow());
        return token;
    }

    /// <summary>Reads a password from the terminal without echoing it, twice.</summary>
    private static string PromptPassword()
    {
        static string Read(string prompt)
        {
            Console.Write(prompt);
            var password = new System.Text.StringBuilder();
            for (var k = Console.ReadKey(intercept: true); k.Key != ConsoleKey.Enter; k = Console.ReadKey(intercept: true))
            {
                if (k.Key == ConsoleKey.Backspace)
                {
                    password.Length = Math.Max(0, password.Length - 1);
                }
                else if (!char.IsControl(k.KeyChar))
                {
                    password.Append(k.KeyChar);
                }
            }

            Console.WriteLine();
            return password.ToString();
        }

        var first = Read($"Password (at least {DashboardUsers.MinimumPasswordLength} characters): ");
        return Read("Again: ") == first ? first : throw new ArgumentException("The two passwords differ.");
    }
}
