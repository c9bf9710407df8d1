using System.Security.Cryptography;
using System.Text;

namespace FederatedTwin.Protocol.Federation;

/// <summary>One participant's signed commitment: the SHA-256 of the key share or ciphertext it will reveal.</summary>
/// <remarks>In a t-of-n study a key-share commitment carries the node's ephemeral X25519 channel key for the attempt, under the same signature.</remarks>
public sealed record SignedCommitment(NodeId Node, string NodePublicKey, byte[] Digest, byte[] Signature, byte[]? ChannelKey = null);

/// <summary>
/// Every participant's commitment for one (study, round, attempt, kind), as the coordinator relays it before anyone reveals.
/// Commit-then-reveal takes away the last mover's advantage: a participant that saw the others' key shares or ciphertexts
/// first could choose its own as a function of them (a rogue key p* − Σ p_honest whose secret it knows, or −Σ c_honest +
/// Enc(0), which cancels every other hospital's update out of the "sum"). With every commitment fixed before any opening
/// exists, what it reveals must hash to what it committed before it could see anything.
/// <para>
/// The set is named by <see cref="Digest"/>, which each node signs into its opening and its decryption share. A node refuses
/// a second, different set for the same (study, round, attempt, kind), and refuses openings signed over another digest than
/// the one it saw, so a coordinator cannot show different sets to different nodes.
/// </para>
/// </summary>
public sealed record CommitmentSet(StudyId Study, int Round, int Attempt, string Kind, byte[] CrpSeed, IReadOnlyList<SignedCommitment> Commitments)
{
    /// <summary>
    /// Hex SHA-256 over the attempt, the kind, the CRP seed and every (public key, committed digest) in public-key order. The
    /// signatures are left out: they prove who committed, and a second valid signature over the same commitment is not a
    /// different commitment.
    /// </summary>
    public string Digest()
    {
        var text = new StringBuilder();
        text.Append(System.Globalization.CultureInfo.InvariantCulture, $"ftwin/v{FederationProtocol.Version}/commitment-set/{Kind}\n{Study}\n{Round}\n{Attempt}\n{Convert.ToHexStringLower(CrpSeed)}\n");
        foreach (var c in Commitments.OrderBy(c => c.NodePublicKey, StringComparer.Ordinal))
        {
            text.Append(c.NodePublicKey).Append(' ').Append(Convert.ToHexStringLower(c.Digest));
            if (c.ChannelKey is { } channel)
            {
                text.Append(" channel ").Append(Convert.ToHexStringLower(channel));
            }

            text.Append('\n');
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The committers' public keys, in order: the participant set this commitment set fixes.</summary>
    public IReadOnlyList<string> Keys() => [.. Commitments.Select(c => c.NodePublicKey).Order(StringComparer.Ordinal)];
}

/// <summary>
/// A t-of-n committee's public evaluation points: each member of the attempt's key-share commitment set is α = 1 + its index among the
/// set's keys in ordinal order (distinct, non-zero, at most the set's size), so every node derives the same points from the set it recorded.
/// </summary>
public static class CommitteePoints
{
    public static IReadOnlyDictionary<string, int> Of(IEnumerable<string> keySetKeys) =>
        keySetKeys.Order(StringComparer.Ordinal).Select((k, i) => (k, i)).ToDictionary(p => p.k, p => p.i + 1, StringComparer.Ordinal);
}

/// <summary>
/// A participant set named by its members' public keys (sorted): what a node records with every decryption share it issues, and
/// what it compares before it issues another (docs/threat-model.md, "attempt differencing").
/// </summary>
public static class ParticipantSet
{
    public static string Digest(IEnumerable<string> publicKeys) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', publicKeys.Order(StringComparer.Ordinal)))));
}
