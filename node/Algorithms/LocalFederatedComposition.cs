using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Node.Features;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;

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

    /// <summary>h (dp_min_honest_nodes) sizes each node's noise share (σ²/h) and the counts' scale: it must be the accepted study's.</summary>
    public RoundBasis Basis(StudySpec accepted) => CompositionStudy.Basis(accepted);

    /// <summary>One release: the whole ρ in round 1.</summary>
    public int? PlannedRounds(StudySpec accepted, int maxParties) => StudyPrivacy.Rho(accepted.Parameters) > 0 ? 1 : null;

    public int ValueCount(RoundRequest request, int maxParties) => CompositionStudy.VectorLength;

    /// <summary>The composition and prevalence of the year, and the census it contains (its margin over condition count: the same patients).</summary>
    public IReadOnlyList<Federation.ReleasedStatistic> ReleasedStatistics(StudySpec accepted) =>
    [
        Federation.ReleasedStatistic.Composition(accepted.Parameters?.GetValueOrDefault("year"), accepted.PurposeOfUse),
        Federation.ReleasedStatistic.Census(LocalVectors.PatientsByAgeBandAndSex, accepted.Parameters?.GetValueOrDefault("year"), accepted.PurposeOfUse),
    ];

    public bool SendsCounts => true;

    public LocalStatistics Compute(RoundRequest request, NodeDirectory node, DataSnapshot data, int maxParties)
    {
        var study = CompositionStudy.Parse(request.Parameters, minHonestNodes: null);
        return Release(Counts(node, data, study.Year, RoundBasis.PurposeOf(request)), study, maxParties, new CryptographicRandomBits());
    }

    /// <summary>
    /// What this node sends for exact counts (composition cells, then prevalence cells): the counts encoded in the round's
    /// blocks and, under DP, this node's discrete Gaussian share of σ²/h (h = dp_min_honest_nodes) added to the encoded
    /// integers. Production passes <see cref="CryptographicRandomBits"/>; the privacy audit (`ftwin bench privacy-audit`)
    /// calls the same method.
    /// </summary>
    public static LocalStatistics Release(long[] counts, CompositionStudy study, int maxParties, IRandomBitSource random)
    {
        ArgumentNullException.ThrowIfNull(counts);
        ArgumentNullException.ThrowIfNull(study);
        ArgumentNullException.ThrowIfNull(random);
        if (counts.Length != CompositionStudy.VectorLength)
        {
            throw new ArgumentException($"The composition has {CompositionStudy.VectorLength} counts, not {counts.Length}.", nameof(counts));
        }

        if (counts.Any(c => c > study.MaxCount(maxParties)))
        {
            throw new InvalidOperationException($"A count exceeds the {study.MaxCount(maxParties):G6} the codec can carry at scale {study.Scale:G6} with room for the noise.");
        }

        // Two blocks, one scale (1 without DP; under DP the power of two that makes the shares' sum as private as stated):
        // the age band × sex × condition-count cells, then the per-condition prevalence cells. Counts times a power of two are exact.
        var codec = new FixedPointCodec(study.Layout, maxParties);
        var encoded = codec.Encode(counts.Select(c => (double)c).ToArray());
        if (study.PerNodeVariance > 0)
        {
            DiscreteGaussian.AddNoise(encoded, codec, [study.PerNodeVariance, study.PerNodeVariance], random);
        }

        return new LocalStatistics(encoded, codec);
    }

    /// <summary>One round spends the study's whole ρ.</summary>
    public double RoundRho(RoundRequest request, int maxParties) =>
        StudyPrivacy.Rho(request.Parameters);

    /// <summary>The exact counts (composition cells, then prevalence cells), for this node's eyes only.</summary>
    public static long[] Counts(NodeDirectory node, int year, string purpose)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Counts(node, DataSnapshot.Current(node.Store), year, purpose);
    }

    /// <summary>The exact counts as of a data version (a study's pinned one), under the node's site policy.</summary>
    public static long[] Counts(NodeDirectory node, DataSnapshot data, int year, string purpose)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Counts(data.Features.ForStudy(node.LoadPolicy(), purpose), year);
    }

    /// <summary>The exact counts of these patient-years (the study's purpose already applied): one row per patient alive in <paramref name="year"/>.</summary>
    public static long[] Counts(IEnumerable<PatientYear> rows, int year)
    {
        ArgumentNullException.ThrowIfNull(rows);
        var counts = new long[CompositionStudy.VectorLength];
        foreach (var row in rows)
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
