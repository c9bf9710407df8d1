using System.Security.Cryptography;
using System.Text.Json;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Node;

/// <summary>
/// A node's directory and everything in it: node.db, the Data Protection key ring (keys/), the sealed
/// Ed25519 identity, the local admin token, the site policy (policy.yaml, deny-by-default when the
/// directory is created) and the site's local input. Opening a directory that does not exist
/// initializes it.
/// </summary>
public sealed class NodeDirectory : IDisposable
{
    private NodeDirectory(string path, IDataProtector protector, Ed25519Identity identity, NodeStore store, Deidentification.Pseudonymizer pseudonymizer)
    {
        Path = path;
        Protector = protector;
        Identity = identity;
        Store = store;
        Pseudonymizer = pseudonymizer;
    }

    /// <summary>Keyed pseudonyms under the node's own secret (sealed at rest; see docs/operations.md on backing it up).</summary>
    public Deidentification.Pseudonymizer Pseudonymizer { get; }

    public string Path { get; }

    public string PolicyPath => System.IO.Path.Combine(Path, "policy.yaml");

    public string SiteInputPath => System.IO.Path.Combine(Path, "site-input.json");

    public string AdminToken => File.ReadAllText(System.IO.Path.Combine(Path, "admin.token")).Trim();

    /// <summary>Seals secrets at rest (attempt key shares) with the node's Data Protection key ring.</summary>
    public IDataProtector Protector { get; }

    public Ed25519Identity Identity { get; }

    public NodeStore Store { get; }

    public static NodeDirectory OpenOrInitialize(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(path);
        var provider = DataProtectionProvider.Create(new DirectoryInfo(System.IO.Path.Combine(path, "keys")), b => b.SetApplicationName("FederatedTwin.Node"));
        var protector = provider.CreateProtector("FederatedTwin.Node.Secrets.v1");
        var identityPath = System.IO.Path.Combine(path, "identity.key.sealed");
        Ed25519Identity identity;
        if (File.Exists(identityPath))
        {
            identity = Ed25519Identity.Import(protector.Unprotect(File.ReadAllBytes(identityPath)));
        }
        else
        {
            identity = Ed25519Identity.Generate();
            WriteOwnerOnly(identityPath, protector.Protect(identity.ExportPrivateKey()));
        }

        var tokenPath = System.IO.Path.Combine(path, "admin.token");
        if (!File.Exists(tokenPath))
        {
            WriteOwnerOnly(tokenPath, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));
        }

        var policyPath = System.IO.Path.Combine(path, "policy.yaml");
        if (!File.Exists(policyPath))
        {
            File.WriteAllText(policyPath, SitePolicy.DefaultYaml + "\n");
        }

        var pseudonymKeyPath = System.IO.Path.Combine(path, "pseudonym.key.sealed");
        if (!File.Exists(pseudonymKeyPath))
        {
            WriteOwnerOnly(pseudonymKeyPath, protector.Protect(RandomNumberGenerator.GetBytes(32)));
        }

        var pseudonymizer = new Deidentification.Pseudonymizer(protector.Unprotect(File.ReadAllBytes(pseudonymKeyPath)));
        var store = new NodeStore(path);
        return new NodeDirectory(path, protector, identity, store, pseudonymizer);
    }

    public SitePolicy LoadPolicy() => SitePolicy.Load(PolicyPath);

    /// <summary>The site's local input vectors (until FHIR ingest feeds features, a seeded per-site census).</summary>
    public SiteInput LoadSiteInput() => File.Exists(SiteInputPath)
        ? JsonSerializer.Deserialize<SiteInput>(File.ReadAllText(SiteInputPath), WireJson.Options) ?? throw new InvalidDataException("site-input.json is empty.")
        : throw new FileNotFoundException($"This node has no local input yet ({SiteInputPath}); create one with `ftwin node init --site-seed N`.");

    public void WriteSiteInput(SiteInput input) => File.WriteAllText(SiteInputPath, JsonSerializer.Serialize(input, WireJson.Options));

    private static void WriteOwnerOnly(string path, byte[] content)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using var stream = new FileStream(path, options);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    public void Dispose() => Identity.Dispose();
}

/// <summary>Named local vectors the node can contribute (<see cref="LocalVectors"/>), as integer counts.</summary>
public sealed record SiteInput(IReadOnlyDictionary<string, long[]> Vectors)
{
    /// <summary>A deterministic synthetic census for a site: patients by age band and sex, seeded per site.</summary>
    public static SiteInput Synthetic(int seed)
    {
        var labels = LocalVectors.Labels(LocalVectors.PatientsByAgeBandAndSex);
        var counts = new long[labels.Count];
        var state = (ulong)seed * 0x9E3779B97F4A7C15UL + 1;
        for (var i = 0; i < counts.Length; i++)
        {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            counts[i] = 50 + (long)(state % 950);
        }

        return new SiteInput(new Dictionary<string, long[]> { [LocalVectors.PatientsByAgeBandAndSex] = counts });
    }
}
