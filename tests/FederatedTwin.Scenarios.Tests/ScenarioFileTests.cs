using FederatedTwin.Scenarios.Scenarios;
using FederatedTwin.Scenarios.Twin;

namespace FederatedTwin.Scenarios.Tests;

public class ScenarioFileTests
{
    private static readonly TwinModelSet Models = DemoModels.Create();

    private const string Valid = """
        name: test
        start_year: 2027
        horizon: 3
        population: 5000
        replicates: 3
        interventions:
          - name: chf
            target:
              condition: chf
              risk: { model: demo/admissions@1, min: 0.1, max: 1.0 }
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

    private static ScenarioFileException Error(string yaml) => Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(yaml, Models));

    [Fact]
    public void A_valid_file_parses_into_interventions_and_MSSP_terms()
    {
        var s = ScenarioParser.Parse(Valid, Models);
        Assert.Equal(3, s.Horizon);
        var x = Assert.Single(s.Interventions);
        Assert.Equal(ChronicCondition.HeartFailure, x.TargetCondition);
        Assert.Equal("demo/admissions@1", x.RiskModel!.Model.Id);
        Assert.Equal(0.6, x.Coverage(5));
        Assert.Equal(Mssp.MsspTrack.Enhanced, s.Mssp!.Track);
    }

    [Fact]
    public void Coverage_above_one_names_the_field_and_line()
    {
        var e = Error(Valid.Replace("[0.3, 0.6]", "[0.3, 1.6]", StringComparison.Ordinal));
        Assert.Equal("interventions[0].coverage[1]", e.Field);
        Assert.Equal(11, e.Line);
    }

    [Fact]
    public void Unknown_outcome_names_the_field_and_line()
    {
        var e = Error(Valid.Replace("outcome: admissions", "outcome: readmissions", StringComparison.Ordinal));
        Assert.Equal("interventions[0].effects[0].outcome", e.Field);
        Assert.Equal(14, e.Line);
        Assert.Contains("readmissions", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Negative_cost_is_rejected()
    {
        var e = Error(Valid.Replace("cost_pmpm: 100", "cost_pmpm: -5", StringComparison.Ordinal));
        Assert.Equal("interventions[0].cost_pmpm", e.Field);
        Assert.Equal(12, e.Line);
    }

    [Fact]
    public void Unknown_model_id_is_rejected()
    {
        var e = Error(Valid.Replace("demo/admissions@1", "registry/nope@3", StringComparison.Ordinal));
        Assert.Equal("interventions[0].target.risk.model", e.Field);
        Assert.Equal(10, e.Line);
    }

    [Fact]
    public void Misspelt_fields_are_errors_not_defaults()
    {
        var e = Error(Valid.Replace("cost_pmpm", "cost_pmp", StringComparison.Ordinal));
        Assert.Equal("interventions[0].cost_pmp", e.Field);
    }

    [Fact]
    public void Too_few_assigned_beneficiaries_in_MSSP_terms_is_an_error()
    {
        var e = Error(Valid.Replace("assigned_beneficiaries: 10000", "assigned_beneficiaries: 4000", StringComparison.Ordinal));
        Assert.Equal("mssp.assigned", e.Field);
    }

    [Fact]
    public void Odds_ratio_on_a_rate_outcome_is_rejected()
    {
        var e = Error(Valid.Replace("relative_risk: 0.75", "odds_ratio: 0.75", StringComparison.Ordinal));
        Assert.Contains("relative_risk", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_shipped_example_scenarios_are_valid()
    {
        var dir = Path.Combine(AppContext.BaseDirectory, "../../../../../scenarios");
        var files = Directory.GetFiles(dir, "*.yaml");
        Assert.Equal(3, files.Length);
        foreach (var f in files)
        {
            Assert.NotEmpty(ScenarioParser.Parse(File.ReadAllText(f), Models).Interventions);
        }
    }

    [Fact]
    public void Running_a_scenario_reports_paired_differences_and_settlements()
    {
        var s = ScenarioParser.Parse(Valid, Models);
        var r = new ScenarioRunner(Models, DemoModels.Composition()).Run(s);
        Assert.Equal(3, r.Settlements.Count);
        var total = r.Years[0].Single(m => m.Measure == "admissions_per_1000");
        Assert.True(total.Difference.High < 0, "a 25% admission reduction for enrolled CHF patients lowers admissions in every replicate");
        Assert.Contains("demo/admissions@1", r.ModelIds);
    }
}
