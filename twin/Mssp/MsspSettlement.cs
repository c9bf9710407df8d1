namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// Performance-year settlement of the Medicare Shared Savings Program under the rules of its performance year
/// (<see cref="PerformanceYearRules"/>, 2018 through 2025): savings or losses against the updated benchmark, MSR/MLR, sharing or
/// loss rate by quality, payment limit and loss caps, sequestration of the payment and the extreme and uncontrollable
/// circumstances reduction of losses. Implements 42 CFR 425.604(b), (d), (e) (Track 1), 425.605(b)–(d), (h) (BASIC), 425.606
/// (Track 2), 425.610(b)–(g) (Track 3, ENHANCED) and 425.502/425.512 (quality) as amended for each year. Money is decimal and
/// unrounded: CMS rounds only what it publishes (whole dollars), and the replay of its public use files agrees to the dollar
/// where the published inputs are exact (docs/scenarios.md).
/// </summary>
public static class MsspSettlement
{
    /// <summary>Settles one performance year.</summary>
    public static SettlementResult Settle(SettlementInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var year = Validate(input);
        var terms = year.Terms(input.Track)!;
        var rules = new List<AppliedRule>();
        if (input.PerformanceYear != year.Year)
        {
            rules.Add(new("rule_set", $"performance year {input.PerformanceYear} settled under the rules of {year.Year}, the latest this product has", year.Amended));
        }
        else
        {
            rules.Add(new("rule_set", $"rules of performance year {year.Year}", year.Amended));
        }

        var n = input.Assigned.Count;
        var benchmarkTotal = input.BenchmarkPerBeneficiaryYear * n;
        var expenditureTotal = input.ExpenditurePerBeneficiaryYear * n;
        var gross = benchmarkTotal - expenditureTotal;
        var savingsRate = gross / benchmarkTotal;
        rules.Add(new("gross_savings", "updated benchmark minus performance-year expenditure for assigned beneficiaries", terms.Section));

        var (msr, mlr) = MinimumRates(input, terms, rules);
        var sharingRate = SettlementArithmetic.FinalSharingRate(year, terms, input.QualityStandardMet, input.QualityScoreRatio, out var sharingRule);
        rules.Add(new("sharing_rate", sharingRule, terms.Section + (year.Year >= 2021 ? "; 42 CFR 425.512(a)" : "; 42 CFR 425.502")));

        decimal sharedSavings = 0m, sharedLosses = 0m;
        decimal? lossRate = null;
        decimal reduction = 0m;
        var capApplied = false;
        string outcome;
        var sequestration = $"{year.SequestrationBasis}: payment x {year.PaymentAfterSequestration}";

        if (gross > 0 && savingsRate >= msr)
        {
            // Savings at or above the MSR are shared from the first dollar (425.604(e)(1), 425.605(d)(1), 425.610(e)(1)).
            (sharedSavings, capApplied) = SettlementArithmetic.Payment(year, terms, gross, sharingRate, benchmarkTotal);
            rules.Add(new("shared_savings", "savings >= MSR: final sharing rate x gross savings, first dollar", terms.Section));
            rules.Add(new("sequestration", sequestration, "2 U.S.C. 901a"));
            if (capApplied)
            {
                rules.Add(new("cap_applied", $"performance payment limit {terms.PaymentLimitOfBenchmark:P0} of updated benchmark", terms.Section));
            }

            outcome = sharedSavings > 0 ? "shared_savings" : "savings_not_shared_quality";
        }
        else if (gross > 0 && input.Track.IsBasic() && year.LowRevenueBelowMsrPayment && input.LowRevenue && input.AgreementStartYear >= 2024 && sharingRate > 0)
        {
            // 42 CFR 425.605(h) as amended through 89 FR 98571 (Dec. 9, 2024), text verified in an eCFR snapshot
            // (github.com/MichalOpoka/ecfr, section-425.605.md at commit 404b4577): a BASIC ACO that does not meet the MSR
            // qualifies when (h)(1)(i) expenditures are below the updated benchmark, (ii) it is a low revenue ACO (425.20),
            // (iii) it has at least 5,000 assigned beneficiaries (checked for every settlement, 425.110(a)), (iv) its agreement
            // period began on or after 1 January 2024, and it meets the quality performance standard or the alternative
            // standard (425.605(c)(2)(ii)). (h)(2): the payment is calculated as in paragraph (d) for its level, except that
            // the final sharing rate is one-half of the applicable (d)(1)(x)(A)(4) percentage (the maximum rate, or the
            // maximum rate times the quality score under the alternative standard). Paragraph (d)(1)(x)(B)(1) applies that
            // rate on a first-dollar basis "or as provided in paragraph (h)", and (d)(1)(x)(B)(2) keeps the level's
            // performance payment limit of 10% of the updated benchmark: (h) sets no other limit.
            sharingRate /= 2m;
            rules.Add(new("sharing_rate", "savings below the MSR, low revenue ACO, agreement period from 2024: one-half of the (d)(1) final sharing rate, first dollar", "42 CFR 425.605(h)(1)-(2), (d)(1)(i)-(v)(B)(1)"));
            (sharedSavings, capApplied) = SettlementArithmetic.Payment(year, terms, gross, sharingRate, benchmarkTotal);
            rules.Add(new("sequestration", sequestration, "2 U.S.C. 901a"));
            if (capApplied)
            {
                rules.Add(new("cap_applied", $"performance payment limit {terms.PaymentLimitOfBenchmark:P0} of updated benchmark (unchanged by 425.605(h))", terms.Section));
            }

            outcome = "shared_savings_below_msr_low_revenue";
        }
        else if (gross < 0 && terms.Losses is { } losses && -savingsRate >= mlr!.Value)
        {
            (sharedLosses, lossRate, capApplied, reduction) = SharedLosses(input, year, losses, -gross, benchmarkTotal, rules);
            outcome = "shared_losses";
        }
        else
        {
            if (gross > 0 && input.Track.IsBasic() && input.LowRevenue)
            {
                rules.Add(new("shared_savings", !year.LowRevenueBelowMsrPayment || input.AgreementStartYear < 2024
                    ? "low revenue ACO below the MSR: 425.605(h) does not apply to agreement periods beginning before 2024"
                    : "low revenue ACO below the MSR: neither quality standard met, not eligible (425.605(c)(2)(ii))", "42 CFR 425.605(h)(1)(iv), (c)(2)"));
            }

            outcome = gross > 0 ? "savings_below_msr" : gross < 0 ? "losses_below_mlr_or_one_sided" : "no_savings_no_losses";
        }

        if (terms.Losses is { } l && lossRate is null)
        {
            lossRate = l.RateFor(SettlementArithmetic.LossQuality(year, input.QualityStandardMet, input.QualityScoreRatio));
        }

        return new SettlementResult(input.Track.Name(), n, benchmarkTotal, expenditureTotal, gross, savingsRate, msr, mlr,
            sharingRate, lossRate, sharedSavings, sharedLosses, capApplied, outcome, rules,
            input.PerformanceYear, year.Year, year.PaymentAfterSequestration, reduction);
    }

    private static PerformanceYearRules Validate(SettlementInput input)
    {
        if (input.PerformanceYear < PerformanceYearRules.First)
        {
            throw new MsspInputException("performance-year", $"{input.PerformanceYear} has no rule set here: performance years {PerformanceYearRules.First} to {PerformanceYearRules.Latest} are implemented, and later years settle under {PerformanceYearRules.Latest}'s");
        }

        var year = PerformanceYearRules.ForSimulatedYear(input.PerformanceYear);
        if (year.Terms(input.Track) is null)
        {
            throw new MsspInputException("track", $"{input.Track.Name()} is not settled in performance year {year.Year}: it was offered {PerformanceYearRules.YearsOf(input.Track)}");
        }

        if (input.BenchmarkPerBeneficiaryYear <= 0)
        {
            throw new MsspInputException("benchmark-pbpy", "must be a positive dollar amount");
        }

        if (input.ExpenditurePerBeneficiaryYear < 0)
        {
            throw new MsspInputException("expenditure-pbpy", "must not be negative");
        }

        if (input.QualityScoreRatio is { } q && (q < 0 || q > 1))
        {
            throw new MsspInputException("quality-score", "must be the ACO's quality score as a fraction in [0, 1] (42 CFR 425.502, 425.512)");
        }

        if (input.LossReduction < 0)
        {
            throw new MsspInputException("loss-reduction", "the extreme and uncontrollable circumstances reduction is a dollar amount, not negative (42 CFR 425.605(f), 425.610(i))");
        }

        var qualityWeighted = year.Terms(input.Track)!.Losses is { FixedRate: null };
        if (qualityWeighted && input.QualityStandardMet && input.QualityScoreRatio is null)
        {
            // 425.606(f), 425.610(f)(4)(i): the loss rate is 1 - the maximum rate x quality score even when the standard is met.
            throw new MsspInputException("quality-score", $"{input.Track.Name()} needs the ACO's quality score: its loss rate is 1 - maximum sharing rate x quality score (42 CFR 425.606(f), 425.610(f)(4))");
        }

        if (year.Quality == QualitySharing.MaximumTimesScore && input.QualityStandardMet && input.QualityScoreRatio is null)
        {
            throw new MsspInputException("quality-score", $"performance year {year.Year} shares savings at the maximum rate x the quality score (42 CFR 425.502); give it");
        }

        if (input.Track.IsTwoSided() && input.MsrMlr is null)
        {
            throw new MsspInputException("msr-mlr", $"{input.Track.Name()} is two-sided: choose 0, 0.005, 0.01, 0.015, 0.02 or variable (42 CFR 425.605(b)(2), 425.606(b), 425.610(b))");
        }

        if (!input.Track.IsTwoSided() && input.MsrMlr is not null)
        {
            throw new MsspInputException("msr-mlr", $"{input.Track.Name()} is one-sided: its MSR comes from the 425.604(b) table and there is no MLR");
        }

        if (input.AgreementStartYear is { } start && (start < 2012 || start > 2100))
        {
            throw new MsspInputException("agreement-start", $"{start} is not the start year of a Shared Savings Program agreement period");
        }

        if (input.LowRevenue && input.Track.IsBasic() && year.LowRevenueBelowMsrPayment && input.AgreementStartYear is null)
        {
            // 425.605(h)(1)(iv): the below-MSR payment for low revenue ACOs depends on when the agreement period began.
            throw new MsspInputException("agreement-start", "a low revenue BASIC ACO needs the start year of its agreement period: 42 CFR 425.605(h) applies only to agreement periods beginning on or after 1 January 2024");
        }

        if (input.ParticipantRevenue is { } r && r < 0)
        {
            throw new MsspInputException("participant-revenue", "must not be negative");
        }

        if (input.Track is MsspTrack.BasicC or MsspTrack.BasicD or MsspTrack.BasicE && input.ParticipantRevenue is null)
        {
            throw new MsspInputException("participant-revenue", $"{input.Track.Name()} caps losses at a share of ACO participant revenue (42 CFR 425.605(d)); give it");
        }

        return year;
    }

    private static (decimal Msr, decimal? Mlr) MinimumRates(SettlementInput input, TrackTerms terms, List<AppliedRule> rules)
    {
        if (!input.Track.IsTwoSided() || input.MsrMlr!.Value.FixedRate is null)
        {
            var msr = MinimumSavingsRate.ForAssigned(input.Assigned);
            rules.Add(new("msr", "MSR from the sliding scale by number of assigned beneficiaries (table of 425.604(b), linear within a band)",
                input.Track.IsBasic() ? "42 CFR 425.605(b)(1), 425.604(b)" : "42 CFR 425.604(b)"));
            if (!input.Track.IsTwoSided())
            {
                return (msr, null);
            }

            rules.Add(new("mlr", "variable MLR equals the table MSR", input.Track.IsBasic() ? "42 CFR 425.605(b)(2)(i)(C)" : "42 CFR 425.606(b)(1)(ii)(C), 425.610(b)(1)(iii)"));
            return (msr, msr);
        }

        var rate = input.MsrMlr.Value.FixedRate.Value;
        rules.Add(new("msr", "elected symmetric MSR/MLR", input.Track.IsBasic() ? "42 CFR 425.605(b)(2)" : terms.Section.Contains("425.606", StringComparison.Ordinal) ? "42 CFR 425.606(b)(1)(ii)" : "42 CFR 425.610(b)(1)"));
        return (rate, rate);
    }

    private static (decimal Losses, decimal LossRate, bool Capped, decimal Reduction) SharedLosses(
        SettlementInput input, PerformanceYearRules year, LossTerms terms, decimal lossAmount, decimal benchmarkTotal, List<AppliedRule> rules)
    {
        var lossRate = terms.RateFor(SettlementArithmetic.LossQuality(year, input.QualityStandardMet, input.QualityScoreRatio));
        rules.Add(new("loss_rate", terms.FixedRate is { } f
            ? $"fixed {f:P0} loss sharing rate, regardless of quality"
            : $"1 - {terms.QualityWeight:0.##} x quality score, bounded to [{terms.Floor:P0}, {terms.Ceiling:P0}]; {terms.Ceiling:P0} if the quality standard is not met", terms.Section));
        var losses = lossRate * lossAmount;
        rules.Add(new("shared_losses", "losses >= MLR: loss rate x losses, first dollar", terms.Section));

        var cap = SettlementArithmetic.LossLimit(terms, benchmarkTotal, input.ParticipantRevenue);
        var capped = false;
        if (losses > cap)
        {
            rules.Add(new("cap_applied", terms.CapOfRevenue is null || input.ParticipantRevenue is null
                ? $"loss limit {terms.BenchmarkCapFor(null):P1} of updated benchmark{(terms.CapOfBenchmarkByParticipationYear is null ? string.Empty : " (the limit from the third year in the track)")}"
                : $"loss limit: lesser of {terms.CapOfRevenue:P0} of participant revenue and {terms.CapOfBenchmark:P0} of updated benchmark", terms.Section));
            losses = cap;
            capped = true;
        }

        var reduction = Math.Min(input.LossReduction, losses);
        if (reduction > 0)
        {
            rules.Add(new("loss_reduction", "extreme and uncontrollable circumstances reduction of shared losses", "42 CFR 425.605(f), 425.610(i)"));
            losses -= reduction;
        }

        return (losses, lossRate, capped, reduction);
    }
}
