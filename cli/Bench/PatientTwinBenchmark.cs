using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Node.Features;
using FederatedTwin.Node.Twins;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Cli.Bench;

/// <summary>
/// `ftwin bench patient-twin`: the patient twin's scorer (each model compiled once into column accessors; per patient two array
/// loops per model) against a naive scorer that looks every term up by name in the row and every covariance entry up in a
/// dictionary, on the same generated rows and cores in the same run. The naive one computes less (each model's p or mean and
/// interval only, none of the derived expectations), so the ratio understates the difference.
/// </summary>
internal static class PatientTwinBenchmark
{
    public static int Run(int patients, bool json)
    {
        var models = Models();
        var rows = Rows(patients, seed: 21);
        var twin = new PatientTwin(models);
        var warm = rows.Take(Math.Min(2_000, rows.Count)).ToList();
        _ = twin.ScoreAll(warm); // JIT and tiering
        _ = Naive(models, warm);

        var clock = Stopwatch.StartNew();
        var scored = twin.ScoreAll(rows);
        var seconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var naive = Naive(models, rows);
        var baseline = clock.Elapsed.TotalSeconds;

        // Both scorers must agree, or the comparison means nothing.
        var admission = models.FindIndex(m => m.Outcome == "admission_next_year");
        for (var i = 0; i < rows.Count; i++)
        {
            if (scored[i].Baseline.Risks.TryGetValue(PatientTwin.Admission, out var p) && Math.Abs(p.Value - naive[i][admission]) > 1e-9)
            {
                Console.Error.WriteLine($"error: the two scorers disagree on row {i}: {p.Value} against {naive[i][admission]}");
                return 1;
            }
        }

        var rate = rows.Count / seconds;
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new JsonObject
            {
                ["patients"] = rows.Count,
                ["models"] = models.Count,
                ["seconds"] = seconds,
                ["baseline_seconds"] = baseline,
                ["patients_per_second"] = Math.Round(rate),
                ["ratio"] = baseline / seconds,
                ["cores"] = Environment.ProcessorCount,
            }));
        }
        else
        {
            Console.WriteLine($"{rows.Count:N0} patients x {models.Count} models in {seconds:F3} s = {rate:N0} patients/s; naive per-term dictionary scorer {baseline:F3} s ({baseline / seconds:F1}x) on {Environment.ProcessorCount} cores");
        }

        return 0;
    }

    /// <summary>
    /// The demo set's 16 GLMs (illustrative coefficients) made to look fitted: the binary outcomes also get HbA1c and systolic BP
    /// terms (missing for some patients, as in real data) and every model a covariance (standard errors 10% of |β| + 0.01,
    /// correlation 0.1 between every pair: positive definite), so the scorer does all the work a released model asks of it.
    /// </summary>
    internal static List<RegisteredModel> Models() => [.. DemoModels.Registry().Select(m =>
    {
        List<ModelTerm> terms = m.Family == GlmFamily.Binomial ? [.. m.Terms, new ModelTerm("hba1c", 0.08), new ModelTerm("sbp", 0.004)] : [.. m.Terms];
        var se = terms.Select(t => (0.1 * Math.Abs(t.Coefficient)) + 0.01).ToArray();
        terms = [.. terms.Select((t, j) => t with { StdError = se[j], CiLow = t.Coefficient - (1.96 * se[j]), CiHigh = t.Coefficient + (1.96 * se[j]) })];
        IReadOnlyList<IReadOnlyList<double>> covariance = [.. se.Select((a, i) => (IReadOnlyList<double>)[.. se.Select((b, j) => i == j ? a * a : 0.1 * a * b)])];
        return m with { Terms = terms, Covariance = covariance, Rows = 1 };
    })];

    /// <summary>Generated patient-year rows of the last data year (features only), 30% without an HbA1c and 10% without a blood pressure.</summary>
    internal static List<PatientYear> Rows(int n, int seed)
    {
        var random = new Random(seed);
        double[] prevalence = [0.25, 0.55, 0.08, 0.10, 0.15, 0.20, 0.07, 0.15, 0.20, 0.08, 0.06];
        var rows = new List<PatientYear>(n);
        for (var i = 0; i < n; i++)
        {
            var v = new FeatureDictionary();
            var age = Math.Min(90, 18 + random.Next(80));
            v.Set(FeatureDictionary.Column("year"), 2025);
            v.Set(FeatureDictionary.Column("age"), age);
            v.Set(FeatureDictionary.Column("age_band"), PatientYearSchema.AgeBands.ToList().IndexOf(FeatureSchema.AgeBand(age)));
            v.Set(FeatureDictionary.Column("sex_male"), random.Next(2));
            v.Set(FeatureDictionary.Column("medicare_eligible"), age >= 65 ? 1 : 0);
            var count = 0;
            for (var c = 0; c < prevalence.Length; c++)
            {
                var has = random.NextDouble() < prevalence[c] * (0.5 + (age / 90.0)) ? 1 : 0;
                count += has;
                v.Set(FeatureDictionary.Column(PatientYearSchema.Conditions[c]), has);
            }

            v.Set(FeatureDictionary.Column("condition_count"), count);
            var admissions = random.NextDouble() < 0.15 ? 1 + random.Next(3) : 0;
            v.Set(FeatureDictionary.Column("inpatient_admissions"), admissions);
            v.Set(FeatureDictionary.Column("inpatient_days"), admissions * (2 + random.Next(6)));
            v.Set(FeatureDictionary.Column("ed_visits"), random.NextDouble() < 0.3 ? 1 + random.Next(4) : 0);
            v.Set(FeatureDictionary.Column("ambulatory_visits"), random.Next(12));
            v.Set(FeatureDictionary.Column("cost"), Math.Round(2_000 + (random.NextDouble() * 20_000) + (admissions * 15_000)));
            v.Set(FeatureDictionary.Column("cost_from_claims"), 1);
            v.Set(FeatureDictionary.Column("hba1c"), random.NextDouble() < 0.3 ? null : 5 + (random.NextDouble() * 4));
            var bp = random.NextDouble() >= 0.1;
            v.Set(FeatureDictionary.Column("sbp"), bp ? 110 + (random.NextDouble() * 50) : null);
            v.Set(FeatureDictionary.Column("dbp"), bp ? 65 + (random.NextDouble() * 30) : null);
            v.Set(FeatureDictionary.Column("outcome_observed"), 0);
            rows.Add(new PatientYear(i.ToString("x32", System.Globalization.CultureInfo.InvariantCulture), v));
        }

        return rows;
    }

    /// <summary>
    /// The naive scorer: per patient and model, each term's value looked up by name in the row (an indicator parsed each time), η
    /// summed over a dictionary of values, xᵀΣx over a dictionary keyed by term pairs; then p or the mean. NaN where a value is missing.
    /// </summary>
    internal static double[][] Naive(IReadOnlyList<RegisteredModel> models, IReadOnlyList<PatientYear> rows)
    {
        var sigma = models.Select(m => m.Terms.SelectMany((a, i) => m.Terms.Select((b, j) => (a.Name, b.Name, m.Covariance![i][j])))
            .ToDictionary(t => (t.Item1, t.Item2), t => t.Item3)).ToList();
        var results = new double[rows.Count][];
        Parallel.For(0, rows.Count, i =>
        {
            var row = rows[i].Values;
            var r = new double[models.Count];
            for (var k = 0; k < models.Count; k++)
            {
                var m = models[k];
                var x = new Dictionary<string, double>(StringComparer.Ordinal);
                var missing = false;
                foreach (var t in m.Terms)
                {
                    double? value = t.Name == ModelTerm.Intercept ? 1
                        : GlmStudy.Indicator(t.Name) is { } ind ? (row.GetValueOrDefault(ind.Column) is { } level ? (GlmStudy.Categorical[ind.Column][(int)level] == ind.Level ? 1 : 0) : null)
                        : row.GetValueOrDefault(t.Name);
                    missing |= value is null;
                    x[t.Name] = value ?? 0;
                }

                if (missing)
                {
                    r[k] = double.NaN;
                    continue;
                }

                var eta = m.Terms.Sum(t => t.Coefficient * x[t.Name]);
                var q = 0.0;
                foreach (var a in m.Terms)
                {
                    foreach (var b in m.Terms)
                    {
                        q += x[a.Name] * sigma[k][(a.Name, b.Name)] * x[b.Name];
                    }
                }

                var se = Math.Sqrt(Math.Max(q, 0));
                r[k] = m.Family == GlmFamily.Binomial ? 1 / (1 + Math.Exp(-eta)) : Math.Exp(eta);
                _ = m.Family == GlmFamily.Binomial ? 1 / (1 + Math.Exp(-(eta + (1.96 * se)))) : Math.Exp(eta + (1.96 * se));
            }

            results[i] = r;
        });
        return results;
    }
}
