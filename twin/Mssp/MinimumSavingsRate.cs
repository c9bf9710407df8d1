namespace FederatedTwin.Twin.Mssp;

/// <summary>
/// The minimum savings rate table for one-sided models by number of assigned beneficiaries, 42 CFR 425.604(b)
/// (as referenced by 425.605(b)(1) for BASIC Levels A and B and, when the ACO elects the variable MSR/MLR,
/// 425.605(b)(2)(i)(C) and 425.610(b)(1)(iii)).
/// SOURCE STATUS: the ten rows below (number of beneficiaries, MSR at the low end, MSR at the high end) were checked
/// digit by digit against the text of 425.604(b) in an eCFR snapshot (github.com/MichalOpoka/ecfr,
/// cfr/title-42-.../subpart-G-Shared-Savings-Losses/section-425.604.md, commit 4be71cd5, "[76 FR 67973, Nov. 2, 2011,
/// as amended at 81 FR 38016, June 10, 2016]"). 425.605(b)(1), which governs BASIC agreement periods from July 2019, prints
/// its table only as a graphic (er31de18.024.gif, 83 FR 67816) that the snapshot does not carry; a secondary source
/// (Milliman, "MSSP minimum savings/(loss) rates") gives its range as 2.0%–12.2%, i.e. extra rows below 5,000 assigned,
/// which 425.110(a) excludes here. ASSUMPTION: its rows from 5,000 up equal 425.604(b). The CFR gives only the rate at
/// each band's low and high end ("sliding scale"); linear interpolation between them, unrounded, is an ASSUMPTION (CMS's
/// methodology specifications would state the interpolation and rounding; copies were located, docs/scenarios.md, but only
/// their title pages and revision histories could be read here).
/// <para>
/// Below 5,000 assigned beneficiaries, where 425.604(b) does not reach (an ACO may fall below 5,000 during an agreement period,
/// 425.110(b), and CMS then still settles it on a sliding scale), the rates come from the four bands of a third-party table (the
/// Tuva Project's MSSP seed data: under 500 12.2%; 500-999 12.2% to 8.7%; 1,000-2,999 8.7% to 5.0%; 3,000-4,999 5.0% to 3.9%).
/// The table is not a CMS publication, but every Track 1 ACO of CMS's 2018 public use file with fewer than 5,000 assigned
/// beneficiaries has the MSR this interpolation gives (tests/FederatedTwin.Twin.Tests, PublishedSettlementTests).
/// </para>
/// </summary>
public static class MinimumSavingsRate
{
    private readonly record struct Band(int Low, int High, decimal RateAtLow, decimal RateAtHigh);

    // Below 5,000 (third-party bands, see above): (low end, high end, MSR at low end, MSR at high end).
    private static readonly Band[] SmallBands =
    [
        new(0, 499, 0.122m, 0.122m),
        new(500, 999, 0.122m, 0.087m),
        new(1_000, 2_999, 0.087m, 0.050m),
        new(3_000, 4_999, 0.050m, 0.039m),
    ];

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
    public static decimal ForAssigned(AssignedBeneficiaries assigned) => ForCount(assigned.Count);

    /// <summary>
    /// MSR for any number of assigned beneficiaries, including the bands below 5,000 (for settling ACOs that fell below the
    /// program minimum, as CMS's public use files do); <see cref="ForAssigned"/> for a settlement that requires 5,000.
    /// </summary>
    public static decimal ForCount(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        foreach (var band in n < AssignedBeneficiaries.Minimum ? SmallBands : Bands)
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
