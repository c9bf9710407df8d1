using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// Risk-factor shifts (<c>risk_factor_shift: {factor, delta, model}</c>): the effect is exp(beta x delta) with beta a named
/// registry model's coefficient of a factor the twin does not simulate. The registry below holds demo models extended by
/// an hba1c or sbp term (test coefficients, not estimates); the twin runs on the demo models (fallback), as it would on a
/// registry whose models carry terms it cannot simulate.
/// </summary>
public class RiskFactorShiftTests
{
    private const int People = 30_000;
    private const double AdmissionHba1c = 0.10;
    private const double CostHba1c = 0.05;

    private static readonly IReadOnlyList<RegisteredModel> Demo = DemoModels.Registry();

    private static RegisteredModel With(string demoId, string id, string term, double beta, GlmFamily? family = null)
    {
        var m = Demo.Single(x => x.Id == demoId);
        return m with { Id = id, Terms = [.. m.Terms, new ModelTerm(term, beta)], Family = family ?? m.Family };
    }

    private static readonly NamedRegistry Hba1c = new(
    [
        With("demo/admission_next_year", "test/admission_hba1c", "hba1c", AdmissionHba1c),
        With("demo/cost_next_year", "test/cost_hba1c", "hba1c", CostHba1c),
        With("demo/ed_visits_next_year", "test/ed_hba1c", "hba1c", 0.04),
        With("demo/death_next_year", "test/death_sbp", "sbp", 0.01),
        With("demo/onset_ckd_next_year", "test/onset_ckd_hba1c", "hba1c", 0.2),
    ], []);

    private static readonly NamedRegistry Gaussian = new([With("demo/cost_next_year", "test/cost_gaussian", "hba1c", 300, GlmFamily.Gaussian)], []);

    private static readonly ScenarioParseOptions Options = new()
    {
        NamedRegistries = new Dictionary<string, NamedRegistry>(StringComparer.Ordinal) { ["hba1c"] = Hba1c, ["gaussian"] = Gaussian },
        AllowDirectories = false,
    };

    private static string Yaml(string effects, string registry = "hba1c", string coverage = "[0.7]", string target = "condition: diabetes") => $"""
        name: shift
        start_year: 2027
        horizon: 5
        population: {People}
        replicates: 2
        seed: 5
        models: {"{"} registry: {registry}, fallback: demo {"}"}
        interventions:
          - name: dsme
            target: {"{"} {target} {"}"}
            coverage: {coverage}
            cost_pmpm: 20
            effects:
        {effects}
        """;

    private const string AllShifts = """
              - outcome: admissions
                risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/admission_hba1c }
              - outcome: cost
                risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/cost_hba1c }
              - outcome: ed_visits
                risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/ed_hba1c }
              - outcome: death
                risk_factor_shift: { factor: sbp, delta: -5, model: test/death_sbp }
              - outcome: onset:ckd
                risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/onset_ckd_hba1c }
        """;

    private static ScenarioFileException Error(string yaml) => Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml, Options));

    private static (ModelSet Models, Cohort Cohort) Twin(ScenarioDefinition s) =>
        (s.Models, Cohort.FromComposition(DemoModels.Composition(), s.Models, People, seed: 5, firstYear: 2027));

    private static YearTotals[] Run(ModelSet models, Cohort cohort, IReadOnlyList<TwinIntervention> interventions, int years = 5) =>
        new TwinSimulator(models).Run(cohort, new Cohort(People), interventions, years, new DrawStream(5, 0));

    [Fact]
    public void A_shift_becomes_exp_beta_delta_on_the_odds_or_the_mean_and_names_its_model()
    {
        var s = ScenarioParser.Parse(Yaml(AllShifts), Options);
        var effects = Assert.Single(s.Interventions).Effects;
        var admission = effects.Single(e => e.Outcome == EffectOutcome.AdmissionOdds);
        Assert.Equal(Math.Exp(AdmissionHba1c * -0.5), admission.Multiplier);
        Assert.Equal(new RiskFactorShift("hba1c", -0.5, "test/admission_hba1c", AdmissionHba1c, "admissions"), admission.Shift);
        Assert.Equal(Math.Exp(CostHba1c * -0.5), effects.Single(e => e.Outcome == EffectOutcome.CostMean).Multiplier);
        Assert.Equal(Math.Exp(0.04 * -0.5), effects.Single(e => e.Outcome == EffectOutcome.EdVisits).Multiplier);
        Assert.Equal(Math.Exp(0.01 * -5), effects.Single(e => e.Outcome == EffectOutcome.Death).Multiplier);
        Assert.Equal(ChronicCondition.Ckd, effects.Single(e => e.Outcome == EffectOutcome.Onset).Condition);

        // The twin's own admission model is the demo one (the registry's has hba1c, which the twin does not simulate).
        Assert.Equal("demo/admission_next_year", s.Models.Admission.Id);
        var result = new ScenarioRunner(DemoModels.Composition()).Run(s with { Population = 5_000, Horizon = 1 }, 2);
        Assert.Equal("test/admission_hba1c", result.ModelsByOutcome["shift:dsme:admissions:hba1c"]);
        Assert.Equal("test/death_sbp", result.ModelsByOutcome["shift:dsme:death:sbp"]);
    }

    [Fact]
    public void A_zero_shift_gives_exactly_zero_paired_difference()
    {
        var s = ScenarioParser.Parse(Yaml(AllShifts.Replace("delta: -0.5", "delta: 0", StringComparison.Ordinal).Replace("delta: -5", "delta: 0", StringComparison.Ordinal)), Options);
        Assert.All(s.Interventions[0].Effects, e => Assert.Equal(1.0, e.Multiplier));
        var (models, cohort) = Twin(s);
        var baseline = Run(models, cohort, []);
        var zero = Run(models, cohort, s.Interventions);
        TwinAssert.SameOutcomes(baseline, zero);
        Assert.True(zero.Sum(y => y[Metric.Enrolled]) > 0, "the zero shift still enrolls people");
    }

    [Fact]
    public void A_larger_beneficial_shift_never_gives_smaller_savings()
    {
        // Admission odds and the cost model's mean only (mortality left out: survivors keep costing money). Exact for the
        // first simulated year (same features and draws, counts and cost monotone in the factors); over the horizon the
        // lagged utilisation features make it a statistical property, so only totals are compared.
        var s = ScenarioParser.Parse(Yaml(AllShifts[..AllShifts.IndexOf("      - outcome: ed_visits", StringComparison.Ordinal)]), Options);
        var (models, cohort) = Twin(s);
        var x = s.Interventions[0];
        var previous = Run(models, cohort, []);
        foreach (var scale in new[] { 0.25, 1.0, 2.0, 4.0, 8.0 })
        {
            var current = Run(models, cohort, [x.WithShiftScaled(scale)]);
            Assert.True(current[0][Metric.TotalCost] <= previous[0][Metric.TotalCost], $"first year, delta x {scale}");
            Assert.True(current[0][Metric.Admissions] <= previous[0][Metric.Admissions], $"first year, delta x {scale}");
            Assert.True(current[0][Metric.BedDays] <= previous[0][Metric.BedDays], $"first year, delta x {scale}");
            Assert.True(current.Sum(y => y[Metric.TotalCost]) < previous.Sum(y => y[Metric.TotalCost]), $"horizon, delta x {scale}");
            previous = current;
        }
    }

    [Fact]
    public void The_admission_shift_moves_every_enrollees_linear_predictor_by_beta_delta()
    {
        // Everyone enrolled (coverage 1, no target): P(any admission) is logistic(eta + beta x delta) for each person, so the
        // first year's people admitted must match the sum of those probabilities within Monte Carlo error (4 SE), and not
        // the baseline's (the shift is large enough to tell them apart).
        const double delta = -2.0;
        var s = ScenarioParser.Parse(Yaml($"""
                  - outcome: admissions
                    risk_factor_shift: {"{"} factor: hba1c, delta: {delta}, model: test/admission_hba1c {"}"}
            """, coverage: "[1.0]", target: "age: [0, 120]"), Options);
        var (models, cohort) = Twin(s);
        double expected = 0, variance = 0, baseline = 0;
        for (var i = 0; i < People; i++)
        {
            var eta = models.Admission.Eta(cohort.Features(i));
            var p = 1 / (1 + Math.Exp(-(eta + (AdmissionHba1c * delta))));
            expected += p;
            variance += p * (1 - p);
            baseline += 1 / (1 + Math.Exp(-eta));
        }

        var admitted = Run(models, cohort, s.Interventions, years: 1)[0][Metric.Admitted];
        var se = Math.Sqrt(variance);
        Assert.InRange(admitted, expected - (4 * se), expected + (4 * se));
        Assert.True(baseline - expected > 10 * se, "the test shift must be distinguishable from no shift");
    }

    [Theory]
    [InlineData("test/ed_hba1c", "test/nope", "interventions[0].effects[2].risk_factor_shift.model", 19, "test/admission_hba1c")] // an unknown model, with the known ones
    [InlineData("{ factor: sbp", "{ factor: hba1c", "interventions[0].effects[3].risk_factor_shift.factor", null, "has no term 'hba1c'")] // a factor the model lacks
    [InlineData("{ factor: sbp, delta: -5", "{ factor: age, delta: -5", "interventions[0].effects[3].risk_factor_shift.factor", null, "the twin simulates")] // a simulated feature
    [InlineData("model: test/cost_hba1c", "model: test/admission_hba1c", "interventions[0].effects[1].risk_factor_shift.model", null, "needs a model of cost_next_year")] // a model of another outcome
    public void A_shift_the_twin_cannot_apply_is_an_error_naming_the_field_and_why(string valid, string wrong, string field, int? line, string why)
    {
        var e = Error(Yaml(AllShifts.Replace(valid, wrong, StringComparison.Ordinal)));
        Assert.Equal(field, e.Field);
        if (line is not null)
        {
            Assert.Equal(line.Value, e.Line);
        }

        Assert.Contains(why, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gaussian_model_is_refused_with_the_reason()
    {
        var e = Error(Yaml("""
                  - outcome: cost
                    risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/cost_gaussian }
            """, registry: "gaussian"));
        Assert.Contains("identity link", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("relative_risk: 0.8\n        risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/admission_hba1c }", "give exactly one")]
    [InlineData("risk_factor_shift: { factor: hba1c, model: test/admission_hba1c }", "delta")]
    [InlineData("risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/admission_hba1c, per: year }", "per")]
    public void Malformed_shifts_are_errors(string body, string expected)
    {
        var e = Error(Yaml($"""
                  - outcome: admissions
                    {body}
            """));
        Assert.Contains(expected, e.Field + " " + e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Other_cost_takes_no_shift_and_cost_takes_no_relative_risk()
    {
        Assert.Contains("not 'other_cost'", Error(Yaml("""
                  - outcome: other_cost
                    risk_factor_shift: { factor: hba1c, delta: -0.5, model: test/cost_hba1c }
            """)).Message, StringComparison.Ordinal);
        Assert.Contains("takes only a risk_factor_shift", Error(Yaml("""
                  - outcome: cost
                    relative_risk: 0.9
            """)).Message, StringComparison.Ordinal);
    }
}
