namespace FederatedTwin.Twin.Mssp;

/// <summary>One published settlement recomputed from its own inputs: what the rules give, the published figure, and whether they agree.</summary>
/// <param name="Published">The row of the public use file.</param>
/// <param name="Computed">Shared savings (positive) or losses (negative) by the performance year's rules; null when the row cannot be recomputed.</param>
/// <param name="Tolerance">How far the published figure may be from <paramref name="Computed"/>: the rounding of the published quality score (four decimals) carried through the sharing rate, plus a dollar.</param>
/// <param name="Rule">The rule that decided the row, in words (e.g. "savings at 50% x quality, after 2% sequestration").</param>
/// <param name="NotReproducible">Why the public columns cannot decide the row (e.g. a revenue-based loss limit), or null.</param>
public sealed record RecomputedSettlement(PublishedSettlement Published, decimal? Computed, decimal Tolerance, string Rule, string? NotReproducible)
{
    /// <summary>The published minus the computed figure.</summary>
    public decimal? Difference => Computed is { } c ? Published.EarnedSavingsLosses - c : null;

    /// <summary>The rules reproduce the published figure within <see cref="Tolerance"/>.</summary>
    public bool Matches => Difference is { } d && Math.Abs(d) <= Tolerance;
}

/// <summary>
/// Recomputes the shared savings or losses CMS published for an ACO (performance years 2018 to 2021) from the inputs the public
/// use file gives: the generated savings or losses, the minimum savings (loss) rate, the total benchmark, the quality score and
/// whether the quality standard was met, and the extreme and uncontrollable circumstances reduction. It checks the settlement
/// arithmetic of 42 CFR 425.604 (Track 1), 425.606 (Track 2), 425.610 (Track 3, ENHANCED), 425.605 (BASIC) and the Track 1+
/// model, as in force for those years, against what CMS actually paid. Not the benchmark: the file gives it already computed.
/// </summary>
public static class PublishedSettlementCheck
{
    private sealed record Terms(decimal MaxShare, decimal SavingsCap, LossTerms? Losses);

    /// <summary>Losses: a rate 1 - <see cref="QualityWeight"/> x quality between <see cref="Floor"/> and <see cref="Ceiling"/> (a fixed rate when they are equal), capped at a share of the benchmark.</summary>
    private sealed record LossTerms(decimal QualityWeight, decimal Floor, decimal Ceiling, decimal BenchmarkCap, bool RevenueLimited);

    // Sharing rates and caps by track: 42 CFR 425.604(d),(e) Track 1; 425.606(d),(e),(f),(h) Track 2; 425.610(d),(e),(f),(h) Track 3 and
    // ENHANCED; 425.605(d) BASIC levels A-E (savings 40% / 50%, capped at 10% of the benchmark; losses of C-E at 30%, capped at a share
    // of participant revenue no greater than 1%, 2%, 4% of the benchmark); Track 1+ (the 2018 model: 30% of losses, capped at 4% of the
    // benchmark or a share of revenue).
    private static Terms? TermsOf(string track) => track.Trim().ToLowerInvariant().Replace('-', '_').Replace(' ', '_') switch
    {
        "track_1" => new(0.50m, 0.10m, null),
        "track_1_plus" or "track_1+" => new(0.50m, 0.10m, new(0m, 0.30m, 0.30m, 0.04m, RevenueLimited: true)),
        "track_2" => new(0.60m, 0.15m, new(0.60m, 0.40m, 0.60m, 0.05m, RevenueLimited: false)),
        "track_3" or "enhanced" => new(0.75m, 0.20m, new(0.75m, 0.40m, 0.75m, 0.15m, RevenueLimited: false)),
        "basic_a" or "basic_b" => new(0.40m, 0.10m, null),
        "basic_c" => new(0.50m, 0.10m, new(0m, 0.30m, 0.30m, 0.01m, RevenueLimited: true)),
        "basic_d" => new(0.50m, 0.10m, new(0m, 0.30m, 0.30m, 0.02m, RevenueLimited: true)),
        "basic_e" => new(0.50m, 0.10m, new(0m, 0.30m, 0.30m, 0.04m, RevenueLimited: true)),
        _ => null,
    };

    /// <summary>
    /// The 2% reduction of Medicare payments under sequestration (Budget Control Act of 2011; suspended May 2020 to March 2022 by the
    /// CARES Act and later laws), as CMS applied it to each year's shared savings: applied for 2018 and 2021, not for 2019 and 2020.
    /// </summary>
    private static decimal Sequestration(int year) => year is 2019 or 2020 ? 1m : 0.98m;

    /// <summary>
    /// From 2021 an ACO that meets the quality performance standard shares savings at its track's maximum rate (42 CFR 425.512 as
    /// amended for performance years from 2021); before, the rate is the maximum times the quality score.
    /// </summary>
    private static bool QualityScales(int year) => year < 2021;

    private static string Pct(decimal rate) => (rate * 100m).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) + "%";

    /// <summary>Generated savings or losses when the file omits them: the whole difference once its rate reaches the MSR (MLR), else 0.</summary>
    private static decimal Generated(PublishedSettlement row)
    {
        var difference = row.BenchmarkMinusExpenditure ?? row.TotalBenchmark - row.TotalExpenditure;
        var rate = row.TotalBenchmark == 0 ? 0 : difference / row.TotalBenchmark;
        return row.MinimumSavingsRate is { } msr && Math.Abs(rate) < msr ? 0m : difference;
    }

    public static IReadOnlyList<RecomputedSettlement> Recompute(IEnumerable<PublishedSettlement> rows) => [.. rows.Select(Recompute)];

    public static RecomputedSettlement Recompute(PublishedSettlement row)
    {
        ArgumentNullException.ThrowIfNull(row);
        if (row.PerformanceYear is < 2018 or > 2021)
        {
            return new(row, null, 0, "no rules", $"performance year {row.PerformanceYear} is outside 2018-2021, the years these rules are written for");
        }

        if (TermsOf(row.Track) is not { } terms)
        {
            return new(row, null, 0, "no rules", $"track '{row.Track}' is not one of Track 1, 1+, 2, 3, BASIC A-E, ENHANCED");
        }

        var benchmark = row.TotalBenchmark;
        var generated = row.GeneratedSavingsLosses ?? Generated(row);
        var met = row.QualityStandardMet ?? false;
        var quality = row.QualityScore ?? 0m;
        var disaster = row.DisasterAdjustment ?? 0m;
        const decimal QualityRounding = 0.00005m; // half a unit of the published score's fourth decimal
        if (generated > 0)
        {
            if (!met)
            {
                return new(row, 0m, 1m, "savings, quality standard not met: none shared", null);
            }

            var rate = QualityScales(row.PerformanceYear) ? terms.MaxShare * quality : terms.MaxShare;
            var sequestration = Sequestration(row.PerformanceYear);
            var shared = generated * rate * sequestration;
            var cap = terms.SavingsCap * benchmark;
            var seq = sequestration == 1m ? "no sequestration" : "2% sequestration";
            if (shared >= cap)
            {
                // The cap applies to the payment after sequestration (the one capped ACO of 2018, A1409, settles so).
                return new(row, cap, 1m, $"savings capped at {Pct(terms.SavingsCap)} of the benchmark ({seq})", null);
            }

            var tolerance = QualityScales(row.PerformanceYear) ? (generated * terms.MaxShare * QualityRounding * sequestration) + 1m : 1m;
            return new(row, shared, tolerance, $"savings at {Pct(terms.MaxShare)}{(QualityScales(row.PerformanceYear) ? " x quality" : string.Empty)} ({seq})", null);
        }

        if (generated < 0 && terms.Losses is { } losses)
        {
            // Not meeting the quality standard counts as a quality score of 0 for the loss rate (it takes the ceiling).
            var q = met ? quality : 0m;
            var lossRate = Math.Clamp(1m - (losses.QualityWeight * q), losses.Floor, losses.Ceiling);
            var owed = Math.Max(generated * lossRate, -losses.BenchmarkCap * benchmark) - disaster;
            var tolerance = losses.QualityWeight == 0 ? 1m : (-generated * losses.QualityWeight * QualityRounding) + 1m;
            var rule = $"losses at {Pct(lossRate)}, capped at {Pct(losses.BenchmarkCap)} of the benchmark, less the extreme and uncontrollable circumstances reduction";
            if (losses.RevenueLimited && row.RevenueLossLimitApplied == true && Math.Abs(row.EarnedSavingsLosses - owed) > tolerance)
            {
                return new(row, owed, tolerance, rule, "the revenue-based loss limit applied, and ACO participant revenue is not published");
            }

            return new(row, owed, tolerance, rule, null);
        }

        return new(row, 0m, 1m, generated < 0 ? "losses in a one-sided model: none owed" : "within the minimum savings (loss) rate: nothing shared", null);
    }
}
