using FederatedTwin.Twin.Mssp;
using FederatedTwin.Twin.Scenarios;
using FederatedTwin.Twin.Simulation;

namespace FederatedTwin.Twin.Tests;

/// <summary>The settlement applies the rules of its performance year (issue 20): tracks offered, quality scaling, sequestration.</summary>
public sealed class PerformanceYearRulesTests
{
    private static SettlementInput Input(MsspTrack track, int year, decimal expenditure, bool met = true, decimal? score = 0.9m, MsrMlrChoice? msrMlr = null,
        decimal reduction = 0m, decimal? revenue = null) =>
        new(track, new AssignedBeneficiaries(20_000), 10_000m, expenditure, met, score, MsrMlr: msrMlr, ParticipantRevenue: revenue, PerformanceYear: year, LossReduction: reduction);

    [Fact]
    public void Track_1_in_2018_shares_half_times_quality_less_sequestration()
    {
        // 20,000 x 1,000 = 20,000,000 savings (10% >= MSR 2.5%); 50% x 0.9 = 45%; the 2018 payment was made in 2019: x 0.98.
        var r = MsspSettlement.Settle(Input(MsspTrack.Track1, 2018, 9_000m));
        Assert.Equal(0.45m, r.SharingRate);
        Assert.Equal(20_000_000m * 0.45m * 0.98m, r.SharedSavings);
        Assert.Equal((2018, 2018, 0.98m), (r.PerformanceYear, r.RulesOfYear, r.PaymentAfterSequestration));
    }

    [Fact]
    public void Payments_for_2019_and_2020_were_not_sequestered_and_2021_shares_the_full_rate_when_quality_is_met()
    {
        Assert.Equal(20_000_000m * 0.40m * 0.9m, MsspSettlement.Settle(Input(MsspTrack.BasicA, 2019, 9_000m)).SharedSavings);
        Assert.Equal(20_000_000m * 0.40m * 0.9m, MsspSettlement.Settle(Input(MsspTrack.BasicA, 2020, 9_000m)).SharedSavings);
        Assert.Equal(20_000_000m * 0.40m * 0.98m, MsspSettlement.Settle(Input(MsspTrack.BasicA, 2021, 9_000m)).SharedSavings);
    }

    [Fact]
    public void The_alternative_standard_sliding_scale_exists_from_2023_only()
    {
        Assert.Equal(0m, MsspSettlement.Settle(Input(MsspTrack.BasicA, 2022, 9_000m, met: false, score: 0.8m)).SharedSavings);
        Assert.Equal(20_000_000m * 0.40m * 0.8m * 0.98m, MsspSettlement.Settle(Input(MsspTrack.BasicA, 2023, 9_000m, met: false, score: 0.8m)).SharedSavings);
    }

    [Fact]
    public void A_track_is_settled_only_in_the_years_it_was_offered()
    {
        Assert.Equal("track", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.Track1, 2022, 9_000m))).Field);
        Assert.Equal("track", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.BasicA, 2018, 9_000m))).Field);
        Assert.Equal("performance-year", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.Track1, 2017, 9_000m))).Field);
        Assert.Equal("quality-score", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.BasicA, 2019, 9_000m, score: null))).Field);
    }

    [Fact]
    public void A_year_after_the_latest_known_settles_under_the_latest_rules_and_says_so()
    {
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 2028, 9_000m));
        Assert.Equal((2028, PerformanceYearRules.Latest), (r.PerformanceYear, r.RulesOfYear));
        Assert.Contains(r.Rules, a => a.Quantity == "rule_set" && a.Rule.Contains("latest", StringComparison.Ordinal));
    }

    [Fact]
    public void Track_2_losses_are_one_minus_the_final_sharing_rate_and_the_reduction_lowers_them()
    {
        // 2018 Track 2: losses 5% of 200,000,000 = 10,000,000 at 1 - 0.6 x 0.9 = 46% = 4,600,000, less a 600,000 reduction.
        var r = MsspSettlement.Settle(Input(MsspTrack.Track2, 2018, 10_500m, msrMlr: MsrMlrChoice.Fixed(0.02m), reduction: 600_000m));
        Assert.Equal(0.46m, r.LossRate);
        Assert.Equal(4_000_000m, r.SharedLosses);
        Assert.Equal(600_000m, r.LossReduction);
        var all = MsspSettlement.Settle(Input(MsspTrack.Track2, 2018, 10_500m, msrMlr: MsrMlrChoice.Fixed(0.02m), reduction: 9_000_000m));
        Assert.Equal((0m, 4_600_000m), (all.SharedLosses, all.LossReduction));
    }

    [Fact]
    public void The_scenario_engine_settles_each_simulated_year_under_that_years_rules()
    {
        const string Yaml = """
            name: rule-years
            start_year: 2019
            horizon: 3
            population: 2000
            replicates: 2
            interventions:
              - name: chf
                target: { condition: heart_failure }
                coverage: [0.5]
                effects:
                  - outcome: admissions
                    relative_risk: 0.8
            mssp:
              track: track-3
              assigned_beneficiaries: 10000
              benchmark_pbpy: 12400
              quality_met: true
              msr_mlr: 0.02
              quality_score: 0.9
            """;
        var r = new ScenarioRunner(DemoModels.Composition()).Run(ScenarioParser.Parse(Yaml));
        Assert.Equal([2019, 2020, 2021], r.Settlements.Select(s => s.Year));
        Assert.Equal([2019, 2020, 2021], r.Settlements.Select(s => s.Baseline.RulesOfYear));
        Assert.Equal([1m, 1m, 0.98m], r.Settlements.Select(s => s.Baseline.PaymentAfterSequestration));
        Assert.Equal([0.675m, 0.675m, 0.75m], r.Settlements.Select(s => s.Baseline.SharingRate));

        // Track 3 ended with 2021: a horizon into 2022 is refused at parse time, naming the field.
        var e = Assert.Throws<ScenarioFileException>(() => ScenarioParser.Parse(Yaml.Replace("horizon: 3", "horizon: 4", StringComparison.Ordinal)));
        Assert.Equal("mssp.track", e.Field);
    }
}
