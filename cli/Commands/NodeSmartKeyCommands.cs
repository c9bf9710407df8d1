using System.CommandLine;
using FederatedTwin.Node;
using FederatedTwin.Node.Identity;
using FederatedTwin.Node.Sources.Smart;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin node smart-key create | show`: the node's SMART Backend Services client key, whose public JWKS the EHR registers
/// (docs/operations.md, "Registering the node with an EHR (SMART Backend Services)"). Standard output is the JWKS alone, one JSON
/// object, so it can be piped to a file or an EHR's registration tool; everything else goes to standard error.
/// </summary>
internal static class NodeSmartKeyCommands
{
    public static void AddTo(Command node, Option<DirectoryInfo> nodeDir)
    {
        var smartKey = new Command("smart-key", "The node's SMART Backend Services client key (the EHR registers its public JWKS).");

        var alg = new Option<string>("--alg") { Description = "ES384 (P-384, the default) or RS384 (RSA 3072).", DefaultValueFactory = _ => SmartClientKey.ES384 };
        var kid = new Option<string?>("--kid") { Description = "The key id (default: the key's RFC 7638 JWK thumbprint)." };
        var replace = new Option<bool>("--replace") { Description = "Replace an existing key (rotation): the EHR refuses the node until the new JWKS is registered." };
        var create = new Command("create", "Create the node's SMART client key, sealed in the node directory, and print its public JWKS to register with the EHR.") { nodeDir, alg, kid, replace };
        create.SetAction(parse =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            try
            {
                var existed = SmartClientKey.Exists(directory);
                using var key = SmartClientKey.Create(directory, parse.GetValue(alg)!, parse.GetValue(kid), parse.GetValue(replace));
                Console.WriteLine(key.JwksJson());
                Console.Error.WriteLine($"SMART client key {(existed ? "created, replacing the old one" : "created")}: {key.Algorithm}, kid {key.KeyId}, sealed in {SmartClientKey.PathIn(directory.Path)}.");
                Console.Error.WriteLine("Register the JWKS above with the EHR for the node's client id (docs/operations.md, \"Registering the node with an EHR\").");
                return 0;
            }
            catch (SmartClientKeyException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        smartKey.Subcommands.Add(create);

        var show = new Command("show", "Print the public JWKS of the node's SMART client key.") { nodeDir };
        show.SetAction(parse =>
        {
            if (Existing(parse.GetValue(nodeDir)!) is not { } dir)
            {
                return 2;
            }

            using var directory = NodeDirectory.OpenOrInitialize(dir);
            try
            {
                using var key = SmartClientKey.Load(directory);
                Console.WriteLine(key.JwksJson());
                return 0;
            }
            catch (SmartClientKeyException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        smartKey.Subcommands.Add(show);
        node.Subcommands.Add(smartKey);
    }

    /// <summary>The directory when it is a node's: these commands never create one (a mistyped --node-dir must not become a new node).</summary>
    private static string? Existing(DirectoryInfo nodeDir)
    {
        if (!File.Exists(Path.Combine(nodeDir.FullName, "node.db")) || !File.Exists(Path.Combine(nodeDir.FullName, NodeIdentityKeys.IdentityFile)))
        {
            Console.Error.WriteLine($"error: {nodeDir.FullName} is not a node directory (no node.db and {NodeIdentityKeys.IdentityFile}); create one with `ftwin node init`.");
            return null;
        }

        return nodeDir.FullName;
    }
}
