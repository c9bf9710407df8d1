using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Protocol.Federation;
using Spectre.Console;

namespace FederatedTwin.Cli.Commands;

/// <summary>
/// `ftwin roster create | sign | show` (for the ACO and the member hospitals' compliance officers, on any machine) and
/// `ftwin node roster pin | show` (on a node's host): the federation's membership, approved by the officers and pinned on every node
/// out of band (docs/operations.md, "The federation roster").
/// </summary>
internal static class RosterCommands
{
    public static Command Create()
    {
        var command = new Command("roster", "The federation roster: which hospitals (node keys) are members, approved by their compliance officers.");
        var file = new Argument<FileInfo>("file") { Description = "A roster document (roster.json)." };

        var federation = new Option<string>("--federation") { Description = "The federation's id (lowercase letters, digits, dashes), the same in every version.", Required = true };
        var version = new Option<int>("--version") { Description = "The roster's version: 1 for the first, then one more than the version it replaces.", Required = true };
        var member = new Option<string[]>("--member") { Description = "A member hospital as NAME=NODE_KEY (the key `ftwin node init` printed); repeat for each.", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the (not yet approved) roster document.", Required = true };
        var create = new Command("create", "Write a new roster version, to be approved (`ftwin roster sign`) by every member hospital's compliance officer.") { federation, version, member, output };
        create.SetAction(parse =>
        {
            var members = new List<RosterMember>();
            foreach (var m in parse.GetValue(member)!)
            {
                var eq = m.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    Console.Error.WriteLine($"error: --member '{m}' is not NAME=NODE_KEY");
                    return 2;
                }

                members.Add(new RosterMember(m[..eq], m[(eq + 1)..]));
            }

            var roster = new SignedRoster(new FederationRoster(parse.GetValue(federation)!, parse.GetValue(version), members, TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)), []);
            try
            {
                roster.Roster.Validate();
            }
            catch (RosterException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }

            var path = parse.GetValue(output)!.FullName;
            if (File.Exists(path))
            {
                Console.Error.WriteLine($"error: {path} exists; not overwriting a roster");
                return 2;
            }

            File.WriteAllBytes(path, Indented(roster.ToJson()));
            Console.WriteLine($"wrote {path}: {roster.Roster.Federation} version {roster.Roster.Version}, {members.Count} members, SHA-256 {roster.Roster.Sha256()}; not approved yet");
            return 0;
        });
        command.Subcommands.Add(create);

        var key = new Option<FileInfo>("--key") { Description = "The compliance officer's private key file (`ftwin policy keygen`).", Required = true };
        var sign = new Command("sign", "Approve a roster as a compliance officer: adds your signature over its digest to the document.") { file, key };
        sign.SetAction(parse =>
        {
            if (Read(parse.GetValue(file)!) is not { } roster)
            {
                return 2;
            }

            using var officer = Ed25519Identity.Import(Convert.FromBase64String(File.ReadAllText(parse.GetValue(key)!.FullName).Trim()));
            var signed = roster.Approve(officer);
            File.WriteAllBytes(parse.GetValue(file)!.FullName, Indented(signed.ToJson()));
            Console.WriteLine($"approved {roster.Roster.Federation} version {roster.Roster.Version} (SHA-256 {roster.Roster.Sha256()}) as {officer.PublicKey}; {signed.Approvals.Count} approval(s)");
            return 0;
        });
        command.Subcommands.Add(sign);

        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var show = new Command("show", "Validate a roster document and show its members and approvals.") { file, json };
        show.SetAction(parse => Read(parse.GetValue(file)!) is { } roster ? Print(roster, parse.GetValue(json), null) : 2);
        command.Subcommands.Add(show);
        return command;
    }

    /// <summary>`ftwin node roster pin | show`, added to `ftwin node`.</summary>
    public static void AddTo(Command node, Option<DirectoryInfo> nodeDir)
    {
        var command = new Command("roster", "The federation roster this node pinned.");
        var file = new Argument<FileInfo>("file") { Description = "The roster document, approved by this site's compliance officer." };
        var pin = new Command("pin", "Pin a roster version: only when an officer listed in policy-signers.txt approved it, it lists this node, and it is newer.") { file, nodeDir };
        pin.SetAction(parse =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            try
            {
                var pinned = PinnedRoster.Pin(dir, File.ReadAllBytes(parse.GetValue(file)!.FullName), $"pinned from a file by {Environment.UserName}");
                Console.WriteLine($"pinned {pinned.Roster.Federation} version {pinned.Version}: {pinned.Roster.Members.Count} members, approved by {pinned.ApprovedBy}");
                return 0;
            }
            catch (RosterRefusedException e)
            {
                Console.Error.WriteLine($"refused [{e.Rule}]: {e.Message}");
                return 2;
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        command.Subcommands.Add(pin);

        var json = new Option<bool>("--json") { Description = "Print JSON." };
        var show = new Command("show", "Show the pinned roster: members, version, who approved it.") { nodeDir, json };
        show.SetAction(parse =>
        {
            using var dir = NodeDirectory.OpenOrInitialize(parse.GetValue(nodeDir)!.FullName);
            if (PinnedRoster.Load(dir.Store) is not { } pinned)
            {
                Console.Error.WriteLine("no roster pinned: this node takes part in no study until one is (`ftwin node roster pin`)");
                return 1;
            }

            return Print(pinned.Document, parse.GetValue(json), dir.Identity.PublicKey);
        });
        command.Subcommands.Add(show);
        node.Subcommands.Add(command);
    }

    private static SignedRoster? Read(FileInfo file)
    {
        try
        {
            return SignedRoster.Parse(File.ReadAllBytes(file.FullName));
        }
        catch (Exception e) when (e is RosterException or IOException)
        {
            Console.Error.WriteLine($"invalid: {file.FullName}: {e.Message}");
            return null;
        }
    }

    private static int Print(SignedRoster roster, bool json, string? self)
    {
        if (json)
        {
            var o = JsonNode.Parse(roster.ToJson())!.AsObject();
            o["sha256"] = roster.Roster.Sha256();
            Console.WriteLine(o.ToJsonString());
            return 0;
        }

        // Not Spectre markup: it wraps at the console's width (80 columns when the output is redirected) and would split the
        // digest the officers compare before they approve, and which a script may look for.
        Console.WriteLine($"{roster.Roster.Federation} version {roster.Roster.Version}, SHA-256 {roster.Roster.Sha256()}");
        var table = new Table().AddColumns("member", "node key", string.Empty);
        foreach (var m in roster.Roster.Members)
        {
            table.AddRow(Markup.Escape(m.Name), m.NodeKey, m.NodeKey == self ? "this node" : string.Empty);
        }

        AnsiConsole.Write(table);
        Console.WriteLine($"approvals: {(roster.Approvals.Count == 0 ? "none" : string.Join(", ", roster.Approvals.Select(a => a.Signer)))}");
        return 0;
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private static byte[] Indented(byte[] json) => JsonSerializer.SerializeToUtf8Bytes(JsonNode.Parse(json), IndentedJson);
}
