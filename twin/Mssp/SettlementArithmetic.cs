namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// The arithmetic a performance-year settlement and the replay of CMS's published settlements share, so that the rules the
/// public use files check are the rules the scenario engine applies: the final sharing rate from quality, the payment (capped,
/// sequestered), the loss sharing rate and the loss limit.
/// </summary>
public static class SettlementArithmetic
{
    /// <summary>
    /// The final sharing rate: 42 CFR 425.604(d), 425.605(d), 425.606(d), 425.610(d) with the quality score of 425.502 (2018–2020),
    /// the quality performance standard of 425.512 (2021–2022), and its alternative standard with the sliding scale (from 2023).
    /// </summary>
    /// <param name="rules">The year's rules.</param>
    /// <param name="terms">The track's terms that year.</param>
    /// <param name="standardMet">The quality performance standard is met.</param>
    /// <param name="score">The quality score as a fraction; from 2023, given with the standard not met, it means the alternative standard is met.</param>
    /// <param name="rule">The rule applied, in words.</param>
    public static decimal FinalSharingRate(PerformanceYearRules rules, TrackTerms terms, bool standardMet, decimal? score, out string rule)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(terms);
        switch (rules.Quality)
        {
            case QualitySharing.MaximumTimesScore when standardMet:
                rule = $"quality standard met: maximum rate {terms.MaxSharingRate:P0} x quality score (PY{rules.Year})";
                return terms.MaxSharingRate * (score ?? throw new MsspInputException("quality-score", $"performance year {rules.Year} shares savings at the maximum rate x the quality score (42 CFR 425.502); give it"));
            case QualitySharing.MaximumWhenStandardMet or QualitySharing.MaximumOrSlidingScale when standardMet:
                rule = "quality performance standard met: maximum sharing rate";
                return terms.MaxSharingRate;
            case QualitySharing.MaximumOrSlidingScale when score is { } s:
                rule = "alternative quality standard: sliding scale, maximum rate x quality score";
                return terms.MaxSharingRate * s;
            default:
                rule = "quality standard not met: not eligible to share in savings";
                return 0m;
        }
    }

    /// <summary>
    /// The quality score the loss sharing rate uses, or null when the quality standard (or, from 2023, its alternative) is not met:
    /// then the rate is the track's ceiling (425.606(f), 425.610(f)(4); the 2018 public use file's A3743 settles so).
    /// </summary>
    public static decimal? LossQuality(PerformanceYearRules rules, bool standardMet, decimal? score)
    {
        ArgumentNullException.ThrowIfNull(rules);
        return standardMet || rules.Quality == QualitySharing.MaximumOrSlidingScale ? score : null;
    }

    /// <summary>
    /// Shared savings paid: rate x savings from the first dollar, less the year's sequestration, at most the performance payment
    /// limit. The limit applies to the sequestered payment: the one capped ACO of the 2018 public use file (A1409) was paid exactly
    /// 10% of its benchmark although 50% x quality x savings x 0.98 exceeds it.
    /// </summary>
    public static (decimal Payment, bool Capped) Payment(PerformanceYearRules rules, TrackTerms terms, decimal savings, decimal rate, decimal benchmarkTotal)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(terms);
        var paid = savings * rate * rules.PaymentAfterSequestration;
        var limit = terms.PaymentLimitOfBenchmark * benchmarkTotal;
        return paid > limit ? (limit, true) : (paid, false);
    }

    /// <summary>The loss limit in dollars: the benchmark-based limit, or the lesser of it and the revenue-based limit when revenue is known.</summary>
    public static decimal LossLimit(LossTerms losses, decimal benchmarkTotal, decimal? participantRevenue, int? participationYear = null)
    {
        ArgumentNullException.ThrowIfNull(losses);
        var cap = losses.BenchmarkCapFor(participationYear) * benchmarkTotal;
        return losses.CapOfRevenue is { } share && participantRevenue is { } revenue ? Math.Min(cap, share * revenue) : cap;
    }
}
