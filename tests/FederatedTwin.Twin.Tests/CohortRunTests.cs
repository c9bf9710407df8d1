using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>
/// The twin's given-cohort entry point (<see cref="ScenarioRunner.RunOnCohort"/>, the facility twin's engine, issue 21): the
/// same replicate loop as the composition path, scenario files parsed for a given cohort, and exact pairing.
/// </summary>
[Trait("Category", "Twin")]
public sealed class CohortRunTests
{
    private const string Scenario = """
        name: cohort-run
        start_year: 2027
        horizon: 3
        population: 3000
        replicates: 4
        seed: 11
        interventions:
          - name: care-management
            target:
              condition: heart_failure
            coverage: [0.5]
            cost_pmpm: 100
            effects:
              - outcome: admissions
                relative_risk: { estimate: 0.8, ci95: [0.7, 0.9] }
        """;

    private const string ZeroEffect = """
        name: zero-effect
        replicates: 5
        seed: 3
        interventions:
          - name: nothing
            coverage: [1.0]
            effects:
              - outcome: admissions
                relative_risk: 1.0
              - outcome: ed_visits
                relative_risk: 1.0
              - outcome: death
                odds_ratio: 1.0
              - outcome: onset:diabetes
                odds_ratio: 1.0
        """;

    [Fact]
    public void On_the_composition_cohort_it_is_the_scenario_runners_run()
    {
        // The refactor's check: both entry points share one loop, so the given-cohort path on the cohort the composition path
        // draws reproduces its every mean and interval.
        var scenario = ScenarioParser.Parse(Scenario);
        var result = ScenarioRunner.RunScenario(scenario);
        var cohort = Cohort.FromComposition(DemoModels.Composition(), scenario.Models, scenario.Population, scenario.Seed, scenario.StartYear);
        var run = ScenarioRunner.RunOnCohort(scenario, cohort);
        Assert.Equal(4, run.Replicates);
        for (var t = 0; t < scenario.Horizon; t++)
        {
            var rows = result.Years[scenario.StartYear + t].ToDictionary(r => r.Measure);
            Assert.Equal(rows["bed_days"].Baseline, run.BaselineOf(t, y => y[Metric.BedDays]));
            Assert.Equal(rows["bed_days"].Scenario, run.ScenarioOf(t, y => y[Metric.BedDays]));
            Assert.Equal(rows["bed_days"].Difference, run.DifferenceOf(t, y => y[Metric.BedDays]));
            Assert.Equal(rows["deaths"].Difference, run.DifferenceOf(t, y => y[Metric.Deaths]));
            Assert.Equal(rows["total_cost_of_care"].Scenario, run.ScenarioOf(t, y => y[Metric.TotalCost]));
        }

        Assert.True(run.DifferenceOf(0, y => y[Metric.Admissions]).Mean < 0, "the intervention lowers admissions");
        Assert.Equal(result.UncertaintySources, run.UncertaintySources);
    }

    [Fact]
    public void A_zero_effect_scenario_gives_exactly_zero_differences()
    {
        var models = ModelSet.Demo();
        var cohort = Cohort.FromComposition(DemoModels.Composition(), models, 4000, 5, 2026);
        var scenario = ScenarioParser.ParseForCohort(ZeroEffect, models, 2026, 3, cohort.Count, out var ignored);
        Assert.Empty(ignored);
        var run = ScenarioRunner.RunOnCohort(scenario, cohort);
        for (var r = 0; r < run.Replicates; r++)
        {
            Assert.NotSame(run.Baseline[r], run.Scenario[r]); // the scenario really ran (it has an intervention)
            for (var t = 0; t < 3; t++)
            {
                Assert.True(run.Scenario[r][t][Metric.Enrolled] > 0, "everyone eligible is enrolled");
                foreach (var m in Enum.GetValues<Metric>().Where(m => m is not Metric.Enrolled))
                {
                    Assert.Equal(run.Baseline[r][t][m], run.Scenario[r][t][m]);
                }
            }
        }
    }

    [Fact]
    public void A_scenario_file_for_a_given_cohort_names_the_fields_it_does_not_use()
    {
        var models = ModelSet.Demo();
        var scenario = ScenarioParser.ParseForCohort(Scenario + "\nmodels: demo\n", models, 2027, 2, 1234, out var ignored);
        Assert.Equal(["start_year", "horizon", "population", "models"], ignored);
        Assert.Equal(2027, scenario.StartYear);
        Assert.Equal(2, scenario.Horizon);
        Assert.Equal(1234, scenario.Population);
        Assert.Equal(4, scenario.Replicates);
        Assert.Equal(11u, scenario.Seed);
        Assert.Single(scenario.Interventions);
        Assert.Same(models, scenario.Models);
        Assert.Equal("tyop", Assert.Throws<ScenarioFileException>(() => ScenarioParser.ParseForCohort(ZeroEffect + "\ntyop: 1\n", models, 2027, 2, 1234, out _)).Field);
        // Interventions are checked against the given years: one starting after the horizon is refused.
        Assert.Throws<ScenarioFileException>(() => ScenarioParser.ParseForCohort(Scenario.Replace("coverage: [0.5]", "coverage: [0.5]\n    start_year: 2031"), models, 2027, 2, 1234, out _));
    }

    [Fact]
    public void A_given_cohort_is_not_changed_by_a_run_and_starts_at_its_feature_year()
    {
        var models = ModelSet.Demo();
        var cohort = Cohort.FromComposition(DemoModels.Composition(), models, 2000, 9, 2026);
        var given = new Cohort(cohort.Count, 2025);
        cohort.CopyTo(given);
        Assert.Equal(2025, given.FeatureYear);
        var before = given.Age.ToArray();
        var scenario = new ScenarioDefinition("baseline", 1, given.Count, 2026, 2, 3, models, [], null);
        var run = ScenarioRunner.RunOnCohort(scenario, given);
        Assert.Equal(before, given.Age);
        Assert.Equal(2025, given.FeatureYear);
        Assert.Equal(given.Count, run.Baseline[0][0][Metric.PersonYears]);
    }
}
