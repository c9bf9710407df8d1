using FederatedTwin.Synthetic;
using FederatedTwin.Node;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Ingest;

namespace FederatedTwin.Cli.Bench.PrivacyAudit;

/// <summary>
/// The audit's hospitals: one generated FHIR export per site (`ftwin synth`, the three profiles in turn), ingested into a
/// node directory of its own through the real pipeline (de-identification, consent, features), and the patient-years a
/// study of <see cref="Purpose"/> may use there. Generated and ingested once; every run of the audit reuses them.
/// </summary>
internal sealed class AuditPopulation
{
    /// <summary>Health care operations: the HIPAA-permitted purpose both audited studies run under (opt-out by default).</summary>
    public const string Purpose = "HOPERAT";

    private AuditPopulation(IReadOnlyList<IReadOnlyList<PatientYear>> sites) => Sites = sites;

    /// <summary>Each site's patient-years usable for <see cref="Purpose"/>.</summary>
    public IReadOnlyList<IReadOnlyList<PatientYear>> Sites { get; }

    public static AuditPopulation Generate(int sites, int patientsPerSite, ulong seed, string workDirectory)
    {
        var rows = new List<IReadOnlyList<PatientYear>>();
        for (int i = 0; i < sites; i++)
        {
            var export = Path.Combine(workDirectory, $"site-{i}-export");
            PopulationGenerator.Generate(patientsPerSite, SyntheticProfile.All[i % SyntheticProfile.All.Count], seed + (ulong)i, export);
            using var node = NodeDirectory.OpenOrInitialize(Path.Combine(workDirectory, $"site-{i}-node"));
            _ = new IngestPipeline(node).Run(export);
            rows.Add([.. new FeatureBuilder(node.Store).ForStudy(node.LoadPolicy(), Purpose)]);
        }

        return new AuditPopulation(rows);
    }

    /// <summary>
    /// A patient-year that belongs to no site: a copy of <paramref name="template"/>'s columns (so it has the columns a
    /// generated patient-year has) under its own pseudonym, with <paramref name="values"/> overriding.
    /// </summary>
    public static PatientYear Canary(PatientYear template, string pseudonym, IReadOnlyDictionary<string, double?> values)
    {
        var columns = new Dictionary<string, double?>(template.Values, StringComparer.Ordinal);
        foreach (var (name, value) in values)
        {
            if (!FeatureSchema.Columns.Any(c => c.Name == name))
            {
                throw new ArgumentException($"The feature schema has no column '{name}'.", nameof(values));
            }

            columns[name] = value;
        }

        return new PatientYear(pseudonym, columns);
    }
}
