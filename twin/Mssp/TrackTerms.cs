namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// The financial terms of one track/level for performance year 2025.
/// SOURCE STATUS: checked against the CFR text as amended through 89 FR 98571 (Dec. 9, 2024, the CY 2025 PFS final rule)
/// in an eCFR snapshot (github.com/MichalOpoka/ecfr, section-425.605.md and section-425.610.md at commit 404b4577):
/// 425.605(d)(1)(i)-(v) (A)(4), (B)(2), (C), (D) and 425.610(d)(4), (e)(2), (f)(4), (g). Level E's caps refer to the QPP
/// nominal amount standard of 42 CFR 414.1415(c)(3)(i)(A)/(B) (8% of revenue; expenditure-based 3% + 1 point = 4% of
/// benchmark): those two percentages were not re-checked in 414.1415.
/// </summary>
/// <param name="MaxSharingRate">Final sharing rate when the quality performance standard is met.</param>
/// <param name="PaymentLimitOfBenchmark">Performance payment limit as a fraction of the updated benchmark.</param>
/// <param name="LossRate">Fixed loss sharing rate (BASIC C–E); null where it depends on quality (ENHANCED) or for one-sided levels.</param>
/// <param name="LossCapOfRevenue">Revenue-based loss cap (BASIC C–E), fraction of ACO participant revenue.</param>
/// <param name="LossCapOfBenchmark">Benchmark-based loss cap, fraction of the updated benchmark.</param>
/// <param name="Section">The CFR paragraph these terms come from.</param>
public sealed record TrackTerms(
    decimal MaxSharingRate,
    decimal PaymentLimitOfBenchmark,
    decimal? LossRate,
    decimal? LossCapOfRevenue,
    decimal? LossCapOfBenchmark,
    string Section)
{
    /// <summary>ENHANCED loss rate bounds: 1 − 0.75 × quality score, not below 40% nor above 75% (42 CFR 425.610(f)(4)).</summary>
    public const decimal EnhancedMinLossRate = 0.40m;

    /// <summary>See <see cref="EnhancedMinLossRate"/>.</summary>
    public const decimal EnhancedMaxLossRate = 0.75m;

    /// <summary>Terms for one track.</summary>
    public static TrackTerms For(MsspTrack track) => track switch
    {
        // 425.605(d)(1)(i)-(ii): Levels A and B, one-sided, up to 40% sharing, payment limit 10% of benchmark.
        MsspTrack.BasicA => new(0.40m, 0.10m, null, null, null, "42 CFR 425.605(d)(1)(i)(A)(4), (B)"),
        MsspTrack.BasicB => new(0.40m, 0.10m, null, null, null, "42 CFR 425.605(d)(1)(ii)(A)(4), (B)"),
        // 425.605(d)(1)(iii)-(v): Levels C-E, up to 50% sharing, payment limit 10%; losses shared at 30%
        // regardless of quality; loss cap the lesser of a share of participant revenue and a share of benchmark:
        // C 2% / 1%, D 4% / 2%, E 8% / 4% (E follows the QPP nominal amount standard: 8% of revenue, or the
        // expenditure-based standard + 1 point = 4% of benchmark).
        MsspTrack.BasicC => new(0.50m, 0.10m, 0.30m, 0.02m, 0.01m, "42 CFR 425.605(d)(1)(iii)(A)(4)-(D)"),
        MsspTrack.BasicD => new(0.50m, 0.10m, 0.30m, 0.04m, 0.02m, "42 CFR 425.605(d)(1)(iv)(A)(4)-(D)"),
        MsspTrack.BasicE => new(0.50m, 0.10m, 0.30m, 0.08m, 0.04m, "42 CFR 425.605(d)(1)(v)(A)(4)-(D)"),
        // 425.610: up to 75% sharing ((d)(4)), payment limit 20% of benchmark ((e)(2)); loss rate 1 - 0.75 x quality
        // score bounded 40-75% ((f)(4)); losses capped at 15% of the updated benchmark ((g)).
        _ => new(0.75m, 0.20m, null, null, 0.15m, "42 CFR 425.610(d)(4), (e)(2), (f)(4), (g)"),
    };
}
