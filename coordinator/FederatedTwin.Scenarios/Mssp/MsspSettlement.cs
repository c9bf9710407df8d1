namespace FederatedTwin.Scenarios.Mssp;

/// <summary>
/// Performance-year settlement of the Medicare Shared Savings Program for performance year 2025:
/// savings or losses against the updated benchmark, MSR/MLR, sharing or loss rate by quality, payment limit and loss caps.
/// Implements 42 CFR 425.604(b), 425.605(b)–(d) (BASIC), 425.610(b)–(d) (ENHANCED) and 425.512 (quality).
/// Money is decimal and unrounded: CMS's rounding conventions in the methodology specification were not available to check.
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
        rules.Add(new("gross_savings", "updated benchmark minus performance-year expenditure for assigned beneficiaries", input.Track.IsBasic() ? "42 CFR 425.605(c)" : "42 CFR 425.610(c)"));

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
        else if (gross > 0 && input.Track.IsBasic() && input.LowRevenue && input.QualityStandardMet)
        {
            // 42 CFR 425.605(h) (agreement periods from 2024-01-01): a low-revenue BASIC ACO with >= 5,000 assigned,
            // expenditures below benchmark and savings below the MSR shares at one-half the otherwise applicable rate
            // (confirmed by a secondary summary quoting 425.605(h)(2) and the PY2024 PUF: final rates of exactly 20/25%).
            // The 5% payment limit applied here is from the engineer's memory and was NOT found in a source: verify.
            var rate = terms.MaxSharingRate / 2m;
            sharingRate = rate;
            var limit = 0.05m * benchmarkTotal;
            sharedSavings = rate * gross;
            rules.Add(new("sharing_rate", "low-revenue ACO below MSR: half the maximum sharing rate", "42 CFR 425.605(h)"));
            if (sharedSavings > limit)
            {
                sharedSavings = limit;
                capApplied = true;
                rules.Add(new("cap_applied", "low-revenue below-MSR payment limit 5% of updated benchmark (UNVERIFIED figure)", "42 CFR 425.605(h)"));
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
            rules.Add(new("msr", "MSR from the table by number of assigned beneficiaries", "42 CFR 425.604(b)"));
            if (!input.Track.IsTwoSided())
            {
                return (msr, null);
            }

            rules.Add(new("mlr", "variable MLR equals the table MSR", input.Track.IsBasic() ? "42 CFR 425.605(b)(2)" : "42 CFR 425.610(b)(1)"));
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
