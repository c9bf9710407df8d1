using FederatedTwin.Node.Features;
using FederatedTwin.Protocol.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Protocol.Models.Composition;
using FederatedTwin.Protocol.Privacy;

namespace FederatedTwin.Node.Algorithms;

/// <summary>
/// The node side of the population composition: this site's patients alive at the start of the study's
/// year (consent applied for its purpose), one row each, counted into the composition and prevalence
/// cells; then, before encryption, this node's share of discrete Gaussian noise drawn from the operating
/// system's cryptographic generator (Canonne, Kamath &amp; Steinke 2020; never a rounded float Gaussian,
/// Mironov 2012). The exact counts never leave the node.
/// </summary>
public sealed class LocalFederatedComposition : ILocalAlgorithm
{
    public string Name => CompositionStudy.AlgorithmName;

    /// <summary>min_nodes sizes each node's noise share (σ²/min_nodes): it must be the accepted study's.</summary>
    public IReadOnlyDictionary<string, string> DerivedParameters(StudySpec accepted) => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["purpose_of_use"] = accepted.PurposeOfUse.Code,
        ["min_nodes"] = accepted.MinNodes.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>One release: the whole ρ in round 1.</summary>
    public int? PlannedRounds(StudySpec accepted, int maxParties) => FederatedTwin.Protocol.Privacy.StudyPrivacy.Rho(accepted.Parameters) > 0 ? 1 : null;

    public int ValueCount(RoundRequest request, int maxParties) => CompositionStudy.VectorLength;

    /// <summary>The composition and prevalence of the year, and the census it contains (its margin over condition count: the same patients).</summary>
    public IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) =>
    [
        Federation.ReleasedStatistic.Composition(accepted.Parameters?.GetValueOrDefault("year"), accepted.PurposeOfUse),
        Federation.ReleasedStatistic.Census(LocalVectors.PatientsByAgeBandAndSex, accepted.Parameters?.GetValueOrDefault("year"), accepted.PurposeOfUse),
    ];

    public bool SendsCounts => true;

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, int maxParties)
    {
        var minNodes = int.Parse(request.Parameters.GetValueOrDefault("min_nodes") ?? throw new InvalidOperationException("The round names no minimum of nodes."), System.Globalization.CultureInfo.InvariantCulture);
        var study = CompositionStudy.Parse(request.Parameters, minNodes);
        var purpose = request.Parameters.GetValueOrDefault("purpose_of_use") ?? throw new InvalidOperationException("The round names no purpose of use.");
        var counts = Counts(node, study.Year, purpose);
        // Two blocks, one scale: the age band × sex × condition-count cells, then the per-condition prevalence cells.
        var codec = new FixedPointCodec(
            [new FixedPointBlock("composition_cells", CompositionLayout.CompositionCells, 1), new FixedPointBlock("prevalence_cells", counts.Length - CompositionLayout.CompositionCells, 1)], maxParties);
        var encoded = codec.Encode(counts.Select(c => (double)c).ToArray());
        if (study.PerNodeVariance > 0)
        {
            DiscreteGaussian.AddNoise(encoded, codec, [study.PerNodeVariance, study.PerNodeVariance], new CryptographicRandomBits());
        }

        return new LocalStatistics(encoded, codec);
    }

    /// <summary>One round spends the study's whole ρ.</summary>
    public double RoundRho(RoundRequest request, int maxParties) =>
        FederatedTwin.Protocol.Privacy.StudyPrivacy.Rho(request.Parameters);

    /// <summary>The exact counts (composition cells, then prevalence cells), for this node's eyes only.</summary>
    public static long[] Counts(NodeDirectory node, int year, string purpose)
    {
        var counts = new long[CompositionStudy.VectorLength];
        var policy = node.LoadPolicy();
        foreach (var row in new FeatureBuilder(node.Store).ForStudy(policy, purpose))
        {
            if (row.Values["year"] != year)
            {
                continue;
            }

            var band = CompositionLayout.AgeBand((int)row.Values["age"]!.Value);
            var sex = (int)row.Values["sex_male"]!.Value;
            var level = CompositionLayout.ConditionCountLevel((int)row.Values["condition_count"]!.Value);
            counts[CompositionLayout.CompositionIndex(band, sex, level)]++;
            for (var j = 0; j < CompositionLayout.Conditions && level > 0; j++)
            {
                if (row.Values[CompositionLayout.ConditionNames[j]] == 1)
                {
                    counts[CompositionLayout.CompositionCells + CompositionLayout.PrevalenceIndex(j, band, sex, level)]++;
                }
            }
        }

        return counts;
    }
}
