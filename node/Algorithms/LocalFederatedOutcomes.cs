using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Privacy;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Node.Features;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Algorithms;

/// <summary>
/// The node side of <c>federated-outcomes</c> (<see cref="OutcomeTotalsStudy"/>): this site's patient-years before each outcome
/// year (consent applied for the study's purpose), each patient's outcomes clipped to the study's bounds and summed exactly in
/// integers, then this node's discrete Gaussian share per measure added before encryption (Canonne, Kamath &amp; Steinke 2020;
/// Kairouz, Liu &amp; Steinke 2021). The exact totals never leave the node.
/// </summary>
public sealed class LocalFederatedOutcomes : ILocalAlgorithm
{
    public string Name => OutcomeTotalsStudy.AlgorithmName;

    /// <summary>h sizes each node's noise share and the measures' scales: it must be the accepted study's.</summary>
    public RoundBasis Basis(StudySpec accepted) => OutcomeTotalsStudy.Basis(accepted);

    /// <summary>One release: the whole ρ in round 1.</summary>
    public int? PlannedRounds(StudySpec accepted, int maxParties) => 1;

    public int ValueCount(RoundRequest request, int maxParties) => OutcomeTotalsStudy.VectorLength(OutcomeTotalsStudy.Parse(request.Parameters, minHonestNodes: null));

    /// <summary>One round spends the study's whole ρ.</summary>
    public double RoundRho(RoundRequest request, int maxParties) => StudyPrivacy.Rho(request.Parameters);

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, DataSnapshot data, int maxParties)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(node);
        var study = OutcomeTotalsStudy.Parse(request.Parameters, minHonestNodes: null);
        return Release(Totals(data.Features.ForStudy(node.LoadPolicy(), RoundBasis.PurposeOf(request)), study), study, maxParties, new CryptographicRandomBits());
    }

    /// <summary>The exact clipped totals of these patient-years (the purpose already applied), in the study's vector order: for this node's eyes only.</summary>
    public static double[] Totals(IEnumerable<PatientYear> rows, OutcomeTotalsStudy study)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(study);
        var totals = new double[OutcomeTotalsStudy.VectorLength(study)];
        foreach (var row in rows)
        {
            // The row of year Y − 1 carries the outcomes of year Y.
            if (row.Values.GetValueOrDefault("year") is not { } y || y + 1 < study.FromYear || y + 1 > study.ToYear || study.Contribution(row.Values) is not { } values)
            {
                continue;
            }

            for (var m = 0; m < values.Length; m++)
            {
                totals[study.Index(m, (int)y + 1)] += values[m];
            }
        }

        return totals;
    }

    /// <summary>
    /// What this node sends: the totals encoded at each measure's scale (whole numbers times a power of two, exact) plus this node's
    /// discrete Gaussian share of each measure's variance. Production passes <see cref="CryptographicRandomBits"/>.
    /// </summary>
    public static LocalStatistics Release(double[] totals, OutcomeTotalsStudy study, int maxParties, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(totals);
        ArgumentNullException.ThrowIfNull(study);
        ArgumentNullException.ThrowIfNull(random);
        var codec = new FixedPointCodec(study.Layout, maxParties);
        var encoded = codec.Encode(totals);
        DiscreteGaussian.AddNoise(encoded, codec, study.PerNodeVariances, random);
        return new LocalStatistics(encoded, codec);
    }
}
