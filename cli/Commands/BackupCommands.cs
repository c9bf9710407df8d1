using System.CommandLine;
using FederatedTwin.Coordinator.Storage;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Node;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node backup|restore` and `ftwin coordinator backup|restore`: a consistent copy of a service directory made while the service
/// runs (SQLite's online backup of the store, the key ring and the sealed keys beside it, one owner-only file), and its restore into a
/// new directory (docs/operations.md, "Backup and restore").
/// </summary>
internal static class BackupCommands
{
    private static readonly Option<FileInfo> Out = new("--out") { Description = "The bundle to write (a new file, readable by its owner only).", Required = true };

    private static readonly Option<FileInfo> From = new("--from") { Description = "The bundle `backup` wrote.", Required = true };

    public static void AddToNode(Command node, Option<DirectoryInfo> nodeDir)
    {
        var backup = new Command("backup", "Write a consistent backup of the node directory (while it runs or not): store, key ring, sealed keys, policy.") { nodeDir, Out };
        backup.SetAction(parse =>
        {
            var dir = parse.GetValue(nodeDir)!.FullName;
            if (!Directory.Exists(dir))
            {
                Console.Error.WriteLine($"error: {dir} does not exist.");
                return 2;
            }

            using var node = NodeDirectory.OpenOrInitialize(dir);
            return Report(node.Backup(parse.GetValue(Out)!.FullName, TimeProvider.System), parse.GetValue(Out)!.FullName);
        });
        node.Subcommands.Add(backup);

        var restore = new Command("restore", "Restore a node backup into a new directory; every attempt secret in it is deleted and the restore audited.") { nodeDir, From };
        restore.SetAction(parse =>
        {
            using var node = NodeDirectory.Restore(parse.GetValue(From)!.FullName, parse.GetValue(nodeDir)!.FullName, out var manifest);
            Console.WriteLine($"restored into {node.Path} (backup of {manifest.CreatedAt}); its audit trail continues after entry {manifest.AuditSeq} with store_restored; attempt secrets deleted. Check it with `ftwin audit verify --node-dir {node.Path}`");
            return 0;
        });
        node.Subcommands.Add(restore);
    }

    public static void AddToCoordinator(Command coordinator, Option<DirectoryInfo> dataDir)
    {
        var backup = new Command("backup", "Write a consistent backup of the coordinator's data directory (while it runs or not): store, key ring, sealed identity. A PostgreSQL store is backed up with pg_dump.") { dataDir, Out };
        CoordinatorStoreOptions.AddTo(backup);
        backup.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            if (!Directory.Exists(dir))
            {
                Console.Error.WriteLine($"error: {dir} does not exist.");
                return 2;
            }

            OwnerOnly.Require(dir);
            if (CoordinatorStoreOptions.Open(parse, dir) is not { } store)
            {
                return 2;
            }

            using var storeLifetime = store;
            if (store.Kind != CoordinatorStoreKind.Sqlite)
            {
                Console.Error.WriteLine($"error: {CoordinatorStore.PostgresBackupRefusal}.");
                return 2;
            }

            var manifest = BackupBundle.Write(dir, store, "coordinator", parse.GetValue(Out)!.FullName, TimeProvider.System);
            return Report(manifest, parse.GetValue(Out)!.FullName);
        });
        coordinator.Subcommands.Add(backup);

        var restore = new Command("restore", "Restore a coordinator backup into a new data directory.") { dataDir, From };
        restore.SetAction(parse =>
        {
            var dir = parse.GetValue(dataDir)!.FullName;
            var manifest = BackupBundle.Extract(parse.GetValue(From)!.FullName, dir, "coordinator");
            Console.WriteLine($"restored into {dir} (backup of {manifest.CreatedAt}, audit head {manifest.AuditSeq}); check it with `ftwin audit verify --data-dir {dir}`");
            return 0;
        });
        coordinator.Subcommands.Add(restore);
    }

    private static int Report(BackupManifest manifest, string output)
    {
        Console.WriteLine($"backup written to {output}: store as of {manifest.CreatedAt}, audit head {manifest.AuditSeq} {manifest.AuditHead}");
        Console.Error.WriteLine("Keep it as you keep the directory: it holds the service's identity (and its key ring). Record the audit head off the host.");
        return 0;
    }
}
