using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The built-in DEMO model set, the fallback named <c>demo</c>: 16 registered-model JSON documents (Simulation/DemoRegistry/demo/,
/// embedded in this assembly, so the demo and a registry directory go through the same loader and evaluator; pointing
/// <c>--models</c> at that folder gives identical results). Coefficients are illustrative round numbers over the feature
/// schema's columns, chosen to give plausible Medicare-like rates (a few percent annual mortality at 65+, a few hundred
/// admissions and ED visits per 1,000, about $12k per Medicare beneficiary-year); they are NOT estimates from any study
/// (rows = 0, study "demo") and every result computed with them says so.
/// </summary>
public static class DemoModels
{
    /// <summary>The note printed with results of the demo set.</summary>
    public const string Note = "Built-in DEMO model set (illustrative coefficients, ids demo/*): not estimates from any study.";

    private const string ResourcePrefix = "demo-registry/";

    /// <summary>The demo models as registered-model records, parsed and validated from the embedded JSON.</summary>
    public static IReadOnlyList<RegisteredModel> Registry()
    {
        var assembly = typeof(DemoModels).Assembly;
        var names = assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0)
        {
            throw new InvalidOperationException("the demo registry is missing from the assembly (EmbeddedResource Simulation/DemoRegistry/**/*.json)");
        }

        return [.. names.Select(name =>
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            try
            {
                return RegisteredModel.FromJson(reader.ReadToEnd());
            }
            catch (RegisteredModelException e)
            {
                throw new RegisteredModelException(e.Field, e.Problem, name);
            }
        })];
    }

    /// <summary>
    /// An illustrative composition histogram (the feature schema's age bands x sex x condition count 0..6) for the demo
    /// twin, weighted towards the Medicare ages as an ACO's attributed population is.
    /// </summary>
    public static Composition Composition()
    {
        var cells = new List<CompositionCell>();
        double[] bandWeight = [0.02, 0.04, 0.06, 0.13, 0.38, 0.25, 0.08, 0.04];
        for (var b = 0; b < PatientYearSchema.AgeBands.Count; b++)
        {
            var band = AgeBand.Parse(PatientYearSchema.AgeBands[b]);
            foreach (var male in new[] { false, true })
            {
                for (var count = 0; count <= 6; count++)
                {
                    // Older bands carry more conditions: geometric-like decay whose ratio rises with age.
                    var ratio = 0.2 + (0.07 * b);
                    var weight = bandWeight[b] * (male ? 0.45 : 0.55) * Math.Pow(ratio, count) * (1 - ratio);
                    var n = (long)Math.Round(weight * 200_000);
                    cells.Add(new CompositionCell(band, male, count, n < 11 ? null : n));
                }
            }
        }

        // Suppression threshold 11 as in CMS's cell-size suppression policy; prevalence per condition (illustrative), in
        // PatientYearSchema.Conditions order: diabetes, hypertension, heart_failure, copd, ckd, cad, asthma, depression,
        // obesity, cancer, dementia.
        return new Composition(cells, SuppressionThreshold: 11, KnownTotal: null,
            Prevalence: [0.25, 0.55, 0.08, 0.10, 0.15, 0.20, 0.07, 0.15, 0.20, 0.08, 0.06]);
    }
}
