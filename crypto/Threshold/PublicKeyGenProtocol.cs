using FederatedTwin.Crypto.Ring;
using FederatedTwin.Crypto.Rlwe;

namespace FederatedTwin.Crypto.Threshold;

/// <summary>One party's share of the collective public key: p_i = −a·s_i + e_i (NTT form).</summary>
public sealed class PublicKeyShare(RnsPoly value)
{
    public RnsPoly Value { get; } = value;
}

/// <summary>
/// Collective public-key generation, Mouchet, Troncoso-Pastoriza, Bossuat and Hubaux,
/// "Multiparty Homomorphic Encryption from Ring-Learning-with-Errors", PETS 2021, Protocol 1
/// (EncKeyGen), after Lattigo's multiparty/keygen_cpk. The collective secret s = Σ s_i is
/// never formed; the key is (Σ p_i, a) = (−a·s + Σ e_i, a).
/// Phases in order: <see cref="SampleCrp"/>, <see cref="GenShare"/>, <see cref="AggregateShares"/>, <see cref="GenPublicKey"/>.
/// </summary>
public sealed class PublicKeyGenProtocol
{
    private readonly RlweParameters _parameters;
    private readonly GaussianSampler _gaussian;
    private readonly RnsPoly _scratch;

    public PublicKeyGenProtocol(RlweParameters parameters, RandomSource? random = null)
    {
        _parameters = parameters;
        _gaussian = new GaussianSampler(parameters.Ring, random ?? SystemRandomSource.Instance, parameters.Sigma, parameters.GaussianCutInSigmas);
        _scratch = parameters.Ring.NewPoly();
    }

    public PublicKeyShare AllocateShare() => new(_parameters.Ring.NewPoly());

    public CommonReferencePolynomial SampleCrp(ReadOnlySpan<byte> seed) => CommonReferencePolynomial.Expand(_parameters, seed);

    /// <summary>shareOut = −a·s_i + e_i, with e_i fresh Gaussian noise.</summary>
    public void GenShare(SecretKey secret, CommonReferencePolynomial crp, PublicKeyShare shareOut)
    {
        var ring = _parameters.Ring;
        _gaussian.Sample(shareOut.Value);
        ring.Ntt(shareOut.Value);
        ring.MulCoeffsShoup(crp.Value, secret.Ntt, secret.NttShoup, _scratch);
        ring.Sub(shareOut.Value, _scratch, shareOut.Value);
    }

    /// <summary>shareOut = share1 + share2.</summary>
    public void AggregateShares(PublicKeyShare share1, PublicKeyShare share2, PublicKeyShare shareOut) =>
        _parameters.Ring.Add(share1.Value, share2.Value, shareOut.Value);

    /// <summary>The collective key (Σ p_i, a).</summary>
    public PublicKey GenPublicKey(PublicKeyShare aggregate, CommonReferencePolynomial crp) =>
        new(_parameters, aggregate.Value.Clone(), crp.Value.Clone());
}
