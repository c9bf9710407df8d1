namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// Performance-year settlement of the Medicare Shared Savings Program for performance year 2025:
/// savings or losses against the updated benchmark, MSR/MLR, sharing or loss rate by quality, payment limit and loss caps.
/// Implements 42 CFR 425.604(b), 425.605(b)–(d) (BASIC), 425.610(b)–(d) (ENHANCED) and 425.512 (quality).
/// Money is decimal and unrounded: CMS's rounding conventions in the methodology specifications could not be read (only their
/// title pages and revision histories were retrievable; docs/scenarios.md).
/// </summary>
public static class MsspSettlement
{
    /// <summary>Settles one performance year.</summary>
    public static SettlementResult Settle(SettlementInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        Validate(input);
        var terms = TrackTerms.For(input.Track);
        var rules = new List<AppliedRule>();
        var n = input.Assigned.Count;

        var benchmarkTotal = input.BenchmarkPerBeneficiaryYear * n;
        var expenditureTotal = input.ExpenditurePerBeneficiaryYear * n;
        var gross = benchmarkTotal - expenditureTotal;
        var savingsRate = gross / benchmarkTotal;
        rules.Add(new("gross_savings", "updated benchmark minus performance-year expenditure for assigned beneficiaries", input.Track.IsBasic() ? "42 CFR 425.605(a)" : "42 CFR 425.610(a)"));

        var (msr, mlr) = MinimumRates(input, rules);
        var sharingRate = FinalSharingRate(input, terms, rules);

        decimal sharedSavings = 0m, sharedLosses = 0m;
        decimal? lossRate = null;
        var capApplied = false;
        string outcome;

        if (gross > 0 && savingsRate >= msr)
        {
            // Savings at or above the MSR are shared from the first dollar (425.605(d)(1)(i)(A), 425.610(d)(1)).
            var limit = terms.PaymentLimitOfBenchmark * benchmarkTotal;
            sharedSavings = sharingRate * gross;
            rules.Add(new("shared_savings", "savings >= MSR: final sharing rate x gross savings, first dollar", terms.Section));
            if (sharedSavings > limit)
            {
                sharedSavings = limit;
                capApplied = true;
                rules.Add(new("cap_applied", $"performance payment limit {terms.PaymentLimitOfBenchmark:P0} of updated benchmark", terms.Section));
            }

            outcome = sharedSavings > 0 ? "shared_savings" : "savings_not_shared_quality";
        }
        else if (gross > 0 && input.Track.IsBasic() && input.LowRevenue && input.AgreementStartYear >= 2024 && sharingRate > 0)
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
            sharedSavings = sharingRate * gross;
            rules.Add(new("sharing_rate", "savings below the MSR, low revenue ACO, agreement period from 2024: one-half of the (d)(1) final sharing rate, first dollar", "42 CFR 425.605(h)(1)-(2), (d)(1)(i)-(v)(B)(1)"));
            var limit = terms.PaymentLimitOfBenchmark * benchmarkTotal;
            if (sharedSavings > limit)
            {
                sharedSavings = limit;
                capApplied = true;
                rules.Add(new("cap_applied", $"performance payment limit {terms.PaymentLimitOfBenchmark:P0} of updated benchmark (unchanged by 425.605(h))", terms.Section));
            }

            outcome = "shared_savings_below_msr_low_revenue";
        }
        else if (gross < 0 && input.Track.IsTwoSided() && -savingsRate >= mlr!.Value)
        {
            (sharedLosses, lossRate, capApplied) = SharedLosses(input, terms, -gross, benchmarkTotal, sharingRate, rules);
            outcome = "shared_losses";
        }
        else
        {
            if (gross > 0 && input.Track.IsBasic() && input.LowRevenue)
            {
                rules.Add(new("shared_savings", input.AgreementStartYear < 2024
                    ? "low revenue ACO below the MSR: 425.605(h) does not apply to agreement periods beginning before 2024"
                    : "low revenue ACO below the MSR: neither quality standard met, not eligible (425.605(c)(2)(ii))", "42 CFR 425.605(h)(1)(iv), (c)(2)"));
            }

            outcome = gross > 0 ? "savings_below_msr" : gross < 0 ? "losses_below_mlr_or_one_sided" : "no_savings_no_losses";
        }

        if (input.Track.IsTwoSided() && lossRate is null)
        {
            lossRate = LossRateFor(input, terms, sharingRate);
        }

        return new SettlementResult(input.Track.Name(), n, benchmarkTotal, expenditureTotal, gross, savingsRate, msr, mlr,
            sharingRate, lossRate, sharedSavings, sharedLosses, capApplied, outcome, rules);
    }

    private static void Validate(SettlementInput input)
    {
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
            throw new MsspInputException("quality-score", "must be the ACO's quality score as a fraction in [0, 1] (42 CFR 425.512)");
        }

        if (input.Track == MsspTrack.Enhanced && input.QualityStandardMet && input.QualityScoreRatio is null)
        {
            // 425.610(f)(4)(i): the ENHANCED loss rate is 1 - 0.75 x quality score even when the standard is met.
            throw new MsspInputException("quality-score", "ENHANCED needs the ACO's quality score: its loss rate is 1 - 0.75 x quality score (42 CFR 425.610(f)(4))");
        }

        if (input.Track.IsTwoSided() && input.MsrMlr is null)
        {
            throw new MsspInputException("msr-mlr", $"{input.Track.Name()} is two-sided: choose 0, 0.005, 0.01, 0.015, 0.02 or variable (42 CFR 425.605(b)(2), 425.610(b))");
        }

        if (!input.Track.IsTwoSided() && input.MsrMlr is not null)
        {
            throw new MsspInputException("msr-mlr", $"{input.Track.Name()} is one-sided: its MSR comes from the 425.604(b) table and there is no MLR");
        }

        if (input.AgreementStartYear is { } start && (start < 2012 || start > 2100))
        {
            throw new MsspInputException("agreement-start", $"{start} is not the start year of a Shared Savings Program agreement period");
        }

        if (input.LowRevenue && input.Track.IsBasic() && input.AgreementStartYear is null)
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
    }

    private static (decimal Msr, decimal? Mlr) MinimumRates(SettlementInput input, List<AppliedRule> rules)
    {
        if (!input.Track.IsTwoSided() || input.MsrMlr!.Value.FixedRate is null)
        {
            var msr = MinimumSavingsRate.ForAssigned(input.Assigned);
            rules.Add(new("msr", "MSR from the sliding scale by number of assigned beneficiaries (table of 425.604(b), linear within a band)",
                input.Track.IsBasic() ? "42 CFR 425.605(b)(1), 425.604(b)" : "42 CFR 425.610(b)(1)(iii), 425.604(b)"));
            if (!input.Track.IsTwoSided())
            {
                return (msr, null);
            }

            rules.Add(new("mlr", "variable MLR equals the table MSR", input.Track.IsBasic() ? "42 CFR 425.605(b)(2)(i)(C)" : "42 CFR 425.610(b)(1)(iii)"));
            return (msr, msr);
        }

        var rate = input.MsrMlr.Value.FixedRate.Value;
        rules.Add(new("msr", "elected symmetric MSR/MLR", input.Track.IsBasic() ? "42 CFR 425.605(b)(2)" : "42 CFR 425.610(b)(1)"));
        return (rate, rate);
    }

    /// <summary>
    /// Final sharing rate from quality, 42 CFR 425.605(d)/425.610(d) with 425.512(a)(4)–(5) for PY2025: the maximum rate if the
    /// quality performance standard is met; the maximum rate times the sliding-scale ratio if only the alternative standard
    /// is met (the caller signals this by giving the ratio); otherwise zero — the ACO is not eligible for shared savings.
    /// </summary>
    private static decimal FinalSharingRate(SettlementInput input, TrackTerms terms, List<AppliedRule> rules)
    {
        if (input.QualityStandardMet)
        {
            rules.Add(new("sharing_rate", "quality performance standard met: maximum sharing rate", terms.Section + "; 42 CFR 425.512(a)"));
            return terms.MaxSharingRate;
        }

        if (input.QualityScoreRatio is { } ratio)
        {
            rules.Add(new("sharing_rate", "alternative quality standard: sliding scale, maximum rate x quality score", terms.Section + "; 42 CFR 425.512(a)"));
            return terms.MaxSharingRate * ratio;
        }

        rules.Add(new("sharing_rate", "quality standard not met: not eligible to share in savings", terms.Section + "; 42 CFR 425.512(a)"));
        return 0m;
    }

    /// <summary>
    /// BASIC C-E: fixed 30%. ENHANCED, 42 CFR 425.610(f)(4): if the quality standard or the alternative standard is met,
    /// 1 - 0.75 x quality score, not above 75% nor below 40%; otherwise 75%.
    /// </summary>
    private static decimal LossRateFor(SettlementInput input, TrackTerms terms, decimal sharingRate)
    {
        _ = sharingRate;
        if (terms.LossRate is { } fixedRate)
        {
            return fixedRate;
        }

        return input.QualityScoreRatio is { } score
            ? Math.Clamp(1m - (terms.MaxSharingRate * score), TrackTerms.EnhancedMinLossRate, TrackTerms.EnhancedMaxLossRate)
            : TrackTerms.EnhancedMaxLossRate;
    }

    private static (decimal Losses, decimal LossRate, bool Capped) SharedLosses(
        SettlementInput input, TrackTerms terms, decimal lossAmount, decimal benchmarkTotal, decimal sharingRate, List<AppliedRule> rules)
    {
        var lossRate = LossRateFor(input, terms, sharingRate);
        rules.Add(new("loss_rate", terms.LossRate is null
            ? "1 - 0.75 x quality score, bounded to [40%, 75%]; 75% if neither quality standard is met (425.610(f)(4))"
            : "fixed 30% loss sharing rate, regardless of quality", terms.Section));
        var losses = lossRate * lossAmount;
        rules.Add(new("shared_losses", "losses >= MLR: loss rate x losses, first dollar", terms.Section));

        var cap = terms.LossCapOfBenchmark!.Value * benchmarkTotal;
        if (terms.LossCapOfRevenue is { } revenueShare)
        {
            cap = Math.Min(cap, revenueShare * input.ParticipantRevenue!.Value);
        }

        if (losses > cap)
        {
            rules.Add(new("cap_applied", terms.LossCapOfRevenue is null
                ? $"loss cap {terms.LossCapOfBenchmark:P0} of updated benchmark"
                : $"loss cap: lesser of {terms.LossCapOfRevenue:P0} of participant revenue and {terms.LossCapOfBenchmark:P0} of updated benchmark", terms.Section));
            return (cap, lossRate, true);
        }

        return (losses, lossRate, false);
    }
}
