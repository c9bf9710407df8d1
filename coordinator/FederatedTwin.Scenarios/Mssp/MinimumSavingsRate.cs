namespace FederatedTwin.Scenarios.Mssp;

/// <summary>
/// The minimum savings rate table for one-sided models by number of assigned beneficiaries,
/// 42 CFR 425.604(b) (as referenced by 425.605(b)(1) for BASIC Levels A and B and, when the ACO elects the
/// variable MSR/MLR, 425.605(b)(2) and 425.610(b)(1)(ii)).
/// SOURCE STATUS: the search corpora available to this session did not return the CFR text; the figures below are
/// the table as published in the CFR (unchanged since the 2011 final rule, 76 FR 67802) written from the
/// engineer's knowledge and must be re-checked against eCFR before relying on them. Within a band CMS interpolates
/// linearly between the low-end and high-end rates; the exact rounding convention was not found, so no rounding is applied.
/// </summary>
public static class MinimumSavingsRate
{
    private readonly record struct Band(int Low, int High, decimal RateAtLow, decimal RateAtHigh);

    // 425.604(b) table: (low end, high end, MSR at low end, MSR at high end).
    private static readonly Band[] Bands =
    [
        new(5_000, 5_999, 0.039m, 0.036m),
        new(6_000, 6_999, 0.036m, 0.034m),
        new(7_000, 7_999, 0.034m, 0.032m),
        new(8_000, 8_999, 0.032m, 0.031m),
        new(9_000, 9_999, 0.031m, 0.030m),
        new(10_000, 14_999, 0.030m, 0.027m),
        new(15_000, 19_999, 0.027m, 0.025m),
        new(20_000, 49_999, 0.025m, 0.022m),
        new(50_000, 59_999, 0.022m, 0.020m),
    ];

    /// <summary>MSR (a fraction) for <paramref name="assigned"/> beneficiaries; 60,000 or more gives 2.0%.</summary>
    public static decimal ForAssigned(AssignedBeneficiaries assigned)
    {
        var n = assigned.Count;
        foreach (var band in Bands)
        {
            if (n >= band.Low && n <= band.High)
            {
                var position = (decimal)(n - band.Low) / (band.High - band.Low);
                return band.RateAtLow - (position * (band.RateAtLow - band.RateAtHigh));
            }
        }

        return 0.020m;
    }
}
