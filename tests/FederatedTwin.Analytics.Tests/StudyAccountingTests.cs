using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Composition;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>
/// What each DP study's releases really spend (<see cref="StudyAccounting"/>): the composition, the GLM and DP-FedSGD, with
/// counts encoded at the scale that makes the distributed discrete Gaussian's correction negligible, and a study the
/// accountant refuses with the figures.
/// </summary>
public class StudyAccountingTests
{
    [Theory]
    [InlineData(0.01)]
    [InlineData(0.5)]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(1000)]
    public void At_its_scale_the_compositions_true_rho_is_its_stated_rho_for_any_h_up_to_100_shares(double rho)
    {
        foreach (var h in new[] { 1, 2, 10, 20, 30 })
        {
            var study = new CompositionStudy(2020, rho, 11, h);
            var account = study.Account(100)!;
            Assert.True(account.Holds, account.Describe());
            Assert.InRange(account.True / rho - 1, -1e-12, 1e-12);
            Assert.True(Math.Sqrt(study.PerNodeVariance) * study.Scale >= 4);
        }
    }

    [Theory]
    [InlineData(10, 1.6327, 8)]    // h = 10: shares of σ² = 12/(2·1)/10 = 0.6; at scale 1 the sum is really ρ = 1.63
    [InlineData(20, 1020.4, 8)]    // h = 20: σ² = 0.3; at scale 1 ρ > 1,000
    [InlineData(25, double.PositiveInfinity, 16)] // h = 25: σ² = 0.24 < ¼; at scale 1 no guarantee at all
    public void The_scale_is_what_makes_the_compositions_stated_rho_of_1_true(int h, double atScaleOne, double scale)
    {
        var study = new CompositionStudy(2020, 1, 11, h);
        var unscaled = DistributedDiscreteGaussian.WorstRho(h, h, study.PerNodeVariance, CompositionStudy.VectorLength, CompositionLayout.L2Sensitivity, CompositionLayout.L1Sensitivity);
        Assert.Equal(atScaleOne, unscaled, double.IsInfinity(atScaleOne) ? 0 : 0.1);
        Assert.Equal(scale, study.Scale);
        Assert.Equal(1, study.Account(h)!.True, 12);
        Assert.Equal(1, study.Account(100)!.True, 12);
    }

    [Fact]
    public void A_composition_study_decodes_to_counts_plus_noise_at_its_scale()
    {
        // The demo's composition: ρ = 0.5, h = 2 of 3. Target σ² = 12/(2·0.5) = 12, each share 6 (σ ≈ 2.45 < 4): scale 2.
        var study = CompositionStudy.Parse(new StudySpec(new StudyId("c"), CompositionStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 1, 30)
        {
            Parameters = new Dictionary<string, string> { ["year"] = "2022", ["dp_rho"] = "0.5", [StudyPrivacy.MinHonestNodesParameter] = "2" },
        });
        Assert.Equal((2, 2.0), (study.MinHonestNodes, study.Scale));
        Assert.Equal(12, study.TargetVariance, 12);
        Assert.Equal(6, study.PerNodeVariance, 12);
        Assert.All(study.Layout, b => Assert.Equal(2, b.Scale));
        var account = study.Account(3)!;
        Assert.Equal(0.5, account.True, 12);

        // Without DP: scale 1 and exact counts.
        var exact = CompositionStudy.Parse(new Dictionary<string, string> { ["year"] = "2022" }, minHonestNodes: null);
        Assert.Equal((1.0, 0.0), (exact.Scale, exact.PerNodeVariance));
        Assert.Null(exact.Account(3));
    }

    [Fact]
    public void A_glm_year_window_bounds_the_rows_a_patient_contributes_and_caps_k()
    {
        StudySpec Glm(params (string, string)[] extra) => Study(GlmStudy.AlgorithmName, [("family", "binomial"), ("outcome", "admission_next_year"),
            ("features", "age,sex_male"), ("max_rows_per_node", "1000000"), ("dp_rho", "2"), .. extra]);
        var windowed = GlmStudy.Parse(Glm([("min_year", "2019"), ("max_year", "2021")]), 1000);
        Assert.Equal(3, windowed.Spec.Privacy!.MaxRowsPerPatient); // one row per patient and year of 2019-2021
        Assert.Equal([false, true, true, false, false], new double?[] { 2018, 2019, 2021, 2022, null }.Select(windowed.IncludesYear));
        Assert.Equal(3, GlmStudy.Parse(Glm([("min_year", "2019"), ("max_year", "2021"), ("dp_max_rows_per_patient", "5")]), 1000).Spec.Privacy!.MaxRowsPerPatient);
        Assert.Equal(2, GlmStudy.Parse(Glm([("min_year", "2019"), ("max_year", "2021"), ("dp_max_rows_per_patient", "2")]), 1000).Spec.Privacy!.MaxRowsPerPatient);
        Assert.Equal(GlmStudy.DefaultMaxRowsPerPatient, GlmStudy.Parse(Glm([("max_year", "2021")]), 1000).Spec.Privacy!.MaxRowsPerPatient);
        Assert.Equal("parameters.min_year", Assert.Throws<StudyFileException>(() => GlmStudy.Parse(Glm([("min_year", "2022"), ("max_year", "2021")]), 1000)).Field);
        Assert.Equal("parameters.min_year", Assert.Throws<StudyFileException>(() => GlmStudy.Parse(Glm([("min_year", "twenty")]), 1000)).Field);
    }

    [Fact]
    public void The_glm_and_dp_fedavg_plans_really_spend_their_stated_rho()
    {
        // The demo's settings: an admission GLM (ρ = 2 over 8 rounds with a holdout, K = 5, h = 2 of 3) and DP-FedSGD.
        var glm = Study(GlmStudy.AlgorithmName, ("family", "binomial"), ("outcome", "admission_next_year"), ("features", "age,sex_male,diabetes,inpatient_admissions"),
            ("feature_bounds", "inpatient_admissions:0:10"), ("max_rows_per_node", "1000000"), ("holdout", "0.2"), ("dp_rho", "2"), ("dp_max_rows_per_patient", "5"));
        var account = StudyAccounting.Require(glm, 1000)!;
        Assert.Equal((2.0, 2, 3), (account.Stated, account.MinHonestShares, account.MaxShares));
        Assert.InRange(account.True / account.Stated - 1, -1e-9, 1e-9);

        var fedAvg = Study(FedAvgStudy.AlgorithmName, ("outcome", "admission_next_year"), ("features", "age,sex_male"), ("dp_rho", "0.6")) with { Rounds = 12 };
        var fedAvgAccount = StudyAccounting.Require(fedAvg, 1000)!;
        Assert.InRange(fedAvgAccount.True / 0.6 - 1, -1e-9, 1e-9);

        // Each round's true ρ against its stated share, block by block.
        var spec = GlmStudy.Parse(glm, 1000).Spec;
        var dp = spec.Privacy!;
        foreach (var layout in new[] { GlmLayout.Moments(spec), GlmLayout.Irls(spec, 1, start: false) })
        {
            Assert.Equal(dp.SpentBy(layout, b => dp.Clip(spec, b)), dp.TrueSpentBy(layout, b => dp.Clip(spec, b), 3), 12);
        }
    }

    [Fact]
    public void A_study_whose_shares_are_too_thin_for_the_proposition_is_refused_with_the_figures()
    {
        // DP-FedSGD with a tiny clip and an enormous ρ: the gradient block's scale is fixed by the codec's headroom (s = 2^43 for
        // 10^6 rows of C = 0.001 at 1,000 parties), so its integer σ per share, (C·s + √3/2)/√(2·0.9·ρ)/√h ≈ 0.23, is below ½,
        // where Prop. 14 gives no guarantee. (The row count, a count, is scaled up instead: 2^32, still within the headroom.)
        var study = Study(FedAvgStudy.AlgorithmName, ("outcome", "admission_next_year"), ("features", "age,sex_male"), ("dp_clip", "0.001"),
            ("max_rows_per_node", "1000000"), ("dp_max_rows_per_patient", "20"), ("dp_rho", "4e20")) with { Rounds = 1 };
        var account = StudyAccounting.Account(study, 1000)!;
        Assert.False(account.Holds);
        var e = Assert.Throws<StudyFileException>(() => StudyAccounting.Require(study, 1000));
        Assert.Equal("parameters.dp_rho", e.Field);
        Assert.Contains("stated zCDP rho 4E+20, true rho unbounded", e.Message, StringComparison.Ordinal);
        Assert.Contains("honest shares", e.Message, StringComparison.Ordinal);
    }

    private static StudySpec Study(string algorithm, params (string Key, string Value)[] parameters) =>
        new(new StudyId("dp-account"), algorithm, new PurposeOfUse("HOPERAT"), 3, 3, 1, 30)
        {
            Parameters = parameters.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal),
        };
}
