using System.CommandLine;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Identity;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Commands;

/// <summary>`ftwin node key rotate | show`: the node's Ed25519 identity key, on the hospital's host (docs/operations.md, "Rotate or revoke a node's key").</summary>
internal static class NodeKeyCommands
{
    public static void AddTo(Command node, Option<DirectoryInfo> nodeDir)
    {
        var key = new Command("key", "The node's Ed25519 identity key.");

        var rotate = new Command("rotate", "Replace the node's identity key: the coordinator switches to a new key (proved by both keys' signatures), the node's audit trail records the handover, the old private key is destroyed. Works with the node stopped or running; run it again to finish a rotation an interruption left pending.") { nodeDir };
        rotate.SetAction(async (parse, cancellationToken) =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            try
            {
                var result = await IdentityRotation.Rotate(directory, null, cancellationToken);
                Console.WriteLine(result.Resumed
                    ? $"Finished the pending rotation of {result.Node}'s identity key with the coordinator at {result.Coordinator}."
                    : $"Rotated {result.Node}'s identity key with the coordinator at {result.Coordinator}.");
                Console.WriteLine($"  old key  {result.OldPublicKey}  sha256 {KeyRotationStatement.Fingerprint(result.OldPublicKey)}  (refused by the coordinator since {result.ValidFrom:u}; its private key is destroyed)");
                Console.WriteLine($"  new key  {result.NewPublicKey}  sha256 {KeyRotationStatement.Fingerprint(result.NewPublicKey)}");
                Console.WriteLine("The federation's roster must be updated to the new key: other nodes accept this node's contributions only once their");
                Console.WriteLine("pinned roster lists it. Give the new key and its fingerprint to the roster's maintainer (docs/operations.md, \"Rotate or revoke a node's key\").");
                return 0;
            }
            catch (IdentityRotationBusyException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            catch (Exception e) when (e is CoordinatorRefusedException or HttpRequestException or TaskCanceledException or InvalidOperationException or SitePolicyException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                if (File.Exists(directory.Keys.PendingPath))
                {
                    Console.Error.WriteLine("The new key is kept as pending and the old key is still the identity: run `ftwin node key rotate` again to finish (a running node also finishes it once the coordinator answers).");
                }

                return 2;
            }
        });
        key.Subcommands.Add(rotate);

        var show = new Command("show", "Print the node's identity key, its fingerprint, a pending rotation and the keys it retired.") { nodeDir };
        show.SetAction(parse =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            var current = directory.Identity.PublicKey;
            Console.WriteLine($"identity key  {current}  sha256 {KeyRotationStatement.Fingerprint(current)}");
            if (directory.Keys.Pending() is { } pending && pending.PublicKey != current)
            {
                Console.WriteLine($"pending key   {pending.PublicKey}  sha256 {KeyRotationStatement.Fingerprint(pending.PublicKey)}  (a rotation was interrupted: run `ftwin node key rotate` to finish it)");
            }

            foreach (var retired in IdentityKeyHistory.Read(dir) ?? [])
            {
                Console.WriteLine($"retired key   {retired.PublicKey}  sha256 {retired.Fingerprint}  (audit entries {retired.AuditFromSeq}–{retired.AuditUntilSeq}, replaced {retired.RetiredAt})");
            }

            return 0;
        });
        key.Subcommands.Add(show);
        node.Subcommands.Add(key);
    }

    /// <summary>The directory when it is a node's (these commands never create one).</summary>
    private static string? Existing(DirectoryInfo nodeDir)
    {
        if (!File.Exists(Path.Combine(nodeDir.FullName, "node.db")) || !File.Exists(Path.Combine(nodeDir.FullName, NodeIdentityKeys.IdentityFile)))
        {
            Console.Error.WriteLine($"error: {nodeDir.FullName} is not a node directory (no node.db and {NodeIdentityKeys.IdentityFile}).");
            return null;
        }

        return nodeDir.FullName;
    }
}
