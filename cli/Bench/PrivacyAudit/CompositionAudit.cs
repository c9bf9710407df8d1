using System.Globalization;
using FederatedTwin.Synthetic;
using FederatedTwin.Node.Algorithms;
using FederatedTwin.Node.Features;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Cli.Bench.PrivacyAudit;

/// <summary>
/// The population-composition release under audit: each site counts its patient-years of <see cref="Year"/> with the node's
/// own code (<see cref="LocalFederatedComposition.Counts(IEnumerable{PatientYear}, int)"/>) and sends them through the
/// node's own release (<see cref="LocalFederatedComposition.Release"/>: encoding and discrete Gaussian share, sized for the
/// study's min_nodes = the number of sites). The canary is a patient of the first site with every one of the 11 chronic
/// conditions: one row adds 1 to its composition cell and to one prevalence cell of each condition, 12 cells, the most any
/// patient can move (L2 √12, the sensitivity the noise is sized for); nothing within the declared bounds moves the
/// release further.
/// </summary>
internal static class CompositionAudit
{
    /// <summary>The census year: the last generated year whose next year is also generated.</summary>
    public const int Year = PopulationGenerator.LastYear - 1;

    /// <param name="population">The sites' patient-years.</param>
    /// <param name="claimedRho">The study's declared ρ (what the ledger charges and the claim converts).</param>
    /// <param name="noiseMultiplier">F: the nodes are configured with ρ/F², which multiplies every σ = √12/√(2ρ) by F while the claim stays ρ (1 = correctly calibrated).</param>
    /// <param name="maxParties">The codec's declared maximum of parties.</param>
    public static AuditedRelease Create(AuditPopulation population, double claimedRho, double noiseMultiplier, int maxParties)
    {
        int nodes = population.Sites.Count;
        var study = CompositionStudy.Parse(
            new Dictionary<string, string>
            {
                ["year"] = Year.ToString(CultureInfo.InvariantCulture),
                [StudyPrivacy.RhoParameter] = (claimedRho / (noiseMultiplier * noiseMultiplier)).ToString("R", CultureInfo.InvariantCulture),
            },
            minHonestNodes: nodes);
        var counts = population.Sites.Select(rows => LocalFederatedComposition.Counts(rows, Year)).ToArray();
        var withCanary = LocalFederatedComposition.Counts(population.Sites[0].Append(Canary(population.Sites[0][0])), Year);
        var effect = withCanary.Select((c, i) => (double)(c - counts[0][i])).ToArray();
        var releases = Enumerable.Range(0, nodes).Select(n => (NodeRelease)((canary, random) =>
            LocalFederatedComposition.Release(n == 0 && canary ? withCanary : counts[n], study, maxParties, random))).ToList();
        return new AuditedRelease("composition", claimedRho, [new AuditedRound("composition", releases, effect, maxParties)]);
    }

    /// <summary>A 70-year-old man alive in <see cref="Year"/> with all 11 chronic conditions.</summary>
    private static PatientYear Canary(PatientYear template)
    {
        const int age = 70;
        var values = new Dictionary<string, double?>(StringComparer.Ordinal)
        {
            ["year"] = Year,
            ["age"] = age,
            ["age_band"] = FeatureSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age)),
            ["sex_male"] = 1,
            ["medicare_eligible"] = 1,
            ["condition_count"] = FeatureSchema.Conditions.Count,
        };
        foreach (var condition in FeatureSchema.Conditions)
        {
            values[condition] = 1;
        }

        return AuditPopulation.Canary(template, "canary-composition", values);
    }
}
