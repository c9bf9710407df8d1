namespace FederatedTwin.Twin.Mssp;

/// <summary>How quality turns the maximum sharing rate into the final sharing rate in a performance year.</summary>
public enum QualitySharing
{
    /// <summary>
    /// Maximum rate × quality score when the quality performance standard is met, nothing otherwise (42 CFR 425.604(d),
    /// 425.606(d), 425.610(d), 425.605(d) with the quality score of 425.502; performance years 2018–2020).
    /// </summary>
    MaximumTimesScore,

    /// <summary>The maximum rate when the quality performance standard of 425.512 is met, nothing otherwise (2021–2022).</summary>
    MaximumWhenStandardMet,

    /// <summary>
    /// The maximum rate when the quality performance standard is met; maximum × quality score (the sliding scale) when only the
    /// alternative quality performance standard is met; nothing otherwise (425.512(a)(4)–(5) as amended by the CY 2023 PFS final
    /// rule, 87 FR 69404, Nov. 18, 2022; from 2023).
    /// </summary>
    MaximumOrSlidingScale,
}

/// <summary>
/// The settlement rules of one Shared Savings Program performance year, 2018 through 2025: which tracks and levels it settles and
/// their terms, how quality scales the sharing rate, and the sequestration of the payment. Every rule names the CFR paragraph (as
/// amended for that year) or the model document it comes from. The public use files of 2018–2021 check them
/// (<see cref="SettlementReplay"/>; docs/scenarios.md).
/// </summary>
public sealed record PerformanceYearRules
{
    /// <summary>The first performance year with a rule set here.</summary>
    public const int First = 2018;

    /// <summary>The last performance year whose rules are known here (the CY 2025 PFS final rule).</summary>
    public const int Latest = 2025;

    private PerformanceYearRules(int year) => Year = year;

    public int Year { get; }

    public required QualitySharing Quality { get; init; }

    /// <summary>The fraction of a shared savings payment paid out: 0.98 while the 2% sequestration applies, 1 while it is suspended.</summary>
    public required decimal PaymentAfterSequestration { get; init; }

    /// <summary>Why the payment is (not) sequestered, with the law.</summary>
    public required string SequestrationBasis { get; init; }

    /// <summary>The rulemaking the year's text comes from.</summary>
    public required string Amended { get; init; }

    /// <summary>The below-MSR payment of 425.605(h) for low revenue BASIC ACOs exists (agreement periods from 2024).</summary>
    public bool LowRevenueBelowMsrPayment => Year >= 2024;

    /// <summary>The rule set of <paramref name="year"/>.</summary>
    /// <exception cref="MsspInputException">The year is before 2018 or after <see cref="Latest"/>.</exception>
    public static PerformanceYearRules For(int year)
    {
        if (year is < First or > Latest)
        {
            throw new MsspInputException("performance-year", $"{year} has no rule set here: performance years {First} to {Latest} are implemented (docs/scenarios.md)");
        }

        return new PerformanceYearRules(year)
        {
            Quality = year <= 2020 ? QualitySharing.MaximumTimesScore : year <= 2022 ? QualitySharing.MaximumWhenStandardMet : QualitySharing.MaximumOrSlidingScale,
            // Shared savings are paid in the year after the performance year. The 2% reduction of Medicare payments (Budget Control
            // Act of 2011, 2 U.S.C. 901a, extended through 2032) was suspended from 1 May 2020 to 31 March 2022 (CARES Act section 3709,
            // extended by the Consolidated Appropriations Act, 2021 and the Protecting Medicare and American Farmers from Sequester Cuts
            // Act), and was 1% from April to June 2022: so the PY2019 and PY2020 payments (made in 2020 and 2021) were paid in full,
            // the PY2018 payment (made in 2019) and those from PY2021 (made from autumn 2022) were reduced by 2%. The public use files
            // agree (docs/scenarios.md).
            PaymentAfterSequestration = year is 2019 or 2020 ? 1m : 0.98m,
            SequestrationBasis = year is 2019 or 2020
                ? $"the PY{year} payment was made in {year + 1}, while the 2% sequestration was suspended (CARES Act section 3709 and its extensions)"
                : $"the PY{year} payment is made in {year + 1}, under the 2% sequestration of Medicare payments (2 U.S.C. 901a)",
            Amended = year switch
            {
                2018 => "42 CFR part 425 as amended through 81 FR 38016 (June 10, 2016); the Track 1+ Model (CMS Innovation Center, section 1115A)",
                2019 => "42 CFR part 425 as amended by 83 FR 67816 (Dec. 31, 2018): BASIC and ENHANCED from 1 July 2019; Tracks 1, 1+, 2 and 3 for earlier agreement periods",
                2020 => "42 CFR part 425 as amended through 84 FR 62568 (Nov. 15, 2019) and the COVID-19 interim final rules of 2020 (extreme and uncontrollable circumstances, 425.605(f), 425.610(i))",
                2021 => "42 CFR part 425 as amended by 85 FR 84472 (Dec. 28, 2020): the APP quality performance standard of 425.512",
                2022 => "42 CFR part 425 as amended by 86 FR 64996 (Nov. 19, 2021)",
                2023 => "42 CFR part 425 as amended by 87 FR 69404 (Nov. 18, 2022): the alternative quality performance standard and sliding scale",
                2024 => "42 CFR part 425 as amended by 88 FR 78818 (Nov. 16, 2023): 425.605(h) for low revenue ACOs",
                _ => "42 CFR part 425 as amended through 89 FR 98571 (Dec. 9, 2024), the CY 2025 PFS final rule",
            },
        };
    }

    /// <summary>
    /// The rule set a simulated year settles under: its own for 2018–<see cref="Latest"/>, the latest known for later years (a
    /// projection cannot know rules not yet written; the settlement's rule trail says so).
    /// </summary>
    public static PerformanceYearRules ForSimulatedYear(int year) => For(Math.Min(year, Latest));

    /// <summary>The terms of <paramref name="track"/> in this year, or null when the year does not settle it.</summary>
    public TrackTerms? Terms(MsspTrack track)
    {
        var legacy = Year <= 2021; // Tracks 1, 1+, 2 and 3: agreement periods begun before July 2019, the last ending in 2021
        var basic = Year >= 2019;  // BASIC and ENHANCED: agreement periods from 1 July 2019 (83 FR 67816)
        return track switch
        {
            // 425.604(d), (e): up to 50% x quality, first dollar, payment limit 10% of the benchmark; no losses.
            MsspTrack.Track1 when legacy => new(0.50m, 0.10m, null, "42 CFR 425.604(d), (e)"),
            // Track 1+ Model (2018 model documents): savings as Track 1; losses at a flat 30%, limited to 8% of ACO participant
            // revenue and at most 4% of the updated benchmark (revenue-based limit), or 4% of the benchmark (benchmark-based limit).
            MsspTrack.Track1Plus when legacy => new(0.50m, 0.10m,
                new(0.30m, 0m, 0.30m, 0.30m, 0.08m, 0.04m, null, "Track 1+ Model loss sharing rate and limit"), "42 CFR 425.604(d), (e) via the Track 1+ Model"),
            // 425.606(d), (e)(2), (f), (g): up to 60% x quality, limit 15%; loss rate 1 - final sharing rate, at most 60%; losses
            // limited to 5%, 7.5%, 10% of the benchmark in the first, second, third and later years in Track 2.
            MsspTrack.Track2 when legacy => new(0.60m, 0.15m,
                new(null, 0.60m, 0.40m, 0.60m, null, 0.10m, [0.05m, 0.075m, 0.10m], "42 CFR 425.606(f), (g)"), "42 CFR 425.606(d), (e)"),
            // 425.610(d), (e), (f), (g) before 83 FR 67816 (Track 3), and as ENHANCED after: up to 75% (x quality until 2020), limit
            // 20%; loss rate 1 - 0.75 x quality within [40%, 75%]; losses limited to 15% of the benchmark.
            MsspTrack.Track3 when legacy => Enhanced("42 CFR 425.610(d)-(g) (Track 3)"),
            MsspTrack.Enhanced when basic => Enhanced(Year >= 2021 ? "42 CFR 425.610(d)(4), (e)(2), (f)(4), (g)" : "42 CFR 425.610(d)-(g)"),
            // 425.605(d)(1)(i)-(ii): Levels A and B, up to 40%, limit 10%; one-sided.
            MsspTrack.BasicA when basic => new(0.40m, 0.10m, null, "42 CFR 425.605(d)(1)(i)"),
            MsspTrack.BasicB when basic => new(0.40m, 0.10m, null, "42 CFR 425.605(d)(1)(ii)"),
            // 425.605(d)(1)(iii)-(v): Levels C-E, up to 50%, limit 10%; losses at 30% regardless of quality, limited to the lesser of
            // 2%/4%/8% of ACO participant revenue and 1%/2%/4% of the benchmark (E follows the QPP nominal amount standard of
            // 414.1415(c)(3)(i): 8% of revenue, 3% + 1 point = 4% of the benchmark).
            MsspTrack.BasicC when basic => Basic(0.02m, 0.01m, "42 CFR 425.605(d)(1)(iii)"),
            MsspTrack.BasicD when basic => Basic(0.04m, 0.02m, "42 CFR 425.605(d)(1)(iv)"),
            MsspTrack.BasicE when basic => Basic(0.08m, 0.04m, "42 CFR 425.605(d)(1)(v)"),
            _ => null,
        };

        static TrackTerms Enhanced(string section) => new(0.75m, 0.20m, new(null, 0.75m, 0.40m, 0.75m, null, 0.15m, null, section), section);

        static TrackTerms Basic(decimal ofRevenue, decimal ofBenchmark, string section) =>
            new(0.50m, 0.10m, new(0.30m, 0m, 0.30m, 0.30m, ofRevenue, ofBenchmark, null, section + "(C)-(D)"), section + "(A)-(B)");
    }

    /// <summary>The years a track was settled in, for messages.</summary>
    public static string YearsOf(MsspTrack track) => track switch
    {
        MsspTrack.Track1 or MsspTrack.Track1Plus or MsspTrack.Track2 or MsspTrack.Track3 => "2018-2021 (agreement periods begun before July 2019)",
        _ => "from 2019 (agreement periods from 1 July 2019)",
    };
}
