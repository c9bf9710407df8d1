namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// How a two-sided option shares losses: a fixed rate (BASIC C–E, Track 1+) or 1 − <see cref="QualityWeight"/> × quality score
/// within [<see cref="Floor"/>, <see cref="Ceiling"/>] (Track 2, Track 3, ENHANCED), capped at a share of the updated benchmark
/// and, where the option has one, a share of ACO participant revenue.
/// </summary>
/// <param name="FixedRate">The loss sharing rate regardless of quality, or null when it follows the quality score.</param>
/// <param name="QualityWeight">The maximum sharing rate the loss rate is the complement of (1 − final sharing rate).</param>
/// <param name="Floor">Lowest loss sharing rate.</param>
/// <param name="Ceiling">Highest loss sharing rate; the rate when the quality standard is not met.</param>
/// <param name="CapOfRevenue">Revenue-based loss limit, a fraction of ACO participant Medicare FFS revenue, or null.</param>
/// <param name="CapOfBenchmark">Benchmark-based loss limit, a fraction of the updated benchmark (the largest when it grows by year of participation).</param>
/// <param name="CapOfBenchmarkByParticipationYear">Track 2: the limit grows with the ACO's performance years in the track (5%, 7.5%, 10%).</param>
/// <param name="Section">Where the loss terms come from.</param>
public sealed record LossTerms(
    decimal? FixedRate,
    decimal QualityWeight,
    decimal Floor,
    decimal Ceiling,
    decimal? CapOfRevenue,
    decimal CapOfBenchmark,
    IReadOnlyList<decimal>? CapOfBenchmarkByParticipationYear,
    string Section)
{
    /// <summary>The loss sharing rate for a quality score (null: the quality standard was not met, the ceiling applies).</summary>
    public decimal RateFor(decimal? qualityScore) => FixedRate ?? (qualityScore is { } q ? Math.Clamp(1m - (QualityWeight * q), Floor, Ceiling) : Ceiling);

    /// <summary>The benchmark-based limit for the ACO's performance year in the track (1-based), or the largest when not known.</summary>
    public decimal BenchmarkCapFor(int? participationYear) => CapOfBenchmarkByParticipationYear is { Count: > 0 } caps && participationYear is { } y
        ? caps[Math.Clamp(y, 1, caps.Count) - 1]
        : CapOfBenchmark;
}

/// <summary>The financial terms of one track or level in one performance year (<see cref="PerformanceYearRules.Terms"/>).</summary>
/// <param name="MaxSharingRate">Final sharing rate at full quality (the quality standard met, or a quality score of 100%).</param>
/// <param name="PaymentLimitOfBenchmark">Performance payment limit as a fraction of the updated benchmark.</param>
/// <param name="Losses">How losses are shared; null for one-sided options.</param>
/// <param name="Section">The CFR paragraphs (or model documents) the terms come from, as amended for the year.</param>
public sealed record TrackTerms(decimal MaxSharingRate, decimal PaymentLimitOfBenchmark, LossTerms? Losses, string Section);
