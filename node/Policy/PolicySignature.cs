using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Policy;

/// <summary>
/// A compliance officer's approval of one policy file: an Ed25519 signature over the file's SHA-256
/// (domain-separated), kept next to it as policy.yaml.sig. A node whose directory lists officers in
/// policy-signers.txt uses a changed policy only when one of them signed exactly that file; the approval
/// (who, which hash, replacing which) goes into the audit trail.
/// </summary>
public sealed record PolicySignature(
    [property: JsonPropertyName("signer")] string Signer,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("signature")] string Signature)
{
    public const string SignersFile = "policy-signers.txt";

    private static byte[] Statement(string sha256) => Encoding.UTF8.GetBytes("ftwin/policy-approval/v1\n" + sha256);

    public static PolicySignature Sign(byte[] policyBytes, Ed25519Identity officer)
    {
        var sha = Convert.ToHexStringLower(SHA256.HashData(policyBytes));
        return new PolicySignature(officer.PublicKey, sha, Convert.ToBase64String(officer.Sign(Statement(sha))));
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    /// <summary>Null when the signature file is missing or malformed; callers say why the policy is refused.</summary>
    public static PolicySignature? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<PolicySignature>(File.ReadAllText(path));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Whether this signature approves exactly these bytes and comes from one of the listed officers.</summary>
    public bool Approves(byte[] policyBytes, IReadOnlyCollection<string> officers) =>
        officers.Contains(Signer)
        && Sha256 == Convert.ToHexStringLower(SHA256.HashData(policyBytes))
        && Convert.TryFromBase64String(Signature, new byte[64], out var n) && n == 64
        && Ed25519Identity.Verify(Signer, Statement(Sha256), Convert.FromBase64String(Signature));

    /// <summary>The officers' public keys listed in the node directory (one per line: "name base64-key"; # comments).</summary>
    public static IReadOnlyList<string> Officers(string nodeDir)
    {
        var path = Path.Combine(nodeDir, SignersFile);
        return File.Exists(path)
            ? [.. File.ReadAllLines(path).Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1])]
            : [];
    }
}
