namespace FederatedTwin.Twin.Mssp;

/// <summary>The MSR/MLR an ACO in a two-sided model elects: a symmetric fixed rate, or the variable 425.604(b) table.</summary>
public readonly record struct MsrMlrChoice
{
    private static readonly decimal[] Allowed = [0m, 0.005m, 0.01m, 0.015m, 0.02m];

    private MsrMlrChoice(decimal? fixedRate) => FixedRate = fixedRate;

    /// <summary>The symmetric fixed rate, or null for the variable table.</summary>
    public decimal? FixedRate { get; }

    /// <summary>The variable MSR/MLR of 42 CFR 425.605(b)(2)(i)(C)/425.610(b)(1)(ii): MLR equals the table MSR.</summary>
    public static MsrMlrChoice Variable => new(null);

    /// <summary>A fixed symmetric MSR/MLR; 42 CFR 425.605(b)(2)(i) and 425.610(b)(1)(i) allow 0, 0.5, 1, 1.5 or 2 percent.</summary>
    public static MsrMlrChoice Fixed(decimal rate) => Array.IndexOf(Allowed, rate) >= 0
        ? new MsrMlrChoice(rate)
        : throw new MsspInputException("msr-mlr", $"{rate} is not an allowed MSR/MLR; choose 0, 0.005, 0.01, 0.015, 0.02 or variable");

    /// <summary>Parses the CLI form.</summary>
    public static MsrMlrChoice Parse(string text)
    {
        if (string.Equals(text.Trim(), "variable", StringComparison.OrdinalIgnoreCase))
        {
            return Variable;
        }

        return decimal.TryParse(text, System.Globalization.NumberStyles.Number, System.Globalization.CultureInfo.InvariantCulture, out var rate)
            ? Fixed(rate)
            : throw new MsspInputException("msr-mlr", $"'{text}' is neither a number nor 'variable'");
    }
}

/// <summary>Everything one performance-year settlement needs.</summary>
/// <param name="Track">Track and level.</param>
/// <param name="Assigned">Assigned beneficiaries (person-years, as CMS counts them).</param>
/// <param name="BenchmarkPerBeneficiaryYear">Updated benchmark expenditure per assigned beneficiary-year, dollars.</param>
/// <param name="ExpenditurePerBeneficiaryYear">Performance-year expenditure per assigned beneficiary-year, dollars.</param>
/// <param name="QualityStandardMet">Whether the quality performance standard of 42 CFR 425.512(a)(4)/(a)(5) is met.</param>
/// <param name="QualityScoreRatio">
/// The ACO's quality score (42 CFR 425.512) as a fraction in [0, 1]. With the standard not met, giving it means the
/// alternative standard is met and the sliding scale (max rate x score) applies; ENHANCED always needs it for the loss rate.
/// </param>
/// <param name="LowRevenue">Low-revenue ACO (42 CFR 425.20).</param>
/// <param name="MsrMlr">Election for two-sided models; required for BASIC C–E and ENHANCED.</param>
/// <param name="ParticipantRevenue">Total Medicare Parts A and B FFS revenue of ACO participants; required for BASIC C–E losses.</param>
/// <param name="AgreementStartYear">
/// Calendar year the ACO's agreement period began; required for a low revenue BASIC ACO, because the below-MSR payment of
/// 42 CFR 425.605(h) applies only to agreement periods beginning on or after 1 January 2024 ((h)(1)(iv)).
/// </param>
/// <param name="PerformanceYear">
/// The performance year settled: its rule set (<see cref="PerformanceYearRules"/>) decides the options offered, the quality
/// scaling and the sequestration; a year after <see cref="PerformanceYearRules.Latest"/> settles under the latest rules known.
/// </param>
/// <param name="LossReduction">
/// The extreme and uncontrollable circumstances reduction of shared losses (42 CFR 425.605(f), 425.610(i)), dollars, not negative
/// (CMS's public use files print it as a negative <c>disadj</c>).
/// </param>
public sealed record SettlementInput(
    MsspTrack Track,
    AssignedBeneficiaries Assigned,
    decimal BenchmarkPerBeneficiaryYear,
    decimal ExpenditurePerBeneficiaryYear,
    bool QualityStandardMet,
    decimal? QualityScoreRatio = null,
    bool LowRevenue = false,
    MsrMlrChoice? MsrMlr = null,
    decimal? ParticipantRevenue = null,
    int? AgreementStartYear = null,
    int PerformanceYear = PerformanceYearRules.Latest,
    decimal LossReduction = 0m);
