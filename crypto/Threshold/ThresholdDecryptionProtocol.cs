using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Crypto.Threshold;

/// <summary>One party's partial decryption of a ciphertext: d_i = c1·s_i + e_smudge (NTT form).</summary>
public sealed class DecryptionShare(RnsPoly value)
{
    public RnsPoly Value { get; } = value;
}

/// <summary>
/// Collective decryption, the key-switch to the zero key of Mouchet et al., PETS 2021, Protocol 3
/// (CKS), after Lattigo's multiparty/keyswitch_sk. Each party floods its share with noise uniform in
/// [−2^b, 2^b) (b = 96 by default) so the share reveals nothing useful about s_i beyond the
/// plaintext (the smudging lemma; docs/crypto.md §5, §7). The combined value c0 + Σ d_i = Δ·m + e'
/// decodes to m only when every party's share is present: a missing share leaves −c1·s_j in it,
/// which is uniform noise.
/// Phases in order: <see cref="GenShare"/>, <see cref="AggregateShares"/>, <see cref="Decrypt"/>.
/// </summary>
public sealed class ThresholdDecryptionProtocol
{
    private readonly RlweParameters _parameters;
    private readonly RandomSource _random;

    public ThresholdDecryptionProtocol(RlweParameters parameters, RandomSource? random = null)
    {
        _parameters = parameters;
        _random = random ?? SystemRandomSource.Instance;
    }

    public DecryptionShare AllocateShare() => new(_parameters.Ring.NewPoly());

    /// <summary>shareOut = c1·s_i + e_smudge, e_smudge uniform in [−2^b, 2^b).</summary>
    public void GenShare(SecretKey secret, Ciphertext ciphertext, DecryptionShare shareOut) =>
        GenShare(secret.Ntt, secret.NttShoup, ciphertext, shareOut);

    /// <summary>
    /// shareOut = c1·w + e_smudge for any secret w in NTT form (with its Shoup companions): a committee member's λ_j·s'_j
    /// (ShamirSharing), which is uniform in R_Q rather than short. Nothing here depends on w being short: the smudging
    /// hides the ciphertext's noise, whose size depends on the collective s = Σ s_i only (docs/crypto.md §13).
    /// </summary>
    public void GenShare(RnsPoly secretNtt, RnsPoly secretNttShoup, Ciphertext ciphertext, DecryptionShare shareOut)
    {
        var ring = _parameters.Ring;
        SampleSmudging(shareOut.Value);
        ring.Ntt(shareOut.Value);
        ring.MulCoeffsShoupAdd(ciphertext.C1, secretNtt, secretNttShoup, shareOut.Value);
    }

    /// <summary>shareOut = share1 + share2.</summary>
    public void AggregateShares(DecryptionShare share1, DecryptionShare share2, DecryptionShare shareOut) =>
        _parameters.Ring.Add(share1.Value, share2.Value, shareOut.Value);

    /// <summary>plaintext = round(t·(c0 + Σ d_i)/Q) mod t.</summary>
    public void Decrypt(Ciphertext ciphertext, DecryptionShare aggregate, Span<ulong> plaintext)
    {
        var ring = _parameters.Ring;
        var x = ring.NewPoly();
        ring.Add(ciphertext.C0, aggregate.Value, x);
        ring.InverseNtt(x);
        PlaintextScaling.ScaleDown(_parameters, x, plaintext);
    }

    /// <summary>Uniform integers in [−2^b, 2^b), written as RNS residues (coefficient form).</summary>
    private void SampleSmudging(RnsPoly output)
    {
        var ring = _parameters.Ring;
        var n = ring.N;
        var bits = _parameters.SmudgingBits + 1;
        var buffer = new byte[n * 16];
        _random.Fill(buffer);
        var offset = (UInt128)1 << _parameters.SmudgingBits;
        var mask = ((UInt128)1 << bits) - 1;
        var offsetResidues = new ulong[ring.Levels];
        for (var i = 0; i < ring.Levels; i++)
        {
            offsetResidues[i] = ring.Moduli[i].Reduce128((ulong)(offset >> 64), (ulong)offset);
        }

        for (var j = 0; j < n; j++)
        {
            var raw = System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(buffer.AsSpan(j * 16, 16)) & mask;
            for (var i = 0; i < ring.Levels; i++)
            {
                var m = ring.Moduli[i];
                var residue = m.Reduce128((ulong)(raw >> 64), (ulong)raw);
                output.Coefficients[(i * n) + j] = m.Sub(residue, offsetResidues[i]);
            }
        }

    }
}
