using FederatedTwin.Analytics.Studies;
using FederatedTwin.Crypto.Codec;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Analytics.FedAvg;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Privacy;

namespace FederatedTwin.Analytics.Tests;

/// <summary>Differential privacy for the federated GLM: noise shares, ρ accounting, clipping, sensitivity and accuracy.</summary>
public class GlmPrivacyTests
{
    private static readonly string[] Names = ["age", "smoker"];

    private static GlmSpec Spec(double rho, int k = 2, int minNodes = 3, int maxIterations = 6, GlmFamily family = GlmFamily.Binomial, int rounds = 0) =>
        new(family, Names, new GlmBounds(1_000_000, 1000) { MaxAbsResponse = family == GlmFamily.Binomial ? 1 : 10, MaxAbsMean = family == GlmFamily.Binomial ? null : 10 }, 8, maxIterations: maxIterations)
        {
            Privacy = new GlmPrivacy(rho, rounds > 0 ? rounds : 1 + maxIterations, minNodes, k, [new(20, 100), new(0, 1)]),
        };

    [Fact]
    public void Each_nodes_share_is_the_blocks_target_variance_over_the_minimum_of_honest_nodes()
    {
        // ρ = 1 over 4 rounds: 0.25 a round. Hessian clip for K = 2, p = 3, W ≤ 1/4: 2·¼·√(3·4/2) = √6/2; share 0.4 of
        // the round: σ² = (√6/2)²/(2·0.4·0.25) = 1.5/0.2 = 7.5 (plus the negligible rounding term √6/s); each of the
        // m = 3 honest nodes adds 2.5.
        var spec = Spec(1, rounds: 4);
        var dp = spec.Privacy!;
        Assert.Equal(0.25, dp.RoundRho, 15);
        Assert.Equal(Math.Sqrt(6) / 2, dp.Clip(spec, GlmLayout.Xtwx), 12);
        var layout = GlmLayout.Irls(spec, 1000, start: false);
        var variances = dp.NodeVariances(layout, b => dp.Clip(spec, b));
        var xtwx = layout.ToList().FindIndex(b => b.Name == GlmLayout.Xtwx);
        Assert.Equal(2.5, variances[xtwx], 6);
        Assert.Equal(0, variances[layout.ToList().FindIndex(b => b.Name == GlmLayout.Count)]);

        // Score: clip K·1·√p = 2√3, share 0.4: σ² = 12/0.2 = 60, 20 per node.
        var score = layout.ToList().FindIndex(b => b.Name == GlmPrivacy.Score);
        Assert.Equal(20, variances[score], 6);

        // The m honest nodes' shares add up to the target, whatever the other nodes do.
        for (int b = 0; b < layout.Count; b++)
        {
            if (variances[b] > 0)
            {
                Assert.Equal(Math.Pow(dp.TargetSigma(layout, layout[b], dp.Clip(spec, layout[b].Name)), 2), variances[b] * dp.MinHonestNodes, 9);
            }
        }
    }

    [Fact]
    public void Every_round_spends_exactly_its_share_and_the_rounds_compose_to_the_studys_rho()
    {
        // Integer-domain accounting, ρ = Σ_b Δ_b,int²/(2σ_b,int²) with Δ_int = C·s + √d (Bun & Steinke 2016, Prop. 1.6;
        // Canonne, Kamath & Steinke 2020, Thm. 4), composed by addition (Bun & Steinke 2016, Lemma 1.7).
        var spec = Spec(0.7, maxIterations: 6);
        var dp = spec.Privacy!;
        var glm = new GlmStudy(spec, "y", Names, null, Holdout: 0);
        var rounds = new List<IReadOnlyList<FixedPointBlock>> { GlmLayout.Moments(spec) };
        rounds.AddRange(Enumerable.Repeat(GlmLayout.Irls(spec, 5000, start: false), 6));
        double total = 0;
        foreach (var layout in rounds)
        {
            var spent = dp.SpentBy(layout, b => dp.Clip(spec, b));
            Assert.Equal(0.1, spent, 12);
            total += spent;
        }

        Assert.Equal(0.7, ZcdpAccountant.Compose(Enumerable.Repeat(new ZcdpRho(0.1), 7)).Value, 12);
        Assert.Equal(0.7, total, 12);

        // With a holdout the evaluation round is one of the planned rounds: 8 of 0.7/8.
        var withHoldout = GlmStudy.Parse(Parameters(("dp_rho", "0.7"), ("holdout", "0.2")), 8, minHonestNodes: 3);
        Assert.Equal(8, withHoldout.Spec.Privacy!.Rounds);
        var evaluation = GlmEvaluation.Layout(withHoldout);
        Assert.Equal(0.7 / 8, withHoldout.Spec.Privacy.SpentBy(evaluation, b => withHoldout.Spec.Privacy.Clip(withHoldout.Spec, b)), 12);
        Assert.Equal(GlmEvaluation.PrivateBins, evaluation[0].Length);
        _ = glm;
    }

    [Fact]
    public void Known_zcdp_values_for_the_studys_epsilon()
    {
        // ρ = 0.5 at δ = 1e-6: Bun & Steinke 2016 Prop. 1.3 gives ε = ρ + 2√(ρ ln 1/δ) = 0.5 + 2√(0.5·13.8155) = 5.7565.
        Assert.Equal(5.7565, ZcdpAccountant.EpsilonBunSteinke(new ZcdpRho(0.5), 1e-6), 4);
        // The Gaussian mechanism with Δ = 1, σ = 1 is ½-zCDP; with σ = Δ/√(2ρ) it spends exactly ρ.
        Assert.Equal(0.5, ZcdpAccountant.GaussianRho(1, 1).Value, 15);
        Assert.Equal(0.1, ZcdpAccountant.GaussianRho(3, ZcdpAccountant.GaussianSigma(3, new ZcdpRho(0.1))).Value, 12);
    }

    [Fact]
    public void Raw_values_are_clipped_to_their_declared_bounds_and_rows_capped_per_patient()
    {
        var spec = Spec(1, k: 2);
        var request = new GlmRequest(GlmRoundKind.Iterate, 2, GlmLayout.Irls(spec, 100, false), 100, spec.Privacy!.Standardization(), [0.3, 0.5, -0.2], null);

        // Age 250 is clipped to the declared 100, smoking 7 to 1, an outcome of 3 to 1.
        var wild = new GlmData(2, [250, 7], [3], patients: [0]);
        var atBounds = new GlmData(2, [100, 1], [1], patients: [0]);
        Assert.Equal(GlmNode.Compute(spec, request, atBounds), GlmNode.Compute(spec, request, wild));

        // A patient's third and later rows are dropped (K = 2): only the first two count.
        var three = new GlmData(2, [30, 0, 40, 1, 90, 1], [0, 1, 1], patients: [5, 5, 5]);
        var two = new GlmData(2, [30, 0, 40, 1], [0, 1], patients: [5, 5]);
        Assert.Equal(GlmNode.Compute(spec, request, two), GlmNode.Compute(spec, request, three));

        // Different patients are not capped together.
        var twoPatients = new GlmData(2, [30, 0, 40, 1, 90, 1], [0, 1, 1], patients: [5, 5, 6]);
        Assert.NotEqual(GlmNode.Compute(spec, request, two), GlmNode.Compute(spec, request, twoPatients));

        // Moments count rows after the cap too.
        var moments = GlmNode.Compute(spec, new GlmNoisyNewtonFit(spec).NextRequest(), three);
        var blocks = GlmLayout.Moments(spec);
        Assert.Equal(2, moments[blocks.TakeWhile(b => b.Name != GlmPrivacy.RowCount).Sum(b => b.Length)]);

        // Without the patient of each row, DP refuses rather than treat rows as patients.
        Assert.Throws<InvalidOperationException>(() => GlmNode.Compute(spec, request, new GlmData(2, [30, 0], [1])));
    }

    [Fact]
    public void A_gaussian_score_is_taken_at_the_mean_in_the_responses_units_held_to_the_declared_bound()
    {
        // Costs of 4,000 and 5,000 (smokers): at the least-squares β the DP score is 0. The identity link's η is the mean
        // itself, so it is held to |μ| ≤ M (here 10,000), not to ±50 like a log or logit η: clamped at 50, every mean
        // was $50 and the score stayed at Σ x̃(y − 50), so a DP cost model could never pass the stationarity check.
        var spec = new GlmSpec(GlmFamily.Gaussian, Names, new GlmBounds(1_000_000, 1000) { MaxAbsResponse = 10_000, MaxAbsMean = 10_000 }, 8, maxIterations: 6)
        {
            Privacy = new GlmPrivacy(1, 7, 3, 2, [new(20, 100), new(0, 1)]),
        };
        var data = new GlmData(2, [30, 0, 40, 1, 50, 0, 60, 1], [4000, 5000, 4000, 5000], patients: [0, 1, 2, 3]);
        var layout = GlmLayout.Irls(spec, 4, false);
        int score = layout.TakeWhile(b => b.Name != GlmPrivacy.Score).Sum(b => b.Length);
        double[] Score(double[] beta) =>
            GlmNode.Compute(spec, new GlmRequest(GlmRoundKind.Iterate, 2, layout, 4, spec.Privacy.Standardization(), beta, null), data).AsSpan(score, 3).ToArray();

        // x̃_smoker = 2·smoker − 1, so μ = 4,500 + 500·x̃_smoker is 4,000 and 5,000. The node sends each patient's score rounded to
        // the block's grid (at most ½ unit of 1/s each), so the sums are exact to 4 patients × ½/s.
        double resolution = 4 * 0.5 / layout.Single(b => b.Name == GlmPrivacy.Score).Scale;
        Assert.All(Score([4500, 0, 500]), s => Assert.InRange(s, -resolution, resolution));
        // A mean past M is held at M = max(max_abs_mean, Y + 0.1) = 10,000.1 (GlmBounds.Mean): the intercept's score is Σ(y − M).
        Assert.InRange(Score([50_000, 0, 0])[0], -22_000.4 - resolution, -22_000.4 + resolution);
    }

    [Theory]
    [InlineData(GlmFamily.Binomial)]
    [InlineData(GlmFamily.Poisson)]
    [InlineData(GlmFamily.Gaussian)]
    public void Adding_one_patient_moves_each_encoded_block_by_exactly_their_rounded_vector_at_most_c_s_plus_half_root_d_whatever_beta(GlmFamily family)
    {
        // The sensitivity the noise is sized for, checked directly on what the node sends: neighbouring datasets (one patient
        // added, with up to 6 rows of extreme values) at wild and at ordinary coefficients. In the integer domain block b moves
        // by at most C_b·s_b + √d_b/2 (each patient rounded to the grid, then added exactly), and by exactly the added
        // patient's own encoded vector: the integer sum has no accumulation error, whatever the order.
        var spec = Spec(1, k: 3, family: family);
        var dp = spec.Privacy!;
        var rng = new Random(11);
        var layout = GlmLayout.Irls(spec, 1000, false);
        foreach (var beta in new[] { new[] { 0.0, 0, 0 }, [40.0, -40, 40], [-3, 2, 1.5] })
        {
            var request = new GlmRequest(GlmRoundKind.Iterate, 3, layout, 1000, dp.Standardization(), beta, null);
            for (int trial = 0; trial < 20; trial++)
            {
                var baseRows = PatientCohorts.Cohort(30, 2, 100 + trial);
                int extra = 1 + rng.Next(6);
                var x = baseRows.Design.Concat(Enumerable.Range(0, extra).SelectMany(_ => new[] { rng.NextDouble() < 0.5 ? -500.0 : 500, rng.Next(-3, 4) })).ToArray();
                var y = baseRows.Responses.Concat(Enumerable.Range(0, extra).Select(_ => family == GlmFamily.Binomial ? rng.Next(2) : rng.Next(0, 50) * 1.0)).ToArray();
                var ids = baseRows.Patients!.Concat(Enumerable.Repeat(999, extra)).ToArray();
                var without = family == GlmFamily.Binomial ? baseRows : new GlmData(2, [.. baseRows.Design], [.. baseRows.Responses.Select(v => v * 3)], patients: [.. baseRows.Patients!]);
                var with = new GlmData(2, x, family == GlmFamily.Binomial ? y : [.. without.Responses, .. y.Skip(without.Rows)], patients: ids);
                var a = GlmNode.Encode(spec, request, without);
                var b = GlmNode.Encode(spec, request, with);
                var alone = GlmNode.Encode(spec, request, new GlmData(2, [.. x.Skip(without.Design.Count)], [.. with.Responses.Skip(without.Rows)], patients: [.. Enumerable.Repeat(999, extra)]));
                int at = 0;
                foreach (var block in layout)
                {
                    if (block.Name != GlmLayout.Count)
                    {
                        double norm = Math.Sqrt(Enumerable.Range(at, block.Length).Sum(i => Math.Pow(a[i] - b[i], 2)));
                        double bound = Clipping.EncodedL2Sensitivity(dp.Clip(spec, block.Name), block.Scale, block.Length);
                        Assert.True(norm <= bound, $"{block.Name}: {norm} > {bound}");
                        Assert.Equal(alone.AsSpan(at, block.Length).ToArray(), Enumerable.Range(at, block.Length).Select(i => b[i] - a[i]));
                    }

                    at += block.Length;
                }
            }
        }
    }

    [Fact]
    public void With_dp_on_big_data_the_coefficients_are_close_to_the_exact_fit()
    {
        // 3 nodes × 40,000 patients × 2 years, K = 2 so the cap does not bind; ρ = 1 over 7 rounds. The DP error of a
        // coefficient is about σ_score·|H⁻¹| ≈ 1e-3 of its standard error here, so the 0.25-SE tolerance below cannot be
        // reached by chance (it would take a ~200σ noise draw); what it catches is bias (clipping, damping, a wrong
        // design scale) or wrongly sized noise.
        var nodes = Enumerable.Range(0, 3).Select(s => PatientCohorts.Cohort(40_000, 2, 70 + s, firstPatient: s * 100_000)).ToList();
        var exactSpec = new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1_000_000, 1000), 8);
        var exact = GlmHarness.Federated(exactSpec, nodes, quantize: true);
        var spec = Spec(1, k: 2);
        var random = new SeededTestRandomBits(2024);
        var fit = new GlmNoisyNewtonFit(spec);
        while (!fit.Accept(NoisySum(spec, fit.NextRequest().Layout, fit.NextRequest(), nodes, random)))
        {
        }

        var dp = fit.Result!;
        Assert.Equal(7, dp.Rounds);
        Assert.InRange(dp.Rows, exact.Rows - 40, exact.Rows + 40); // the noisy row count: σ = 2/√(2·(1/3)·(1/7)) ≈ 6.5
        for (int j = 0; j < 3; j++)
        {
            double difference = Math.Abs(dp.Coefficients[j] - exact.Coefficients[j]);
            Assert.True(difference < 0.25 * exact.StandardErrors[j], $"{dp.Names[j]}: DP {dp.Coefficients[j]:G6}, exact {exact.Coefficients[j]:G6}, SE {exact.StandardErrors[j]:G3}");
            // The reported SE includes the DP noise term: never below the exact one by more than the noise in H.
            Assert.InRange(dp.StandardErrors[j] / exact.StandardErrors[j], 0.95, 1.1);
        }

        Assert.InRange(dp.Deviance / exact.Deviance, 0.99, 1.01);
        Assert.InRange(dp.NullDeviance / exact.NullDeviance, 0.99, 1.01);
    }

    [Fact]
    public void The_noise_is_there_a_dp_fit_differs_from_the_exact_one_on_small_data()
    {
        // A negative control for the test above: on 300 patients the same ρ moves the coefficients visibly.
        var nodes = Enumerable.Range(0, 3).Select(s => PatientCohorts.Cohort(100, 2, 5 + s, firstPatient: s * 1000)).ToList();
        var exact = GlmHarness.Federated(new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1_000_000, 1000), 8), nodes, quantize: true);
        var spec = Spec(0.05, k: 2);
        var fit = new GlmNoisyNewtonFit(spec);
        var random = new SeededTestRandomBits(7);
        while (!fit.Accept(NoisySum(spec, fit.NextRequest().Layout, fit.NextRequest(), nodes, random)))
        {
        }

        Assert.True(Math.Abs(fit.Result!.Coefficients[2] - exact.Coefficients[2]) > 1e-3);
    }

    [Fact]
    public void A_noise_dominated_gaussian_fit_still_reports_finite_numbers()
    {
        // Small data, a wide response bound, little ρ: the noisy residual sum is likely negative. It is clamped
        // (post-processing), so the AIC's log(RSS), the dispersion and every SE stay finite (JSON cannot carry NaN).
        var nodes = Enumerable.Range(0, 3).Select(s => PatientCohorts.Cohort(40, 2, 30 + s, firstPatient: s * 1000)).ToList();
        var spec = new GlmSpec(GlmFamily.Gaussian, Names, new GlmBounds(1_000_000, 1000) { MaxAbsResponse = 100_000, MaxAbsMean = 100_000 }, 8, maxIterations: 3)
        {
            Privacy = new GlmPrivacy(0.01, 4, 3, 2, [new(20, 100), new(0, 1)]),
        };
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var fit = new GlmNoisyNewtonFit(spec);
            var random = new SeededTestRandomBits(seed);
            while (!fit.Accept(NoisySum(spec, fit.NextRequest().Layout, fit.NextRequest(), nodes, random)))
            {
            }

            var r = fit.Result!;
            Assert.True(double.IsFinite(r.Aic) && double.IsFinite(r.Deviance) && double.IsFinite(r.Dispersion), $"seed {seed}: AIC {r.Aic}, deviance {r.Deviance}");
            Assert.All(r.StandardErrors, se => Assert.True(double.IsFinite(se) && se > 0));
            Assert.All(r.Coefficients, b => Assert.True(double.IsFinite(b)));
        }
    }

    [Fact]
    public void A_dp_study_needs_bounds_for_undocumented_features_and_dp_fedavg_splits_rho_over_the_studys_rounds()
    {
        var e = Assert.Throws<StudyFileException>(() => GlmStudy.Parse(Parameters(("dp_rho", "1"), ("features", "age,ed_visits")), 8, minHonestNodes: 3));
        Assert.Contains("ed_visits", e.Message, StringComparison.Ordinal);
        var ok = GlmStudy.Parse(Parameters(("dp_rho", "1"), ("features", "age,ed_visits,age_band"), ("feature_bounds", "ed_visits:0:20")), 8, minHonestNodes: 3);
        var bounds = ok.Spec.Privacy!.FeatureBounds;
        Assert.Equal(new FeatureBound(0, 90), bounds[0]);
        Assert.Equal(new FeatureBound(0, 20), bounds[1]);
        Assert.All(bounds.Skip(2), b => Assert.Equal(new FeatureBound(0, 1), b));
        Assert.Equal(1 + GlmStudy.DefaultPrivateIterations, ok.Spec.Privacy.Rounds);
        Assert.Null(GlmStudy.Parse(Parameters(("features", "age,ed_visits")), 8).Spec.Privacy);
        Assert.Contains(FedAvgStudy.RoundsParameter, Assert.Throws<StudyFileException>(() => FedAvgStudy.Parse(Parameters(("dp_rho", "0.5")), 8, minHonestNodes: 3)).Message, StringComparison.Ordinal);
        var fedAvg = FedAvgStudy.Parse(Parameters(("dp_rho", "0.5")), 8, minHonestNodes: 3, rounds: 10).Privacy!;
        Assert.Equal(0.05, fedAvg.Dp.RoundRho, 15);
        Assert.Equal(3, fedAvg.Dp.MinHonestNodes);
        Assert.Null(FedAvgStudy.Parse(Parameters(), 8).Privacy);
    }

    [Theory]
    [InlineData("max_abs_response", "+0")]
    [InlineData("max_abs_response", "0")]
    [InlineData("max_abs_feature", "0.0")]
    [InlineData("max_abs_mean", "0")]
    public void A_bound_of_zero_is_refused_as_a_study_file_error_naming_its_field(string name, string value)
    {
        // Found by the study-yaml fuzz target (fuzz/regressions/study-yaml): a zero bound escaped as an ArgumentOutOfRangeException.
        var e = Assert.Throws<StudyFileException>(() => GlmStudy.Parse(Parameters(("family", "poisson"), ("outcome", "ed_visits_next_year"), ("max_abs_response", "50"), (name, value)), 8));
        Assert.Contains("parameters." + name, e.Message, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Parameters(params (string Key, string Value)[] extra)
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal) { ["family"] = "binomial", ["outcome"] = "death_next_year", ["features"] = "age,sex_male" };
        foreach (var (k, v) in extra)
        {
            p[k] = v;
        }

        return p;
    }

    /// <summary>What the encrypted sum of noised node vectors decodes to: each node encodes, adds its share, the longs add modulo 2^64.</summary>
    private static double[] NoisySum(GlmSpec spec, IReadOnlyList<FixedPointBlock> layout, GlmRequest request, IEnumerable<GlmData> nodes, IRandomBitSource random)
    {
        var codec = new FixedPointCodec(layout, spec.MaxParties);
        var dp = spec.Privacy!;
        var variances = dp.NodeVariances(layout, b => dp.Clip(spec, b));
        return GlmHarness.DecodedSum(codec, nodes.Select(node =>
        {
            var encoded = GlmNode.Encode(spec, request, node);
            GlmPrivacy.AddNoise(encoded, layout, variances, random);
            return encoded;
        }));
    }
}

/// <summary>DP standard errors that account for the noise in the Hessian and the score.</summary>
public class GlmPrivacyStandardErrorTests
{
    private static readonly string[] Names = ["age", "smoker", "visits"];

    private static readonly double[] Truth = [-2 - (0.03 * 60), 0.03, 0.7, 0.3];

    private static GlmData Cohort(int patients, int rowsPerPatient, Random rng, int firstPatient)
    {
        int n = patients * rowsPerPatient;
        var x = new double[n * 3];
        var y = new double[n];
        var ids = new int[n];
        for (int i = 0; i < n; i++)
        {
            // visits: a count with declared range 0–10 that is mostly 0 (x̃ = −1), like the demo's admissions: its
            // contrast with the intercept has a small curvature, the direction the Hessian noise distorts most.
            double age = 20 + (80 * rng.NextDouble()), smoker = rng.NextDouble() < 0.3 ? 1 : 0, visits = rng.NextDouble() < 0.1 ? 1 + rng.Next(3) : 0;
            x[3 * i] = age;
            x[(3 * i) + 1] = smoker;
            x[(3 * i) + 2] = visits;
            double eta = Truth[0] + (Truth[1] * age) + (Truth[2] * smoker) + (Truth[3] * visits);
            y[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-eta)) ? 1 : 0;
            ids[i] = firstPatient + (i / rowsPerPatient);
        }

        return new GlmData(3, x, y, patients: ids);
    }

    private static GlmResult DpFit(List<GlmData> nodes, double rho, int iterations, IRandomBitSource random)
    {
        var spec = new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1_000_000, 1000), 8, maxIterations: iterations)
        {
            Privacy = new GlmPrivacy(rho, 1 + iterations, 3, 2, [new(20, 100), new(0, 1), new(0, 10)]),
        };
        var fit = new GlmNoisyNewtonFit(spec);
        while (true)
        {
            var request = fit.NextRequest();
            var codec = new FixedPointCodec(request.Layout, spec.MaxParties);
            var variances = spec.Privacy.NodeVariances(request.Layout, b => spec.Privacy.Clip(spec, b));
            var sum = GlmHarness.DecodedSum(codec, nodes.Select(node =>
            {
                var encoded = GlmNode.Encode(spec, request, node);
                GlmPrivacy.AddNoise(encoded, request.Layout, variances, random);
                return encoded;
            }));
            if (fit.Accept(sum))
            {
                return fit.Result!;
            }
        }
    }

    [Fact]
    public void A_dp_fit_that_ran_its_planned_rounds_is_released_with_its_checks_and_registered_as_such()
    {
        // 3 × 1,500 patients, ρ = 2, 8 planned Newton rounds: the noisy fit does not meet the exact tolerance (Converged is
        // false) but its final iterate passes the release checks, and the registry records it as a DP planned-rounds release.
        // At this size about one draw in twenty ends too far from stationary and is refused by that check instead (2 of
        // seeds 1–40), so of five draws at least four are released and any other is refused for that reason alone.
        var rng = new Random(11);
        var nodes = Enumerable.Range(0, 3).Select(s => Cohort(1500, 2, rng, s * 10_000)).ToList();
        int released = 0;
        for (ulong seed = 1; seed <= 5; seed++)
        {
            var dp = DpFit(nodes, 2, 8, new SeededTestRandomBits(seed));
            Assert.False(dp.Converged);
            var release = Assert.IsType<GlmPrivateRelease>(dp.PrivateRelease);
            if (!release.Released)
            {
                Assert.True(release.ScoreStatistic > release.ScoreCritical);
                Assert.Contains("stationary", release.Refusal, StringComparison.Ordinal);
                continue;
            }

            released++;
            Assert.True(dp.Releasable);
            Assert.Equal((8, 8, 0), (release.PlannedIterations, release.Iterations, release.DampingDoublings));
            Assert.InRange(release.ScoreStatistic, 0, release.ScoreCritical);
            Assert.Equal(MathNet.Numerics.Distributions.ChiSquared.InvCDF(4, 0.999), release.ScoreCritical, 9);
            var model = FederatedTwin.Analytics.Registry.RegisteredModel.FromGlmResult(dp, "admission_next_year", "dp-study", "HOPERAT",
                DateTimeOffset.UnixEpoch, new FederatedTwin.Analytics.Registry.ModelPrivacy(true, 2, 9, 9, 2));
            Assert.Equal(FederatedTwin.Analytics.Registry.RegisteredModel.ReleaseDpPlannedRounds, model.Release);
            Assert.Equal(dp.StandardErrors, model.Terms.Select(t => t.StdError!.Value));
            Assert.Throws<ArgumentException>(() => FederatedTwin.Analytics.Registry.RegisteredModel.FromGlmResult(dp, "admission_next_year", "dp-study", "HOPERAT",
                DateTimeOffset.UnixEpoch, new FederatedTwin.Analytics.Registry.ModelPrivacy(false, null)));
        }

        Assert.InRange(released, 4, 5);

        // An exact fit has no DP release and keeps the strict rule.
        var exact = GlmHarness.Federated(new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1_000_000, 1000), 8), nodes, quantize: true);
        Assert.Null(exact.PrivateRelease);
        Assert.True(exact.Converged && exact.Releasable);
    }

    [Fact]
    public void A_dp_fit_whose_last_score_is_far_from_stationary_or_whose_hessian_needed_more_damping_is_refused_with_the_reason()
    {
        // One planned Newton round: the last score is evaluated at the null model's start, where age and smoking carry
        // score sums far beyond the noise (‖s‖²/σ² ≫ χ²₄ at 0.999): the iterate is not near a solution, so no release.
        var rng = new Random(12);
        var nodes = Enumerable.Range(0, 3).Select(s => Cohort(1500, 2, rng, s * 10_000)).ToList();
        var early = DpFit(nodes, 2, 1, new SeededTestRandomBits(7));
        var release = early.PrivateRelease!;
        Assert.False(release.Released);
        Assert.False(early.Releasable);
        Assert.True(release.ScoreStatistic > release.ScoreCritical, $"{release.ScoreStatistic} <= {release.ScoreCritical}");
        Assert.Contains("not consistent with a stationary point", release.Refusal, StringComparison.Ordinal);
        var refused = Assert.Throws<ArgumentException>(() => FederatedTwin.Analytics.Registry.RegisteredModel.FromGlmResult(early, "admission_next_year", "dp-study", "HOPERAT",
            DateTimeOffset.UnixEpoch, new FederatedTwin.Analytics.Registry.ModelPrivacy(true, 2)));
        Assert.Contains("stationary point", refused.Message, StringComparison.Ordinal);

        // The other checks on a fit that passes: a Hessian that needed λ doubled, and a deviance above the null's by more
        // than the noise, are each refused; within the noise it is not.
        var good = DpFit(nodes, 2, 8, new SeededTestRandomBits(8));
        var ok = good.PrivateRelease!;
        Assert.Null(GlmNoisyNewtonFit.PrivateRefusal(good, 0, ok.Deviance, ok.DevianceSigma, ok.ScoreStatistic, ok.ScoreCritical));
        Assert.Contains("not positive definite", GlmNoisyNewtonFit.PrivateRefusal(good, 1, ok.Deviance, ok.DevianceSigma, ok.ScoreStatistic, ok.ScoreCritical), StringComparison.Ordinal);
        Assert.Contains("diverged", GlmNoisyNewtonFit.PrivateRefusal(good, 0, good.NullDeviance + 10, 1, ok.ScoreStatistic, ok.ScoreCritical), StringComparison.Ordinal);
        Assert.Null(GlmNoisyNewtonFit.PrivateRefusal(good, 0, good.NullDeviance + 4, 1, ok.ScoreStatistic, ok.ScoreCritical));
    }

    [Fact]
    public void Damped_iteration_covariance_is_the_inverse_hessian_for_one_undamped_noiseless_step_and_carries_every_rounds_noise()
    {
        var h = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfArray(new double[,] { { 4, 1 }, { 1, 3 } });
        var exact = h.Inverse();
        Assert.True((GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 0, 0, 1, 1) - exact).FrobeniusNorm() < 1e-12);

        // Score noise adds variance in the Loewner order; the Gaussian dispersion scales only the sampling part.
        var noisy = GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 1, 0, 1, 1);
        Assert.All((noisy - exact).Evd().EigenValues, e => Assert.True(e.Real > 0));
        Assert.True((GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 1, 0, 1, 2) - exact - ((noisy - exact) / 2)).FrobeniusNorm() < 1e-12);

        // Damping λ ≫ h: each round passes its noise through (h + λ)⁻¹ and keeps m ≈ 1 of the earlier rounds', so K rounds
        // add K·σ²/(h + λ)² (not just the last round's); many rounds at moderate damping reach the stationary σ²/(h² + 2hλ).
        var one = GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 10, 1000, 1, 1) - exact;
        var six = GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 10, 1000, 6, 1) - exact;
        Assert.InRange(six.Trace() / one.Trace(), 5.85, 6.0); // Σ_(k<6) m^(2k) with m = 1 − h/(h + λ) ≈ 0.997
        var stationary = GlmNoisyNewtonFit.DampedIterationCovariance(h, 0, 1, 1, 500, 1) - exact;
        var evd = h.Evd();
        double expected = evd.EigenValues.Sum(e => 1 / ((e.Real * e.Real) + (2 * e.Real)));
        Assert.Equal(expected, stationary.Trace(), 9);
    }

    [Fact]
    public void Dp_standard_errors_are_at_least_the_exact_ones_and_the_intervals_cover_the_truth()
    {
        // A fixed dataset small enough that the Hessian noise matters (3 nodes × 400 patients × 2 years, ρ = 1 over 7
        // rounds): over noise draws, every DP SE is at least the exact SE of the same rows.
        var rng = new Random(3);
        var nodes = Enumerable.Range(0, 3).Select(s => Cohort(400, 2, rng, s * 10_000)).ToList();
        var exact = GlmHarness.Federated(new GlmSpec(GlmFamily.Binomial, Names, new GlmBounds(1_000_000, 1000), 8), nodes, quantize: true);
        for (ulong seed = 1; seed <= 10; seed++)
        {
            var dp = DpFit(nodes, 1, 6, new SeededTestRandomBits(seed));
            for (int j = 0; j < 4; j++)
            {
                Assert.True(dp.StandardErrors[j] >= exact.StandardErrors[j], $"seed {seed}, {dp.Names[j]}: DP SE {dp.StandardErrors[j]:G4} < exact {exact.StandardErrors[j]:G4}");
            }
        }

        // Coverage of the 95% intervals for the generator's truth over fresh data and noise (3 × 1,500 patients, ρ = 2,
        // 8 Newton rounds so the damped fit has converged): at least 88% of 60 intervals per coefficient (binomial
        // 0.95·60 = 57 expected; 53 is about 2 SD below).
        var covered = new int[4];
        const int replicates = 60;
        for (int r = 0; r < replicates; r++)
        {
            var data = Enumerable.Range(0, 3).Select(s => Cohort(1500, 2, rng, s * 10_000)).ToList();
            var dp = DpFit(data, 2, 8, new SeededTestRandomBits(100 + (ulong)r));
            for (int j = 0; j < 4; j++)
            {
                covered[j] += Math.Abs(dp.Coefficients[j] - Truth[j]) <= 1.96 * dp.StandardErrors[j] ? 1 : 0;
            }
        }

        Assert.All(covered, c => Assert.True(c >= 53, $"coverage {string.Join(", ", covered)} of {replicates}"));
    }
}
