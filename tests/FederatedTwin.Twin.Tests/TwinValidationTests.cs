using System.Text.Json;
using FederatedTwin.Analytics.Census;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Analytics.Studies;
using FederatedTwin.Protocol.Federation;
using FederatedTwin.Twin.Simulation;
using FederatedTwin.Twin.Validation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The back-test's comparison (issue 20, `ftwin twin validate`): the interval of what the federation would publish (the
/// replicates' spread plus the observation's DP noise), containment, suppressed observations left out, the JSON's shape;
/// and the federated-outcomes study it compares with (DP required, its true ρ, clipping, small counts suppressed).
/// </summary>
public sealed class TwinValidationTests
{
    [Fact]
    public void Without_noise_the_interval_is_the_replicates_own_2_5_and_97_5_percentiles()
    {
        var (lower, upper) = ValidationComparison.Interval([.. Enumerable.Range(0, 101).Select(i => (double)i)], 0);
        Assert.Equal(2.5, lower, 9);
        Assert.Equal(97.5, upper, 9);
    }

    [Fact]
    public void The_observations_DP_noise_widens_the_interval_by_its_variance()
    {
        // Every replicate predicts 10: the interval is then that of the noise alone, 10 ± 1.96σ.
        var (lower, upper) = ValidationComparison.Interval([.. Enumerable.Repeat(10.0, 50)], 2);
        Assert.Equal(10 - (1.959964 * 2), lower, 4);
        Assert.Equal(10 + (1.959964 * 2), upper, 4);

        // Replicates spread as N(10, 3²) (their quantiles), with noise σ = 4: about 10 ± 1.96·5.
        var spread = Enumerable.Range(1, 999).Select(i => 10 + (3 * MathNet.Numerics.Distributions.Normal.InvCDF(0, 1, i / 1000.0))).ToArray();
        var (l, u) = ValidationComparison.Interval(spread, 4);
        Assert.Equal(10 - (1.959964 * 5), l, 1);
        Assert.Equal(10 + (1.959964 * 5), u, 1);
        var (l0, u0) = ValidationComparison.Interval(spread, 0);
        Assert.True(l < l0 && u > u0);
    }

    [Fact]
    public void The_observed_rate_is_the_ratio_of_two_noisy_sums_and_its_noise_sd_the_delta_method()
    {
        var observed = Observed(new() { ["patient_years"] = 2000, ["deaths"] = 30 }, denominatorSd: 2, numeratorSd: 3);
        var deaths = ValidationComparison.Outcomes.Single(o => o.Name == "deaths_per_1000");
        var (value, sd) = ValidationComparison.Observed(observed, deaths, 2023)!.Value;
        Assert.Equal(15, value, 9);
        Assert.Equal(1000 * Math.Sqrt(9 + (0.015 * 0.015 * 4)) / 2000, sd, 9);
    }

    [Fact]
    public void Rows_compare_each_published_outcome_year_and_leave_a_suppressed_observation_out()
    {
        var observed = Observed(new() { ["patient_years"] = 1000, ["admitted"] = 80, ["ed_visits"] = 300, ["deaths"] = null, ["new_onsets"] = 70, ["cost"] = 4_000_000 });
        var runs = Enumerable.Range(0, 40).Select(r => new[] { Totals(1000, 75 + (r % 10), 250 + r, 10, 80, 4_100_000), Totals(990, 80, 260, 12, 75, 4_000_000) }).ToList();
        var v = ValidationComparison.Compare(2022, 1000, runs, observed, "test");

        // 2024 has no observation at all (the study covers 2023 only); deaths of 2023 are suppressed.
        Assert.Equal(["people_admitted_per_1000", "ed_visits_per_1000", "new_onsets_per_1000", "pmpm"], v.Rows.Select(r => r.Outcome));
        Assert.All(v.Rows, r => Assert.Equal(2023, r.Year));
        Assert.Equal(["deaths_per_1000 2023"], v.Suppressed);
        var admitted = v.Rows[0];
        Assert.Equal(80, admitted.Observed, 9);
        Assert.Equal(79.5, admitted.Predicted, 9);
        Assert.True(admitted.Contains);
        var ed = v.Rows[1];
        Assert.False(ed.Contains, $"300 per 1,000 is outside [{ed.Lower}, {ed.Upper}]"); // replicates 250-289, noise SD about 1
        Assert.Equal(4_000_000 / 1000.0 / 12, v.Rows[3].Observed, 9);
        Assert.False(v.Rows[3].Contains, "every replicate predicts 341.67 PMPM and the noise SD is a tenth of a cent: 333.33 is outside");
        Assert.Equal(1, v.Inside);
    }

    [Fact]
    public void The_json_is_numbers_only_with_no_null_and_reads_back()
    {
        var observed = Observed(new() { ["patient_years"] = 1000, ["admitted"] = 80, ["ed_visits"] = 300, ["deaths"] = null, ["new_onsets"] = 70, ["cost"] = 4_000_000 });
        var runs = Enumerable.Range(0, 40).Select(r => new[] { Totals(1000, 75 + (r % 10), 290 + r, 10, 70, 4_000_000 + (1000 * r)) }).ToList();
        var v = ValidationComparison.Compare(2022, 1000, runs, observed, "test");
        var json = v.ToJson();
        Assert.DoesNotContain("null", json, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(2022, doc.RootElement.GetProperty("cutoff_year").GetInt32());
        foreach (var row in doc.RootElement.GetProperty("rows").EnumerateArray())
        {
            foreach (var field in new[] { "year", "predicted", "lower", "upper", "observed" })
            {
                Assert.Equal(JsonValueKind.Number, row.GetProperty(field).ValueKind);
            }
        }

        Assert.Equal(v.Rows, TwinValidation.FromJson(json).Rows);
        Assert.Throws<FormatException>(() => TwinValidation.FromJson("{\"rows\": []}"));
    }

    [Fact]
    public void The_outcomes_study_requires_dp_and_its_true_rho_is_within_1_percent_of_the_stated()
    {
        Assert.Equal("parameters.dp_rho", Assert.Throws<StudyFileException>(() => OutcomeTotalsStudy.Parse(Spec(rho: null))).Field);
        Assert.Equal("parameters.to_year", Assert.Throws<StudyFileException>(() => OutcomeTotalsStudy.Parse(Spec(rho: "1", to: "2030"))).Field);
        var study = OutcomeTotalsStudy.Parse(Spec(rho: "1"));
        Assert.Equal(2, study.MinHonestNodes);
        var account = study.Account(3);
        Assert.True(account.Holds, account.Describe());
        // Each of the 6 measures spends ρ/6 on its 2 years: σ² = B²·2·6/(2ρ); cost's bound is $100,000.
        Assert.Equal(100_000 * Math.Sqrt(6), study.NoiseSd(5), 6);
        Assert.Equal(Math.Sqrt(6), study.NoiseSd(0), 9);
    }

    [Fact]
    public void A_contribution_is_clipped_and_a_row_without_an_observed_next_year_counts_nowhere()
    {
        var study = OutcomeTotalsStudy.Parse(Spec(rho: "1"));
        var row = new Dictionary<string, double?>
        {
            ["outcome_observed"] = 1, ["admission_next_year"] = 1, ["ed_visits_next_year"] = 45, ["death_next_year"] = 0, ["cost_next_year"] = 250_000.4,
            ["onset_diabetes_next_year"] = 1, ["onset_copd_next_year"] = 1, ["onset_cad_next_year"] = 1, ["onset_cancer_next_year"] = 1,
        };
        Assert.Equal([1, 1, 20, 0, 3, 100_000], study.Contribution(row)!);
        row["outcome_observed"] = 0;
        Assert.Null(study.Contribution(row));
    }

    [Fact]
    public void Publishing_suppresses_small_counts_and_every_measure_of_a_year_with_a_small_denominator()
    {
        var study = OutcomeTotalsStudy.Parse(Spec(rho: "1"));
        // Vector order: measure-major, years 2023 and 2024.
        double[] sums = [1000, 8, /* admitted */ 80, 5, /* ed */ 300, 4, /* deaths */ 9.6, 1, /* onsets */ 70, 2, /* cost */ 4e6, 3e4];
        var published = OutcomeTotalsStudyResult.Publish(study, sums);
        Assert.Equal(80, published.Get("admitted", 2023)!.Value);
        Assert.Null(published.Get("deaths", 2023)!.Value); // 9.6 < 11
        Assert.Equal(300, published.Get("ed_visits", 2023)!.Value);
        Assert.All(OutcomeTotalsStudy.Measures, m => Assert.Null(published.Get(m, 2024)!.Value)); // 8 patient-years
        Assert.Equal(study.NoiseSd(4), published.Get("new_onsets", 2023)!.NoiseSd);
        var parsed = Assert.IsType<OutcomeTotalsStudyResult>(StudyResult.Parse(published.ToJson()));
        Assert.Equal(published.Outcomes, parsed.Outcomes);
    }

    private static StudySpec Spec(string? rho, string to = "2024")
    {
        var p = new Dictionary<string, string>(StringComparer.Ordinal) { ["from_year"] = "2023", ["to_year"] = to };
        if (rho is not null)
        {
            p["dp_rho"] = rho;
            p["dp_min_honest_nodes"] = "2";
        }

        return new StudySpec(new StudyId("observed"), OutcomeTotalsStudy.AlgorithmName, new PurposeOfUse("HOPERAT"), 3, 3, 1, 60, null, p);
    }

    private static OutcomeTotalsStudyResult Observed(Dictionary<string, double?> values, double denominatorSd = 1, double numeratorSd = 1) =>
        new(OutcomeTotalsStudy.AlgorithmName, 2023, 2023, 11, 1,
            [.. values.Select(p => new OutcomeTotal(2023, p.Key, p.Value, p.Key == "patient_years" ? denominatorSd : numeratorSd))]);

    private static YearTotals Totals(double people, double admitted, double ed, double deaths, double onsets, double cost)
    {
        var y = new YearTotals();
        y[Metric.PersonYears] = people;
        y[Metric.Admitted] = admitted;
        y[Metric.EdVisits] = ed;
        y[Metric.Deaths] = deaths;
        y[Metric.NewOnsets] = onsets;
        y[Metric.TotalCost] = cost;
        return y;
    }
}
