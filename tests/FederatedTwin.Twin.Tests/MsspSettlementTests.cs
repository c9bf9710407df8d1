using FederatedTwin.Twin.Mssp;

namespace FederatedTwin.Twin.Tests;

// Hand-computed examples following 42 CFR 425.604-425.610 (CFR text checked in eCFR snapshots, docs/scenarios.md "Source
// status"). These are NOT CMS's published worked examples: copies of the CMS "Medicare Shared Savings Program Shared Savings
// and Losses and Assignment Methodology Specifications" were located (Version 3 Dec 2014, Version 7 Feb 2019, Version 8
// Aug 2020, Version 9 Feb 2021, COVID-19 specifications Dec 2020; URLs in docs/scenarios.md), but the stored copies this
// project can read return only each document's title page and revision history, not the calculation sections that hold
// the examples (re-checked 2026-11-30). Each expected figure below is derived in its comment from the rule it exercises,
// and the 425.604(b) rows and 425.605(h) cases reproduce the CFR text itself.
public class MsspSettlementTests
{
    private static SettlementInput Input(MsspTrack track, int assigned, decimal benchmark, decimal expenditure, bool quality = true,
        MsrMlrChoice? msrMlr = null, decimal? revenue = null, decimal? score = null, bool lowRevenue = false, int? agreementStart = null) =>
        new(track, new AssignedBeneficiaries(assigned), benchmark, expenditure, quality, score, lowRevenue, msrMlr, revenue, agreementStart);

    [Fact]
    public void Basic_A_savings_above_the_MSR_are_shared_at_40_percent_from_the_first_dollar()
    {
        // 10,000 assigned -> MSR 3.0% (425.604(b)); savings 600 x 10,000 = 6,000,000 = 5% of 120,000,000; 40% -> 2,400,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 12_000m, 11_400m));
        Assert.Equal(120_000_000m, r.BenchmarkTotal);
        Assert.Equal(114_000_000m, r.ExpenditureTotal);
        Assert.Equal(6_000_000m, r.GrossSavings);
        Assert.Equal(0.05m, r.SavingsRate);
        Assert.Equal(0.030m, r.Msr);
        Assert.Null(r.Mlr);
        Assert.Equal(0.40m, r.SharingRate);
        Assert.Equal(2_400_000m * 0.98m, r.SharedSavings); // the PY2025 payment is made in 2026, under the 2% sequestration
        Assert.False(r.CapApplied);
    }

    [Fact]
    public void Savings_below_the_MSR_earn_nothing()
    {
        // Savings rate 2% < MSR 3.0% at 10,000 assigned.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicB, 10_000, 12_000m, 11_760m));
        Assert.Equal(0.02m, r.SavingsRate);
        Assert.Equal(0m, r.SharedSavings);
        Assert.Equal("savings_below_msr", r.Outcome);
    }

    [Fact]
    public void Enhanced_loss_rate_is_one_minus_75_percent_of_the_quality_score()
    {
        // 425.610(f)(4): quality score 73.85% -> 1 - 0.75 x 0.7385 = 0.446125; losses 10,000,000 -> 4,461,250.
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 20_000, 10_000m, 10_500m, score: 0.7385m, msrMlr: MsrMlrChoice.Fixed(0.02m)));
        Assert.Equal(0.446125m, r.LossRate);
        Assert.Equal(4_461_250m, r.SharedLosses);
        Assert.Equal(0.75m, r.SharingRate);
    }

    [Fact]
    public void Enhanced_loss_year_with_quality_met_shares_losses_at_the_40_percent_floor()
    {
        // Losses 500 x 20,000 = 10,000,000 = 5% >= MLR 2%; score 0.90: 1 - 0.675 = 0.325 -> floor 0.40 -> 4,000,000 (< 15% cap of 30,000,000).
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 20_000, 10_000m, 10_500m, score: 0.90m, msrMlr: MsrMlrChoice.Fixed(0.02m)));
        Assert.Equal(-10_000_000m, r.GrossSavings);
        Assert.Equal(0.02m, r.Mlr);
        Assert.Equal(0.40m, r.LossRate);
        Assert.Equal(4_000_000m, r.SharedLosses);
        Assert.Equal(0m, r.SharedSavings);
        Assert.False(r.CapApplied);
    }

    [Fact]
    public void Enhanced_loss_year_without_quality_uses_the_75_percent_ceiling()
    {
        // Sharing rate 0 -> 1 - 0 = 1, bounded to 0.75; 0.75 x 10,000,000 = 7,500,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 20_000, 10_000m, 10_500m, quality: false, msrMlr: MsrMlrChoice.Fixed(0.02m)));
        Assert.Equal(0.75m, r.LossRate);
        Assert.Equal(7_500_000m, r.SharedLosses);
    }

    [Fact]
    public void Basic_C_losses_are_capped_at_the_lesser_of_revenue_and_benchmark_shares()
    {
        // Losses 5,000,000; 30% -> 1,500,000; cap = min(1% x 100,000,000, 2% x 30,000,000) = 600,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicC, 10_000, 10_000m, 10_500m, msrMlr: MsrMlrChoice.Fixed(0m), revenue: 30_000_000m));
        Assert.Equal(0.30m, r.LossRate);
        Assert.Equal(600_000m, r.SharedLosses);
        Assert.True(r.CapApplied);
    }

    [Fact]
    public void Losses_below_the_MLR_are_not_shared()
    {
        // Losses 1% < MLR 2%.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicE, 10_000, 10_000m, 10_100m, msrMlr: MsrMlrChoice.Fixed(0.02m), revenue: 1e9m));
        Assert.Equal(0m, r.SharedLosses);
    }

    [Fact]
    public void Enhanced_savings_are_limited_to_20_percent_of_the_benchmark()
    {
        // Savings 30,000,000 x 0.75 = 22,500,000 > 20% x 100,000,000 = 20,000,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 10_000, 10_000m, 7_000m, score: 0.9m, msrMlr: MsrMlrChoice.Variable));
        Assert.Equal(20_000_000m, r.SharedSavings);
        Assert.True(r.CapApplied);
    }

    [Fact]
    public void Sliding_scale_scales_the_sharing_rate_and_the_enhanced_loss_rate()
    {
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 10_000, 10_000m, 9_000m, quality: false, score: 0.8m, msrMlr: MsrMlrChoice.Fixed(0m)));
        Assert.Equal(0.60m, r.SharingRate);
        Assert.Equal(6_000_000m * 0.98m, r.SharedSavings); // 2% sequestration of the payment
        Assert.Equal(0.40m, r.LossRate);
    }

    [Theory]
    [InlineData(5_000, "0.039")]
    [InlineData(5_999, "0.036")]
    [InlineData(10_000, "0.030")]
    [InlineData(59_999, "0.020")]
    [InlineData(60_000, "0.020")]
    [InlineData(1_000_000, "0.020")]
    public void MSR_table_end_points(int assigned, string expected) =>
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), MinimumSavingsRate.ForAssigned(new AssignedBeneficiaries(assigned)));

    [Fact]
    public void MSR_is_interpolated_within_a_band() =>
        // Midpoint-ish of 20,000-49,999: 0.025 - (15,000/29,999) x 0.003.
        Assert.Equal(0.025m - (15_000m / 29_999m * 0.003m), MinimumSavingsRate.ForAssigned(new AssignedBeneficiaries(35_000)));

    [Fact]
    public void Fewer_than_5000_assigned_is_an_error_naming_the_field() =>
        Assert.Equal("assigned", Assert.Throws<MsspInputException>(() => new AssignedBeneficiaries(4_999)).Field);

    [Fact]
    public void Two_sided_tracks_need_an_MSR_MLR_choice() =>
        Assert.Equal("msr-mlr", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.Enhanced, 10_000, 10_000m, 9_000m, score: 0.8m))).Field);

    [Fact]
    public void Enhanced_with_the_standard_met_needs_the_quality_score() =>
        Assert.Equal("quality-score", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.Enhanced, 10_000, 10_000m, 9_000m, msrMlr: MsrMlrChoice.Variable))).Field);

    [Fact]
    public void Basic_C_to_E_need_participant_revenue() =>
        Assert.Equal("participant-revenue", Assert.Throws<MsspInputException>(() => MsspSettlement.Settle(Input(MsspTrack.BasicD, 10_000, 10_000m, 9_000m, msrMlr: MsrMlrChoice.Variable))).Field);

    [Fact]
    public void Disallowed_fixed_MSR_is_rejected() =>
        Assert.Throws<MsspInputException>(() => MsrMlrChoice.Parse("0.03"));

    // Every row of the 42 CFR 425.604(b) table, as printed in the eCFR snapshot github.com/MichalOpoka/ecfr
    // (subpart-G-Shared-Savings-Losses/section-425.604.md, commit 4be71cd5): MSR at the low and the high end of each band.
    [Theory]
    [InlineData(5_000, 5_999, "0.039", "0.036")]
    [InlineData(6_000, 6_999, "0.036", "0.034")]
    [InlineData(7_000, 7_999, "0.034", "0.032")]
    [InlineData(8_000, 8_999, "0.032", "0.031")]
    [InlineData(9_000, 9_999, "0.031", "0.030")]
    [InlineData(10_000, 14_999, "0.030", "0.027")]
    [InlineData(15_000, 19_999, "0.027", "0.025")]
    [InlineData(20_000, 49_999, "0.025", "0.022")]
    [InlineData(50_000, 59_999, "0.022", "0.020")]
    public void MSR_table_rows_match_the_CFR_text(int low, int high, string atLow, string atHigh)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        Assert.Equal(decimal.Parse(atLow, c), MinimumSavingsRate.ForAssigned(new AssignedBeneficiaries(low)));
        Assert.Equal(decimal.Parse(atHigh, c), MinimumSavingsRate.ForAssigned(new AssignedBeneficiaries(high)));
    }

    // 42 CFR 425.605(h) as amended through 89 FR 98571 (Dec. 9, 2024), eCFR snapshot github.com/MichalOpoka/ecfr,
    // section-425.605.md at commit 404b4577: (h)(1)(i)-(iv) criteria, (h)(2) one-half of the (d)(1)(x)(A)(4) percentage,
    // otherwise as paragraph (d) (first dollar, the level's 10% payment limit).
    [Fact]
    public void Low_revenue_basic_ACO_below_the_MSR_shares_at_half_the_final_sharing_rate()
    {
        // Savings 2% < MSR 3.0% (10,000 assigned); Level A 40% met -> 20% x 2,400,000 = 480,000, first dollar.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 12_000m, 11_760m, lowRevenue: true, agreementStart: 2024));
        Assert.Equal(0.20m, r.SharingRate);
        Assert.Equal(480_000m * 0.98m, r.SharedSavings); // 2% sequestration of the payment
        Assert.False(r.CapApplied);
        Assert.Equal("shared_savings_below_msr_low_revenue", r.Outcome);
        Assert.Contains(r.Rules, x => x.Section.StartsWith("42 CFR 425.605(h)", StringComparison.Ordinal));
    }

    [Fact]
    public void Low_revenue_half_rate_applies_to_the_alternative_standard_sliding_scale()
    {
        // Level C, fixed MSR/MLR 2%, savings 1.5%; alternative standard with score 0.80: (50% x 0.80) / 2 = 20%.
        // Gross 150 x 20,000 = 3,000,000 -> 600,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicC, 20_000, 10_000m, 9_850m, quality: false, msrMlr: MsrMlrChoice.Fixed(0.02m),
            revenue: 50_000_000m, score: 0.80m, lowRevenue: true, agreementStart: 2025));
        Assert.Equal(0.20m, r.SharingRate);
        Assert.Equal(600_000m * 0.98m, r.SharedSavings); // 2% sequestration of the payment
    }

    [Fact]
    public void Low_revenue_rule_does_not_apply_to_agreement_periods_before_2024()
    {
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 12_000m, 11_760m, lowRevenue: true, agreementStart: 2023));
        Assert.Equal(0m, r.SharedSavings);
        Assert.Equal("savings_below_msr", r.Outcome);
    }

    [Fact]
    public void Low_revenue_rule_needs_a_quality_standard()
    {
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicB, 10_000, 12_000m, 11_760m, quality: false, lowRevenue: true, agreementStart: 2024));
        Assert.Equal(0m, r.SharedSavings);
    }

    [Fact]
    public void Low_revenue_ACO_at_or_above_the_MSR_shares_at_the_full_rate()
    {
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 12_000m, 11_400m, lowRevenue: true, agreementStart: 2024));
        Assert.Equal(0.40m, r.SharingRate);
        Assert.Equal(2_400_000m * 0.98m, r.SharedSavings); // 2% sequestration of the payment
    }

    [Fact]
    public void Low_revenue_rule_is_BASIC_only()
    {
        // 425.610 (ENHANCED) has no counterpart of 425.605(h): savings 1% < elected MSR 2% earn nothing.
        var r = MsspSettlement.Settle(Input(MsspTrack.Enhanced, 10_000, 10_000m, 9_900m, msrMlr: MsrMlrChoice.Fixed(0.02m), score: 0.9m, lowRevenue: true));
        Assert.Equal(0m, r.SharedSavings);
    }

    [Fact]
    public void Low_revenue_basic_ACO_needs_its_agreement_start_year() =>
        Assert.Equal("agreement-start", Assert.Throws<MsspInputException>(() =>
            MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 12_000m, 11_760m, lowRevenue: true))).Field);

    // Issue #7's three named cases, on BASIC levels where the tests above only covered ENHANCED or the revenue-side cap.
    // Derived from 42 CFR 425.605(d)(1)(i)(B)(2) and (d)(1)(v)(C)-(D) as amended through 89 FR 98571 (Dec. 9, 2024); not
    // CMS worked examples (see the note at the top of this file).
    [Fact]
    public void Basic_E_loss_year_below_both_caps_shares_30_percent_of_losses_from_the_first_dollar()
    {
        // 20,000 x (10,300 - 10,000) = 6,000,000 losses = 3% of 200,000,000 >= fixed MLR 2%; 30% -> 1,800,000.
        // Cap = min(8% x 50,000,000 = 4,000,000, 4% x 200,000,000 = 8,000,000) = 4,000,000: does not bind.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicE, 20_000, 10_000m, 10_300m, msrMlr: MsrMlrChoice.Fixed(0.02m), revenue: 50_000_000m));
        Assert.Equal(-6_000_000m, r.GrossSavings);
        Assert.Equal(0.30m, r.LossRate);
        Assert.Equal(1_800_000m, r.SharedLosses);
        Assert.Equal(0m, r.SharedSavings);
        Assert.False(r.CapApplied);
        Assert.Equal("shared_losses", r.Outcome);
    }

    [Fact]
    public void Basic_E_loss_cap_binds_on_the_benchmark_side_when_revenue_is_large()
    {
        // Losses 10,000 x 2,000 = 20,000,000 (20%); 30% -> 6,000,000. Cap = min(8% x 100,000,000 = 8,000,000,
        // 4% x 100,000,000 = 4,000,000) = 4,000,000: the benchmark-based limit binds (the BASIC C test binds on revenue).
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicE, 10_000, 10_000m, 12_000m, msrMlr: MsrMlrChoice.Fixed(0.02m), revenue: 100_000_000m));
        Assert.Equal(4_000_000m, r.SharedLosses);
        Assert.True(r.CapApplied);
    }

    [Fact]
    public void Basic_A_savings_are_limited_to_10_percent_of_the_benchmark()
    {
        // Savings 10,000 x 3,000 = 30,000,000 (30% >= MSR 3.0%); 40% -> 12,000,000 > 10% x 100,000,000 = 10,000,000.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicA, 10_000, 10_000m, 7_000m));
        Assert.Equal(0.40m, r.SharingRate);
        Assert.Equal(10_000_000m, r.SharedSavings);
        Assert.True(r.CapApplied);
    }

    [Fact]
    public void Two_sided_savings_below_the_elected_MSR_earn_nothing_and_owe_nothing()
    {
        // BASIC D, fixed MSR/MLR 1.5%; savings 100 x 10,000 = 1,000,000 = 1% < 1.5%.
        var r = MsspSettlement.Settle(Input(MsspTrack.BasicD, 10_000, 10_000m, 9_900m, msrMlr: MsrMlrChoice.Fixed(0.015m), revenue: 30_000_000m));
        Assert.Equal(0.015m, r.Msr);
        Assert.Equal(0.015m, r.Mlr);
        Assert.Equal(0m, r.SharedSavings);
        Assert.Equal(0m, r.SharedLosses);
        Assert.Equal("savings_below_msr", r.Outcome);
    }
}
