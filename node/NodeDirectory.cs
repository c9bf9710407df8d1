using FederatedTwin.Analytics.Census;
using System.Security.Cryptography;
using System.Text.Json;
using FederatedTwin.Node.Audit;
using FederatedTwin.Node.Identity;
using FederatedTwin.Node.Policy;
using FederatedTwin.Node.Storage;
using FederatedTwin.Hosting.Files;
using FederatedTwin.Hosting.Security;
using FederatedTwin.Protocol.Federation;
using Microsoft.AspNetCore.DataProtection;

namespace FederatedTwin.Node;

/// <summary>
/// A node's directory and everything in it: node.db, the Data Protection key ring (keys/), the sealed
/// Ed25519 identity, the local admin token, the site policy (policy.yaml, deny-by-default when the
/// directory is created) and the site's local input. Opening a directory that does not exist
/// initializes it, and the audit trail records the keys and token it creates.
/// </summary>
public sealed class NodeDirectory : IDisposable
{
    private const string ApplicationName = "FederatedTwin.Node";
    private const string SecretsPurpose = "FederatedTwin.Node.Secrets.v1";

    private NodeDirectory(string path, IDataProtector protector, Ed25519Identity identity, NodeStore store, Deidentification.Pseudonymizer pseudonymizer, int auditCheckpointInterval, TimeProvider? time)
    {
        Path = path;
        Protector = protector;
        Keys = new NodeIdentityKeys(path, protector, identity);
        Store = store;
        Pseudonymizer = pseudonymizer;
        Audit = new NodeAuditTrail(store, Keys.Current, auditCheckpointInterval, time);
    }

    /// <summary>Keyed pseudonyms under the node's own secret (sealed at rest; see docs/operations.md on backing it up).</summary>
    public Deidentification.Pseudonymizer Pseudonymizer { get; }

    public string Path { get; }

    public string PolicyPath => System.IO.Path.Combine(Path, "policy.yaml");

    public string SiteInputPath => System.IO.Path.Combine(Path, "site-input.json");

    /// <summary>
    /// The verifier of the local admin token (admin.token keeps a salted HMAC of it, never the token), read on each use: a token
    /// issued while the node runs (`ftwin node admin-token`) takes effect at once. Null when the file holds no token.
    /// </summary>
    public AdminTokenVerifier? AdminToken => AdminTokens.LoadVerifier(Path);

    /// <summary>The admin token when this opening created the directory's (the one time it is shown), else null.</summary>
    public string? CreatedAdminToken { get; private init; }

    /// <summary>Seals secrets at rest (attempt key shares) with the node's Data Protection key ring.</summary>
    public IDataProtector Protector { get; }

    /// <summary>
    /// The node's identity key now: the one its audit trail names (it changes when the key is rotated, also by
    /// another process such as `ftwin node key rotate` while the node runs). Resolve it for each use; do not keep it.
    /// </summary>
    public Ed25519Identity Identity => Store.Read(c => Keys.Current(c, null));

    /// <summary>The sealed identity key files and the rotation lock (node/Identity).</summary>
    public NodeIdentityKeys Keys { get; }

    public NodeStore Store { get; }

    /// <summary>The tamper-evident audit trail in node.db (checkpoints signed with <see cref="Identity"/>).</summary>
    public NodeAuditTrail Audit { get; }

    /// <param name="path">The node directory.</param>
    /// <param name="auditCheckpointInterval">Entries between periodic signed checkpoints; fixed by the audit chain's first entry, so it matters only for a new trail.</param>
    /// <param name="time">The clock of the store's event rows and of the audit trail's entries (the service's <see cref="TimeProvider"/>).</param>
    /// <param name="maxStoreBytes">The store size cap (--max-store-mb, Node:MaxStoreMegabytes); null for none.</param>
    public static NodeDirectory OpenOrInitialize(string path, int auditCheckpointInterval = Protocol.Audit.AuditChain.DefaultCheckpointInterval, TimeProvider? time = null, long? maxStoreBytes = null)
    {
        path = System.IO.Path.GetFullPath(path);
        OwnerOnly.CreateDirectory(path); // 0700; an existing directory others can reach is refused by the protector's check
        var protector = CreateProtector(path);
        var created = new List<Protocol.Audit.AuditRecord>();
        var identity = SealedIdentity.LoadOrCreate(path, protector, out var identityCreated);
        if (identityCreated)
        {
            created.Add(NodeAuditRecords.IdentityKeyCreated(identity.PublicKey));
        }

        var tokenFile = AdminTokens.EnsureHashed(path, out var adminToken);
        if (tokenFile != AdminTokenFile.Existing)
        {
            created.Add(NodeAuditRecords.AdminTokenCreated(tokenFile == AdminTokenFile.Created ? "created" : "migrated"));
        }

        var policyPath = System.IO.Path.Combine(path, "policy.yaml");
        if (!File.Exists(policyPath))
        {
            OwnerOnly.WriteAllText(policyPath, SitePolicy.DefaultYaml + "\n");
        }

        var pseudonymKeyPath = System.IO.Path.Combine(path, "pseudonym.key.sealed");
        if (!File.Exists(pseudonymKeyPath))
        {
            DurableFile.CreateOwnerOnly(pseudonymKeyPath, protector.Protect(RandomNumberGenerator.GetBytes(32)));
            created.Add(NodeAuditRecords.PseudonymKeyCreated());
        }

        var pseudonymizer = new Deidentification.Pseudonymizer(protector.Unprotect(File.ReadAllBytes(pseudonymKeyPath)));
        var store = new NodeStore(path, time, maxStoreBytes);
        var node = new NodeDirectory(path, protector, identity, store, pseudonymizer, auditCheckpointInterval, time) { CreatedAdminToken = adminToken };
        if (created.Count > 0)
        {
            store.Write((c, t) => created.Select(r => node.Audit.Append(c, t, r)).ToList());
        }

        return node;
    }

    /// <summary>A new admin token for the node, replacing the old one at once (also on a running node); audited, and returned to be shown once.</summary>
    public string IssueAdminToken()
    {
        var token = AdminTokens.Issue(Path);
        Audit.Append(NodeAuditRecords.AdminTokenCreated("issued"));
        return token;
    }

    /// <summary>
    /// Writes a backup bundle of the node (<see cref="BackupBundle"/>) while it may be running: a consistent copy of node.db in which
    /// every attempt secret is already deleted (a restored node could not know which were used after the copy), with the key ring,
    /// the sealed keys and the rest of the directory. Returns what the bundle says of itself (its audit head, to record off the host).
    /// </summary>
    public BackupManifest Backup(string output, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return BackupBundle.Write(Path, Store, "node", output, time, copy => NodeStore.RetireSecretsIn(copy, Federation.RetiredBecause.Restored, time.GetUtcNow().ToString("O")));
    }

    /// <summary>
    /// Restores a node from a backup bundle into a new directory: the files as they were at the backup, every attempt secret still in
    /// the store deleted (a copy made by other means may hold some), and a `store_restored` entry appended to the audit trail, which
    /// continues the chain of the backup. The restored node refuses to decrypt for any attempt keyed before the backup
    /// (rule attempt_secret_retired).
    /// </summary>
    public static NodeDirectory Restore(string bundle, string path, out BackupManifest manifest, TimeProvider? time = null)
    {
        var clock = time ?? TimeProvider.System;
        var restored = manifest = BackupBundle.Extract(bundle, path, "node");
        var node = OpenOrInitialize(path, time: clock);
        node.Store.Write((c, t) =>
        {
            var retired = FederationQueries.RetireSecrets(c, t, attempt: null, Federation.RetiredBecause.Restored, clock.GetUtcNow().ToString("O"));
            var deleted = FederationQueries.RetiredSecretCount(c, t, Federation.RetiredBecause.Restored);
            return node.Audit.Append(c, t, NodeAuditRecords.StoreRestored(restored.CreatedAt, restored.AuditSeq, restored.AuditHead, retired, deleted));
        });
        return node;
    }

    /// <summary>
    /// The node's public key, read from its sealed identity without initializing anything (for
    /// `ftwin audit verify`). Throws FileNotFoundException when the directory has no identity.
    /// </summary>
    public static string ReadPublicKey(string path)
    {
        path = System.IO.Path.GetFullPath(path);
        return NodeIdentityKeys.ReadSealedPublicKey(path, CreateProtector(path));
    }

    /// <summary>Loads the site policy; a new or changed policy (by SHA-256 of the file) is audited, and so is an invalid one.</summary>
    public SitePolicy LoadPolicy() => LoadPolicyWithHash().Policy;

    /// <summary>The site policy and the SHA-256 (hex) of the file it was read from.</summary>
    public (SitePolicy Policy, string Sha256) LoadPolicyWithHash()
    {
        var bytes = File.ReadAllBytes(PolicyPath);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes));
        SitePolicy policy;
        try
        {
            RequireApproval(bytes, sha256);
            using var reader = new StreamReader(new MemoryStream(bytes), detectEncodingFromByteOrderMarks: true);
            policy = SitePolicy.Parse(reader.ReadToEnd(), PolicyPath, Path);
        }
        catch (SitePolicyException e)
        {
            Audit.PolicyLoaded(sha256, null, e.Message);
            throw;
        }

        Audit.PolicyLoaded(sha256, policy, null);
        return (policy, sha256);
    }

    /// <summary>
    /// With compliance officers listed (policy-signers.txt), a policy file other than the one in force must carry
    /// an officer's signature (policy.yaml.sig, `ftwin policy sign`); an unsigned or wrongly signed change is
    /// refused and audited, and the node then uses no policy at all (it refuses to start, and joins nothing).
    /// The first policy a node ever loads is its baseline. Without officers listed, changes are not gated.
    /// </summary>
    private void RequireApproval(byte[] bytes, string sha256)
    {
        var officers = PolicySignature.Officers(Path);
        if (officers.Count == 0)
        {
            return;
        }

        var inForce = Audit.PolicyInForce();
        if (inForce is null || inForce == sha256)
        {
            return;
        }

        var signature = PolicySignature.Read(PolicyPath + ".sig");
        if (signature is null || !signature.Approves(bytes, officers))
        {
            throw new SitePolicyException($"{PolicyPath}: the policy changed (SHA-256 {sha256[..16]}…, in force {inForce[..16]}…) without a valid signature by a compliance officer listed in {PolicySignature.SignersFile}; sign it with `ftwin policy sign` (policy.yaml.sig).");
        }

        Audit.PolicyApproved(sha256, inForce, signature.Signer);
    }

    /// <summary>The site's local input vectors (until FHIR ingest feeds features, a seeded per-site census).</summary>
    public SiteInput LoadSiteInput() => File.Exists(SiteInputPath)
        ? JsonSerializer.Deserialize<SiteInput>(File.ReadAllText(SiteInputPath), WireJson.Options) ?? throw new InvalidDataException("site-input.json is empty.")
        : throw new FileNotFoundException($"This node has no local input yet ({SiteInputPath}); create one with `ftwin node init --site-seed N`.");

    public void WriteSiteInput(SiteInput input) => OwnerOnly.WriteAllText(SiteInputPath, JsonSerializer.Serialize(input, WireJson.Options));

    private static IDataProtector CreateProtector(string path) => SealedIdentity.Protector(path, ApplicationName, SecretsPurpose);

    public void Dispose() => Keys.Dispose();
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
