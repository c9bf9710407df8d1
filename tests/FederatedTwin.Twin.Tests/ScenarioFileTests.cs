using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

public class ScenarioFileTests
{
    private const string Valid = """
        name: test
        start_year: 2027
        horizon: 3
        population: 5000
        replicates: 3
        interventions:
          - name: chf
            target:
              condition: heart_failure
              risk: { model: demo/admission_next_year, min: 0.1, max: 1.0 }
            coverage: [0.3, 0.6]
            cost_pmpm: 100
            effects:
              - outcome: admissions
                relative_risk: 0.75
        mssp:
          track: enhanced
          assigned_beneficiaries: 10000
          benchmark_pbpy: 12400
          quality_met: true
          msr_mlr: variable
          quality_score: 0.83
        """;

    private static ScenarioFileException Error(string yaml, ScenarioParseOptions? options = null) =>
        Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml, options));

    private static string WithModels(string models) => Valid.Replace("replicates: 3\n", $"replicates: 3\n{models}\n", StringComparison.Ordinal);

    [Fact]
    public void A_valid_file_parses_into_interventions_and_MSSP_terms()
    {
        var s = ScenarioParser.Parse(Valid);
        Assert.Equal(3, s.Horizon);
        Assert.Equal("demo", s.Models.Source);
        var x = Assert.Single(s.Interventions);
        Assert.Equal(ChronicCondition.HeartFailure, x.TargetCondition);
        Assert.Equal("demo/admission_next_year", x.RiskModel!.Id);
        Assert.Equal(0.6, x.Coverage(5));
        Assert.Equal(Mssp.MsspTrack.Enhanced, s.Mssp!.Track);
    }

    [Theory]
    [InlineData("[0.3, 0.6]", "[0.3, 1.6]", "interventions[0].coverage[1]", 11, null)] // coverage above one
    [InlineData("outcome: admissions", "outcome: readmissions", "interventions[0].effects[0].outcome", 14, "readmissions")] // an unknown outcome
    [InlineData("condition: heart_failure", "condition: chf", "interventions[0].target.condition", null, "heart_failure")] // the old condition names are unknown
    [InlineData("cost_pmpm: 100", "cost_pmpm: -5", "interventions[0].cost_pmpm", 12, null)] // a negative cost
    [InlineData("demo/admission_next_year", "registry/nope@3", "interventions[0].target.risk.model", 10, "registry/nope@3")] // an unknown model id
    [InlineData("cost_pmpm", "cost_pmp", "interventions[0].cost_pmp", null, null)] // a misspelt field is an error, not a default
    public void A_wrong_value_is_an_error_naming_the_field_and_its_line(string valid, string wrong, string field, int? line, string? named)
    {
        var e = Error(Valid.Replace(valid, wrong, StringComparison.Ordinal));
        Assert.Equal(field, e.Field);
        if (line is not null)
        {
            Assert.Equal(line.Value, e.Line);
        }

        if (named is not null)
        {
            Assert.Contains(named, e.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_risk_band_may_name_the_twin_outcome_instead_of_a_registry_id()
    {
        var s = ScenarioParser.Parse(Valid.Replace("model: demo/admission_next_year", "model: admission", StringComparison.Ordinal));
        Assert.Equal("demo/admission_next_year", s.Interventions[0].RiskModel!.Id);
        var death = ScenarioParser.Parse(Valid.Replace("model: demo/admission_next_year", "model: death", StringComparison.Ordinal));
        Assert.Equal("demo/death_next_year", death.Interventions[0].RiskModel!.Id);
    }

    [Fact]
    public void A_gaussian_model_cannot_define_a_risk_band()
    {
        using var registry = new TempDirectory("ftwin-scen-");
        var dir = registry.DemoRegistry(m => m.Outcome == "cost_next_year" ? m with { Family = Analytics.Glm.GlmFamily.Gaussian } : m);
        var e = Error(Valid.Replace("demo/admission_next_year", "demo/cost_next_year", StringComparison.Ordinal), new ScenarioParseOptions { ModelsOverride = dir });
        Assert.Equal("interventions[0].target.risk.model", e.Field);
        Assert.Contains("gaussian", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Low_revenue_BASIC_terms_without_the_agreement_start_year_name_the_field()
    {
        var basic = Valid.Replace("track: enhanced", "track: basic-a", StringComparison.Ordinal)
            .Replace("  msr_mlr: variable\n", "", StringComparison.Ordinal)
            .Replace("quality_score: 0.83", "low_revenue: true", StringComparison.Ordinal);
        var e = Error(basic);
        Assert.Equal("mssp.agreement_start_year", e.Field);
        var ok = ScenarioParser.Parse(basic.Replace("low_revenue: true", "low_revenue: true\n  agreement_start_year: 2024", StringComparison.Ordinal));
        Assert.Equal(2024, ok.Mssp!.AgreementStartYear);
    }

    [Fact]
    public void Too_few_assigned_beneficiaries_in_MSSP_terms_is_an_error()
    {
        var e = Error(Valid.Replace("assigned_beneficiaries: 10000", "assigned_beneficiaries: 4000", StringComparison.Ordinal));
        Assert.Equal("mssp.assigned_beneficiaries", e.Field);
    }

    [Fact]
    public void Odds_ratio_on_a_rate_outcome_is_rejected()
    {
        var e = Error(Valid.Replace("relative_risk: 0.75", "odds_ratio: 0.75", StringComparison.Ordinal));
        Assert.Contains("relative_risk", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Models_may_name_a_registry_directory_relative_to_the_scenario_file()
    {
        var scenarioDir = Path.GetDirectoryName(ModelSetTests.DemoRegistryDirectory)!;
        var s = ScenarioParser.Parse(WithModels("models: DemoRegistry"), new ScenarioParseOptions { BaseDirectory = scenarioDir });
        Assert.Equal(ModelSetTests.DemoRegistryDirectory, s.Models.Source);
        Assert.Equal("demo/admission_next_year", s.Models.Admission.Id);
    }

    [Theory]
    [InlineData("models: no/such/registry", "models", 6, "does not exist")] // a registry directory that does not exist
    [InlineData("models:\n  registry: demo\n  use:\n    death: glm/death_next_year/nope", "models.use.death", 9, "glm/death_next_year/nope")] // a use entry with an unknown model id
    public void A_models_section_naming_what_is_not_there_is_an_error_naming_its_field_and_line(string models, string field, int line, string named)
    {
        var e = Error(WithModels(models));
        Assert.Equal(field, e.Field);
        Assert.Equal(line, e.Line);
        Assert.Contains(named, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_outcome_without_a_model_names_the_models_field_and_line()
    {
        using var registry = new TempDirectory("ftwin-scen-");
        var dir = registry.DemoRegistry(m => m.Outcome == "ed_visits_next_year" ? null : m);
        var e = Error(WithModels($"models:\n  registry: {dir}"));
        Assert.Equal("models.registry", e.Field);
        Assert.Equal(7, e.Line);
        Assert.Contains("outcome 'ed_visits' has no model", e.Message, StringComparison.Ordinal);

        // --models replaces the file's registry: the same error, from the override.
        var viaOverride = Error(Valid, new ScenarioParseOptions { ModelsOverride = dir });
        Assert.Contains("(--models)", viaOverride.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unit_costs_in_the_file_reach_the_model_set_and_are_validated()
    {
        var s = ScenarioParser.Parse(WithModels("models:\n  registry: demo\n  unit_costs: { inpatient_stay: 15000, emergency: 1200 }\n  other_cost_log_sd: 0.5"));
        Assert.Equal(new TwinParameters(15_000, 2_500, 1_200, 0.5), s.Models.Parameters);
        var e = Error(WithModels("models:\n  registry: demo\n  unit_costs:\n    inpatient_day: -3"));
        Assert.Equal("models.unit_costs.inpatient_day", e.Field);
        Assert.Equal(9, e.Line);
    }

    [Fact]
    public void The_shipped_example_scenarios_are_valid()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "../../../../../scenarios");
        var files = Directory.GetFiles(dir, "*.yaml");
        Assert.Equal(4, files.Length);
        foreach (var f in files)
        {
            Assert.NotEmpty(ScenarioParser.Parse(File.ReadAllText(f), new ScenarioParseOptions { BaseDirectory = dir }).Interventions);
        }
    }

    [Fact]
    public void Running_a_scenario_reports_paired_differences_settlements_and_the_models_used()
    {
        var s = ScenarioParser.Parse(Valid);
        var r = new ScenarioRunner(DemoModels.Composition()).Run(s);
        Assert.Equal(3, r.Settlements.Count);
        var total = r.Years[0].Single(m => m.Measure == "admissions_per_1000");
        Assert.True(total.Difference.High < 0, "a 25% admission reduction for enrolled CHF patients lowers admissions in every replicate");
        Assert.Equal("demo/admission_next_year", r.ModelsByOutcome["admission"]);
        Assert.Equal("demo/admission_next_year", r.ModelsByOutcome["risk:chf"]);
        Assert.Equal("demo/onset_dementia_next_year", r.ModelsByOutcome["onset:dementia"]);
        Assert.Equal(16, r.ModelIds.Count);
        Assert.Equal("demo", r.ModelSource);
    }
}
