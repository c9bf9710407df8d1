using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Node.Federation;

/// <summary>
/// What an exact release counts and over whom, as the node's release ledger (<see cref="ReleaseLedger"/>) compares releases across
/// studies: a statistic (what is computed from each patient or patient-year) and a cohort (which patients: the census year, the
/// purpose of use whose consent rules decide who is counted). It is derived from the accepted study alone — its algorithm and the
/// parameters that define what is counted and over whom — never from the coordinator's per-round state, and never from parameters that
/// only shape how a result is fitted or shown (min_cell_size, ridge, iterations, start, bounds, holdout, family): a coordinator could
/// otherwise make a repeat of a statistic look new by changing one of those. Leaving them out makes two studies that differ only there
/// the same statistic, which is the conservative side (their exact releases over different hospitals are refused).
/// </summary>
/// <param name="Statistic">What is computed, e.g. "patients_by_age_band_and_sex" or "federated-glm admission_next_year ~ age,sex_male".</param>
/// <param name="Cohort">Over whom, e.g. "year 2024, purpose HOPERAT".</param>
public sealed record ReleasedStatistic(string Statistic, string Cohort)
{
    /// <summary>The form the ledger stores and compares.</summary>
    public override string ToString() => $"{Statistic} over {Cohort}";

    /// <summary>
    /// Patients alive at the start of a year by age band and sex, consent applied for the purpose: the federated sum's census, and the
    /// composition's margin over condition count (the same patients, so an exact composition and an exact census are one statistic here).
    /// </summary>
    public static ReleasedStatistic Census(string vector, string? year, PurposeOfUse purpose) => new(vector, InYear(year, purpose));

    /// <summary>The composition and prevalence counts of a year (age band × sex × condition count, and each condition).</summary>
    public static ReleasedStatistic Composition(string? year, PurposeOfUse purpose) => new("composition_and_prevalence", InYear(year, purpose));

    /// <summary>
    /// A model's sums over its patient-years: the outcome and the features (as a set) decide which rows are used and which columns are
    /// summed; the family, offset, holdout, bounds and fitting options do not change that the rows' moments are released (round 1).
    /// </summary>
    public static ReleasedStatistic ModelRows(string algorithm, IReadOnlyDictionary<string, string>? parameters, PurposeOfUse purpose)
    {
        var outcome = parameters?.GetValueOrDefault("outcome")?.Trim() ?? "-";
        var features = string.Join(',', (parameters?.GetValueOrDefault("features") ?? string.Empty)
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        return new($"{algorithm} {outcome} ~ {features}", $"patient-years, purpose {purpose.Code}");
    }

    /// <summary>For an algorithm that defines nothing narrower: everything it releases for a purpose is one statistic (the conservative side).</summary>
    public static ReleasedStatistic Whole(string algorithm, PurposeOfUse purpose) => new(algorithm, $"purpose {purpose.Code}");

    private static string InYear(string? year, PurposeOfUse purpose) => $"year {year?.Trim() ?? "unspecified"}, purpose {purpose.Code}";
}
