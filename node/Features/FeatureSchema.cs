namespace FederatedTwin.Node.Features;

/// <summary>
/// The patient-year feature schema the models consume (docs/features.md). One row per
/// pseudonymous patient and calendar year in which the patient was alive at the start of the year;
/// outcomes describe the next year and are present only when that year is inside the node's data.
/// </summary>
public static class FeatureSchema
{
    /// <summary>The calendar years the store keeps ages for.</summary>
    public const int FirstYear = 2000;
    public const int LastYear = 2035;

    public static readonly IReadOnlyList<string> Conditions = FederatedTwin.Analytics.PatientYearSchema.Conditions;

    /// <summary>The fact category of an ESRD diagnosis (medicare-proxies.csv): not a model condition, a Medicare entitlement proxy.</summary>
    public const string EsrdProxy = "esrd";

    public static readonly IReadOnlyList<string> AgeBands = FederatedTwin.Analytics.PatientYearSchema.AgeBands;

    /// <summary>Unit costs (USD) used when a year has encounters but no Claim or ExplanationOfBenefit: the node's own table, documented.</summary>
    public static readonly IReadOnlyDictionary<string, double> UnitCost = new Dictionary<string, double>
    {
        ["inpatient_stay"] = 12_000, ["inpatient_day"] = 2_500, ["emergency"] = 1_500, ["ambulatory"] = 150,
    };

    /// <summary>Every column, in order: name and meaning.</summary>
    public static readonly IReadOnlyList<(string Name, string Meaning)> Columns =
    [
        ("year", "calendar year"),
        ("age", "age in completed years on 31 December, 90 meaning 90 or over (Safe Harbor)"),
        ("age_band", "one of " + string.Join(", ", AgeBands)),
        ("sex_male", "1 if administrative gender is male, else 0"),
        ("medicare_eligible", "1 if aged 65 or over in the year, or with end-stage renal disease recorded by its end (ESRD entitlement, medicare-proxies.csv); disability entitlement is not in clinical data"),
        .. Conditions.Select(c => (c, $"1 if {c.Replace('_', ' ')} was recorded by the end of the year (SNOMED CT / ICD-10-CM codes, chronic-conditions.csv)")),
        ("condition_count", "number of the 11 chronic conditions"),
        ("inpatient_admissions", "inpatient encounters starting in the year"),
        ("inpatient_days", "days of those stays"),
        ("ed_visits", "emergency encounters in the year"),
        ("ambulatory_visits", "other encounters in the year"),
        ("cost", "sum of Claim/ExplanationOfBenefit totals in the year, else the unit-cost estimate"),
        ("cost_from_claims", "1 if cost comes from claims, 0 if from the unit-cost table"),
        ("hba1c", "mean HbA1c (%) in the year, empty if none"),
        ("sbp", "mean systolic blood pressure (mm Hg), empty if none"),
        ("dbp", "mean diastolic blood pressure (mm Hg), empty if none"),
        ("outcome_observed", "1 if the next year is inside the node's data"),
        ("admission_next_year", "1 if any inpatient encounter the next year"),
        ("inpatient_days_next_year", "inpatient days the next year"),
        ("ed_visits_next_year", "emergency encounters the next year"),
        ("cost_next_year", "cost the next year"),
        ("death_next_year", "1 if the patient died the next year"),
        .. Conditions.Select(c => ($"onset_{c}_next_year", $"1 if {c.Replace('_', ' ')} was first recorded the next year")),
    ];

    public static string AgeBand(int age) => age switch
    {
        < 18 => "0-17",
        < 35 => "18-34",
        < 50 => "35-49",
        < 65 => "50-64",
        < 75 => "65-74",
        < 85 => "75-84",
        < 90 => "85-89",
        _ => "90+",
    };
}
