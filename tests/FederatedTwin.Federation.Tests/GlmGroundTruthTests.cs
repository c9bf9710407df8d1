using FederatedTwin.Synthetic;
using FederatedTwin.Crypto;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Analytics.Glm;
using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;
using Xunit.Abstractions;

namespace FederatedTwin.Federation.Tests;

/// <summary>
/// The federated logistic fit recovers the generator's admission model (synth/GroundTruth) on three
/// non-IID sites of 20,000 patients each: one joint Wald test at the 0.999 level, plus negative controls that
/// show the same test rejects wrong truths. Rows come straight from the generator's models (no FHIR, as the
/// issue allows for statistical tests); the fit runs the services' round loop in process: the coordinator's
/// GlmIrlsFit, each site's GlmNode.Compute, FixedPointCodec encoding and the threshold-encrypted sum
/// (RlweThresholdScheme: key shares, encryption, homomorphic sum, decryption shares).
/// </summary>
public sealed class GlmGroundTruthTests(GroundTruthFit fit, ITestOutputHelper output) : IClassFixture<GroundTruthFit>
{
    /// <summary>χ²_p quantile: a per-coefficient 2-SE rule would fail by chance with this many coefficients, one joint test does not.</summary>
    private const double Level = 0.999;

    [Fact]
    public void Federated_logistic_coefficients_pass_a_joint_wald_test_against_the_generators_admission_model()
    {
        var r = fit.Result;
        Assert.True(r.Converged);
        Assert.Equal(3, r.Nodes);
        Assert.True(fit.Patients.All(n => n >= 20_000));
        Assert.Equal(fit.Sites.Sum(s => (long)s.Rows), r.Rows);
        Assert.True(r.Rounds <= 8, $"{r.Rounds} rounds");

        var (w, p, critical) = Wald(fit.Truth);
        output.WriteLine(FormattableString.Invariant($"true β: Wald {w:F3} on {r.Coefficients.Count} df, p = {p:F4}, critical {critical:F3}; rows {r.Rows}, rounds {r.Rounds}"));
        for (var j = 0; j < r.Names.Count; j++)
        {
            output.WriteLine(FormattableString.Invariant($"  {r.Names[j],-28} {r.Coefficients[j],9:F4} ± {r.StandardErrors[j]:F4}  truth {fit.Truth[j],8:F4}"));
        }

        Assert.True(w <= critical, $"Wald statistic {w:F2} exceeds the χ²({r.Coefficients.Count}) {Level} quantile {critical:F2} (p = {p:G3})");
    }

    [Fact]
    public void The_wald_test_rejects_the_truth_with_one_coefficient_shifted_by_ten_standard_errors()
    {
        // A shift of k·SE in coefficient j adds non-centrality λ = k²·SE_j²·(Cov⁻¹)_jj ≥ k² (Cauchy–Schwarz).
        // k = 5 gives λ ≈ 25: non-central χ²_18(25) exceeds the critical 42.3 with probability 0.49 only;
        // k = 10 gives λ ≥ 100: χ²_18(100) stays below 42.3 with probability 2.7e-6 (Poisson mixture of central χ²).
        var j = fit.Result.Names.ToList().IndexOf("heart_failure");
        var wrong = fit.Truth.ToArray();
        wrong[j] += 10 * fit.Result.StandardErrors[j];
        var (w, p, critical) = Wald(wrong);
        output.WriteLine(FormattableString.Invariant($"heart_failure + 10 SE: Wald {w:F3}, p = {p:G3}, critical {critical:F3}"));
        Assert.True(w > critical, $"Wald statistic {w:F2} does not exceed {critical:F2}: the test cannot tell a coefficient 10 SE off");
    }

    [Fact]
    public void The_wald_test_rejects_the_admission_model_without_the_sites_utilization_term()
    {
        // The truth someone would write by copying GroundTruth.Admission alone: no site effects, intercept −3.2.
        // Absolute, not in SE units, so it also catches a covariance that is too large.
        var wrong = fit.Truth.ToArray();
        wrong[0] = GroundTruth.Admission.Intercept;
        for (var j = 0; j < wrong.Length; j++)
        {
            if (fit.Result.Names[j].StartsWith("site_", StringComparison.Ordinal))
            {
                wrong[j] = 0;
            }
        }

        var (w, p, critical) = Wald(wrong);
        output.WriteLine(FormattableString.Invariant($"without the utilization term: Wald {w:F3}, p = {p:G3}, critical {critical:F3}"));
        Assert.True(w > critical, $"Wald statistic {w:F2} does not exceed {critical:F2}");
    }

    /// <summary>(β̂ − β)ᵀ Cov⁻¹ (β̂ − β) ~ χ²_p under the truth β (Wald 1943); p-value and the <see cref="Level"/> quantile.</summary>
    private (double W, double P, double Critical) Wald(IReadOnlyList<double> truth)
    {
        var r = fit.Result;
        var d = Vector<double>.Build.Dense([.. r.Coefficients.Select((b, j) => b - truth[j])]);
        var cov = Matrix<double>.Build.DenseOfArray(r.Covariance);
        var w = d.DotProduct(cov.Cholesky().Solve(d));
        var df = r.Coefficients.Count;
        // Upper tail as Q(p/2, W/2), the regularized upper incomplete gamma, so tiny p-values do not cancel to 0.
        return (w, SpecialFunctions.GammaUpperRegularized(df / 2.0, w / 2), ChiSquared.InvCDF(df, Level));
    }
}

/// <summary>The fit the tests share: three sites, 20,000 patients each, fitted once (a few seconds).</summary>
public sealed class GroundTruthFit
{
    private const int PatientsPerSite = 20_000;

    public GroundTruthFit()
    {
        var profiles = SyntheticProfile.All;
        var reference = profiles[0];
        var siteNames = profiles.Skip(1).Select(p => "site_" + p.Name.Replace('-', '_')).ToList();
        var modelFeatures = GroundTruth.Admission.Coefficients.Keys.ToList();
        List<string> features = [.. modelFeatures, .. siteNames];

        // The generator's outcome: logit P = Admission.LinearPredictor + log(the site's utilization multiplier)
        // (PatientHistory). With the first profile as reference, site indicators carry log(U_s/U_ref).
        Truth =
        [
            GroundTruth.Admission.Intercept + Math.Log(reference.UtilizationMultiplier),
            .. modelFeatures.Select(f => GroundTruth.Admission.Coefficients[f]),
            .. profiles.Skip(1).Select(p => Math.Log(p.UtilizationMultiplier / reference.UtilizationMultiplier)),
        ];

        // The study as the coordinator and nodes parse it, so the spec (bounds, scales, max parties) is the services'.
        var scheme = RlweThresholdScheme.Default;
        var glm = GlmStudy.Parse(
            new Dictionary<string, string>
            {
                ["family"] = "binomial",
                ["outcome"] = "admission_next_year",
                ["features"] = string.Join(",", features),
                ["max_rows_per_node"] = "1000000",
                ["max_abs_feature"] = "10",
            },
            scheme.MaxParties);
        Sites = [.. profiles.Select((p, s) => SiteRows(p, s, modelFeatures, PatientsPerSite, 1000UL + (ulong)s))];
        Patients = [.. profiles.Select(_ => PatientsPerSite)];
        Result = Fit(glm.Spec, Sites, scheme);
    }

    public IReadOnlyList<double> Truth { get; }

    public IReadOnlyList<GlmData> Sites { get; }

    public IReadOnlyList<int> Patients { get; }

    public GlmResult Result { get; }

    /// <summary>
    /// One site's patient-years drawn as synth/PatientHistory draws them (same profile parameters, onset
    /// hazards, baseline prevalence, death, admission and ED models, with its SplitMix64 sampler), one row per
    /// outcome year y = 2019…2024 with the features of year y − 1, until death. Unlike the generator, one stream per
    /// site is used for all its patients, so patients are independent. Rows of one patient are dependent, but each
    /// outcome depends on the past only through that row's features, so the likelihood is a product of conditional
    /// terms and the usual inverse-information covariance holds.
    /// </summary>
    private static GlmData SiteRows(SyntheticProfile profile, int site, IReadOnlyList<string> modelFeatures, int patients, ulong seed)
    {
        var rng = new SplitMix64(seed);
        var k = modelFeatures.Count + SyntheticProfile.All.Count - 1;
        var x = new List<double>();
        var y = new List<double>();
        var logUtilization = Math.Log(profile.UtilizationMultiplier);
        for (var i = 0; i < patients; i++)
        {
            var age = Math.Clamp((int)Math.Round(profile.MeanAge + (profile.AgeSpread * rng.Normal())), 0, 99);
            var birthYear = PopulationGenerator.FirstYear - age;
            var male = !rng.Chance(profile.FemaleShare);
            double AgeFactor(int year) => Math.Pow(2, (year - birthYear - 65) / 20.0);
            var onset = new Dictionary<string, int>();
            foreach (var c in GroundTruth.Conditions)
            {
                if (rng.Chance(Math.Min(0.9, GroundTruth.BaselinePrevalence[c] * profile.PrevalenceMultiplier * AgeFactor(PopulationGenerator.FirstYear))))
                {
                    onset[c] = PopulationGenerator.FirstYear - 1 - rng.Next(10);
                }
            }

            var (admissions, edVisits) = (0, 0);
            for (var year = PopulationGenerator.FirstYear; year <= PopulationGenerator.LastYear; year++)
            {
                if (year > PopulationGenerator.FirstYear)
                {
                    foreach (var c in GroundTruth.Conditions)
                    {
                        if (!onset.ContainsKey(c) && rng.Chance(GroundTruth.OnsetHazard[c] * profile.PrevalenceMultiplier * AgeFactor(year)))
                        {
                            onset[c] = year;
                        }
                    }
                }

                var prior = (Admissions: Math.Min(admissions, 3), Ed: Math.Min(edVisits, 3));
                double Feature(string name) => name switch
                {
                    "age_decades_over_65" => (year - 1 - birthYear - 65) / 10.0,
                    "sex_male" => male ? 1 : 0,
                    "prior_admissions" => prior.Admissions,
                    "prior_ed_visits" => prior.Ed,
                    _ => onset.TryGetValue(name, out var since) && since <= year - 1 ? 1 : 0,
                };

                var died = year > PopulationGenerator.FirstYear && rng.Chance(Logistic(GroundTruth.Death.LinearPredictor(Feature)));
                var admitted = rng.Chance(Logistic(GroundTruth.Admission.LinearPredictor(Feature) + logUtilization));
                admissions = admitted ? 1 + rng.Poisson(0.25) : 0;
                edVisits = rng.Poisson(Math.Exp(GroundTruth.EdVisits.LinearPredictor(Feature)) * profile.UtilizationMultiplier);

                x.AddRange(modelFeatures.Select(Feature));
                for (var s = 1; s < SyntheticProfile.All.Count; s++)
                {
                    x.Add(s == site ? 1 : 0);
                }

                y.Add(admitted ? 1 : 0);
                if (died)
                {
                    break;
                }
            }
        }

        return new GlmData(k, [.. x], [.. y]);
    }

    /// <summary>The services' round loop without processes (FederatedGlmAlgorithm and LocalFederatedGlm): request as JSON, node sums, codec, encrypted sum.</summary>
    private static GlmResult Fit(GlmSpec spec, IReadOnlyList<GlmData> sites, IAdditiveThresholdScheme scheme)
    {
        var fit = new GlmIrlsFit(spec);
        bool finished;
        do
        {
            var wire = GlmRound.Serialize(fit.NextRequest());
            var updates = sites.Select(site =>
            {
                var request = GlmRound.Deserialize(wire);
                return new FixedPointCodec(request.Layout, scheme.MaxParties).Encode(GlmNode.Compute(spec, request, site));
            }).ToList();
            var layout = fit.NextRequest().Layout;
            finished = fit.Accept(new FixedPointCodec(layout, scheme.MaxParties).Decode(EncryptedSum(scheme, updates)));
        }
        while (!finished);

        return fit.Result!;
    }

    /// <summary>One round's threshold encryption (IAdditiveThresholdScheme's flow): fresh key shares, encrypt, add, every party's decryption share.</summary>
    private static long[] EncryptedSum(IAdditiveThresholdScheme scheme, IReadOnlyList<long[]> updates)
    {
        var seed = scheme.NewCrpSeed();
        var secrets = updates.Select(_ => scheme.GenerateSecret()).ToList();
        var key = scheme.AggregatePublicKey(seed, [.. secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GeneratePublicKeyShare(s, seed))]);
        var sum = scheme.NewSum(updates[0].Length);
        foreach (var u in updates)
        {
            sum.Add(scheme.Encrypt(key, u));
        }

        var total = sum.ToBytes();
        return scheme.CombineDecryptionShares(total, [.. secrets.Select(s => (ReadOnlyMemory<byte>)scheme.GenerateDecryptionShare(s, total))]);
    }

    private static double Logistic(double x) => 1 / (1 + Math.Exp(-x));
}
