using FederatedTwin.Node;
using FederatedTwin.Node.Federation;
using FederatedTwin.Node.Policy;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Cli.Demo;

/// <summary>
/// The out-of-band step of a real federation, done for a local one: each hospital gets a compliance officer (an Ed25519 key kept outside
/// the node directory, listed in the node's policy-signers.txt), the ACO writes roster version 1 with every node's key, every officer
/// approves it, and every node pins it. What `ftwin roster create|sign` and `ftwin node roster pin` do by hand (docs/operations.md).
/// </summary>
internal static class DemoRoster
{
    public const string Federation = "demo-aco";

    public static string OfficersDir(string root) => Path.Combine(root, "officers");

    public static string RosterPath(string root) => Path.Combine(root, "roster.json");

    /// <summary>Officers, roster, approvals and pins for these nodes; returns the approved roster document.</summary>
    public static SignedRoster Establish(string root, IReadOnlyList<(string Name, string Dir)> nodes)
    {
        Directory.CreateDirectory(OfficersDir(root));
        var officers = new List<Ed25519Identity>();
        var members = new List<RosterMember>();
        try
        {
            foreach (var (name, dir) in nodes)
            {
                var officer = Ed25519Identity.Generate();
                officers.Add(officer);
                WriteOwnerOnly(Path.Combine(OfficersDir(root), name + ".key"), Convert.ToBase64String(officer.ExportPrivateKey()) + "\n");
                File.WriteAllText(Path.Combine(dir, PolicySignature.SignersFile), $"# {name}'s compliance officer (its private key: {Path.Combine(OfficersDir(root), name + ".key")})\n{name}-officer {officer.PublicKey}\n");
                members.Add(new RosterMember(name, NodeDirectory.ReadPublicKey(dir)));
            }

            var roster = new SignedRoster(new FederationRoster(Federation, 1, members, TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)), []);
            roster = officers.Aggregate(roster, (r, officer) => r.Approve(officer));
            File.WriteAllBytes(RosterPath(root), roster.ToJson());
            foreach (var (_, dir) in nodes)
            {
                using var node = NodeDirectory.OpenOrInitialize(dir);
                PinnedRoster.Pin(node, roster.ToJson(), "pinned by the local federation's set-up");
            }

            return roster;
        }
        finally
        {
            officers.ForEach(o => o.Dispose());
        }
    }

    private static void WriteOwnerOnly(string path, string content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(System.Text.Encoding.ASCII.GetBytes(content));
    }
}
