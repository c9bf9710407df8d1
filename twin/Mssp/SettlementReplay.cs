namespace FederatedTwin.Twin.Mssp;

/// <summary>One row of a public use file settled again from its inputs, with the published figures beside it when the file has them.</summary>
/// <param name="Row">The row as read.</param>
/// <param name="Msr">The MSR (MLR) the row settles on: the sliding scale for one-sided options, the elected rate (minsavperc) for two-sided ones.</param>
/// <param name="Generated">Generated savings (positive) or losses (negative) as CMS publishes them, or null when not computable.</param>
/// <param name="Earned">Shared savings paid (positive) or losses owed (negative), or null when not computable.</param>
/// <param name="Reason">Why the row cannot be settled from these columns; null when it can.</param>
/// <param name="Rule">The rule that decided the row, in words.</param>
/// <param name="RoundedRate">The figure depends on a published quality score (rounded to four decimals by CMS): the earned amount may then differ by 0.02%.</param>
public sealed record ReplayedSettlement(PublishedSettlement Row, decimal? Msr, decimal? Generated, decimal? Earned, string? Reason, string Rule, bool RoundedRate)
{
    /// <summary>The row could be settled from its inputs.</summary>
    public bool Computable => Reason is null;

    /// <summary>Generated savings or losses equal the published figure within a dollar (null: nothing to compare).</summary>
    public bool? GeneratedReproduced => Row.GeneratedSavingsLosses is { } p && Generated is { } g ? Math.Abs(p - g) <= 1m : null;

    /// <summary>Earned savings or losses equal the published figure within a dollar (null: nothing to compare).</summary>
    public bool? EarnedToTheDollar => Row.EarnedSavingsLosses is { } p && Earned is { } e ? Math.Abs(p - e) <= 1m : null;

    /// <summary>
    /// Earned savings or losses reproduced: within a dollar, or within 0.02% of the published figure where the rate came from a
    /// quality score CMS published rounded (null: nothing to compare).
    /// </summary>
    public bool? EarnedReproduced => Row.EarnedSavingsLosses is { } p && Earned is { } e
        ? Math.Abs(p - e) <= 1m || (RoundedRate && Math.Abs(p - e) <= 0.0002m * Math.Abs(p))
        : null;
}

/// <summary>
/// Settles the rows of a Shared Savings Program public use file again from their inputs only (n_ab, abtotbnchmk, abtotexp, track,
/// risk_model, met_qps, qualscore, disadj, revlosslimit, and minsavperc for two-sided options, which is the rate the ACO elected),
/// with the rule set of each row's performance year (<see cref="PerformanceYearRules"/>, <see cref="SettlementArithmetic"/>), and
/// prints the results as CMS publishes them. It never reads the published results (bnchmkminexp, sav_rate, gensaveloss,
/// maxsharerate, finalsharerate, earnsaveloss) to compute; they are only compared with.
/// </summary>
public static class SettlementReplay
{
    public static IReadOnlyList<ReplayedSettlement> Replay(IEnumerable<PublishedSettlement> rows) => [.. rows.Select(Replay)];

    public static ReplayedSettlement Replay(PublishedSettlement row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.PerformanceYear is < PerformanceYearRules.First or > PerformanceYearRules.Latest)
        {
            return NotComputable(row, null, null, $"performance year {row.PerformanceYear} has no rule set here ({PerformanceYearRules.First}-{PerformanceYearRules.Latest})");
        }

        var year = PerformanceYearRules.For(row.PerformanceYear);
        if (MsspTracks.TryParse(row.Track) is not { } track || year.Terms(track) is not { } terms)
        {
            return NotComputable(row, null, null, $"the track is not one performance year {row.PerformanceYear} settles (Tracks 1, 1+, 2, 3 through 2021; BASIC A-E and ENHANCED from 2019)");
        }

        if (row.AssignedBeneficiaries <= 0 || row.TotalBenchmark <= 0 || row.TotalExpenditure < 0)
        {
            return NotComputable(row, null, null, "assigned beneficiaries and the total benchmark must be positive, expenditure not negative");
        }

        if (RiskModelContradicts(row.RiskModel, track))
        {
            return NotComputable(row, null, null, $"risk_model '{row.RiskModel}' contradicts the track ({(track.IsTwoSided() ? "two-sided" : "one-sided")})");
        }

        decimal msr;
        if (track.IsTwoSided())
        {
            // 425.605(b)(2), 425.606(b)(1)(ii), 425.610(b)(1): the ACO elects its symmetric MSR/MLR (a fixed rate, or the variable
            // table's rate for its size); the file's minsavperc is that election.
            if (row.MinimumSavingsRate is not { } elected || elected < 0 || elected >= 1)
            {
                return NotComputable(row, null, null, "a two-sided ACO's elected MSR/MLR (minsavperc) is missing or not a rate");
            }

            msr = elected;
        }
        else
        {
            msr = MinimumSavingsRate.ForCount(row.AssignedBeneficiaries);
        }

        var gross = row.TotalBenchmark - row.TotalExpenditure;
        var rate = gross / row.TotalBenchmark;
        var shares = gross > 0 && rate >= msr;
        var owes = gross < 0 && terms.Losses is not null && -rate >= msr;

        // Generated savings or losses as published: the whole difference once its rate reaches the MSR (MLR). For one-sided
        // options the files of 2018 and 2019 print the losses past the MSR too (owed by no one); from 2020 they print 0.
        var oneSidedLossShown = gross < 0 && terms.Losses is null && -rate >= msr && row.PerformanceYear <= 2019;
        var generated = shares || owes || oneSidedLossShown ? gross : 0m;

        if (shares)
        {
            if (row.QualityStandardMet is not { } met)
            {
                return NotComputable(row, msr, generated, "savings past the MSR, and whether the quality standard was met (met_qps) is missing");
            }

            if (year.Quality == QualitySharing.MaximumTimesScore && met && row.QualityScore is null)
            {
                return NotComputable(row, msr, generated, $"performance year {row.PerformanceYear} shares at the maximum rate x the quality score, and qualscore is missing");
            }

            // Before 2023 a score with the standard not met is not the alternative standard: pass it only where the year has one.
            var score = year.Quality == QualitySharing.MaximumOrSlidingScale || met ? row.QualityScore : null;
            var sharing = SettlementArithmetic.FinalSharingRate(year, terms, met, score, out var sharingRule);
            var (paid, capped) = SettlementArithmetic.Payment(year, terms, gross, sharing, row.TotalBenchmark);
            var rule = capped
                ? $"savings: payment limit of {terms.PaymentLimitOfBenchmark:P0} of the benchmark ({terms.Section})"
                : $"savings: {sharingRule}, x {year.PaymentAfterSequestration} sequestration ({terms.Section})";
            return new(row, msr, generated, paid, null, rule, !capped && sharing != terms.MaxSharingRate && sharing != 0);
        }

        if (owes)
        {
            var losses = terms.Losses!;
            var met = row.QualityStandardMet ?? false;
            var quality = SettlementArithmetic.LossQuality(year, met, row.QualityScore);
            if (losses.FixedRate is null && met && row.QualityScore is null)
            {
                return NotComputable(row, msr, generated, "losses past the MLR at a rate set by the quality score, and qualscore is missing");
            }

            var lossRate = losses.RateFor(quality);
            var owed = -gross * lossRate;
            if (losses.CapOfRevenue is not null)
            {
                if (row.RevenueLossLimitApplied is not { } revenueLimited)
                {
                    return NotComputable(row, msr, generated, "whether the revenue-based loss limit applies (revlosslimit) is missing");
                }

                if (revenueLimited)
                {
                    // The revenue-based limit can only lower what is owed: when the reduction already removes all the losses the
                    // benchmark-limited amount leaves, nothing is owed whatever the revenue (PY2021 A1052).
                    var atMost = Math.Max(0m, Math.Min(owed, losses.CapOfBenchmark * row.TotalBenchmark) - Reduction(row));
                    if (atMost == 0m)
                    {
                        return new(row, msr, generated, 0m, null, $"losses at {lossRate:P0} under a revenue-based limit, all removed by the extreme and uncontrollable circumstances reduction ({losses.Section})", false);
                    }

                    return NotComputable(row, msr, generated, $"the revenue-based loss limit applies (revlosslimit = 1) and ACO participant revenue is not published; {lossRate:P0} of the losses less the reduction would be {Money(-atMost)} at most");
                }
            }

            if (losses.CapOfBenchmarkByParticipationYear is { Count: > 0 } caps && owed > caps[0] * row.TotalBenchmark)
            {
                return NotComputable(row, msr, generated, $"the loss limit grows with the ACO's year in the track ({string.Join(", ", caps.Select(c => c.ToString("P1", System.Globalization.CultureInfo.InvariantCulture)))} of the benchmark), which is not published, and these losses exceed the smallest");
            }

            var cap = losses.CapOfBenchmark * row.TotalBenchmark;
            var capped = owed > cap;
            owed = Math.Max(0m, Math.Min(owed, cap) - Reduction(row));
            var lossRule = $"losses at {lossRate:P2}{(capped ? $", limited to {losses.CapOfBenchmark:P0} of the benchmark" : string.Empty)}, less the extreme and uncontrollable circumstances reduction ({losses.Section})";
            return new(row, msr, generated, -owed, null, lossRule, losses.FixedRate is null && quality is not null && !capped);
        }

        var none = gross > 0 ? "savings below the MSR: nothing shared" : gross < 0 && terms.Losses is null ? "losses in a one-sided option: none owed" : gross < 0 ? "losses below the MLR: none owed" : "no savings or losses";
        if (gross > 0 && track.IsBasic() && year.LowRevenueBelowMsrPayment && IsLowRevenue(row) != false)
        {
            // 425.605(h): from agreement periods begun in 2024 a low revenue BASIC ACO below the MSR is paid at half the rate; the
            // public use file columns read here do not say when the agreement period began.
            return NotComputable(row, msr, generated, "savings below the MSR of a low revenue BASIC ACO: 42 CFR 425.605(h) pays half the rate if its agreement period began in 2024 or later, which these columns do not say");
        }

        return new(row, msr, generated, 0m, null, none, false);
    }

    private static decimal Reduction(PublishedSettlement row) => row.DisasterAdjustment is { } d ? Math.Abs(d) : 0m;

    private static bool? IsLowRevenue(PublishedSettlement row) => row.RevenueCategory is { } c
        ? c.Contains("low", StringComparison.OrdinalIgnoreCase)
        : null;

    private static bool RiskModelContradicts(string? riskModel, MsspTrack track) => riskModel?.Replace("-", string.Empty, StringComparison.Ordinal).Trim().ToUpperInvariant() switch
    {
        "ONESIDED" => track.IsTwoSided(),
        "TWOSIDED" => !track.IsTwoSided(),
        _ => false,
    };

    private static string Money(decimal value) => value.ToString("$#,##0;-$#,##0", System.Globalization.CultureInfo.InvariantCulture);

    private static ReplayedSettlement NotComputable(PublishedSettlement row, decimal? msr, decimal? generated, string reason) =>
        new(row, msr, generated, null, reason, "not settled", false);
}
