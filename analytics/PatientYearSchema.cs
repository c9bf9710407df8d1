namespace FederatedTwin.Analytics;

/// <summary>
/// The parts of the node's patient-year feature schema (node/Features/FeatureSchema.cs, docs/features.md) that the
/// coordinator side needs too: the chronic-condition columns and the age bands. This is the single source of truth;
/// FeatureSchema.Conditions and FeatureSchema.AgeBands refer to it, so the models the nodes train and the twin that
/// evaluates them cannot disagree on names or order.
/// </summary>
public static class PatientYearSchema
{
    /// <summary>The 11 chronic-condition columns, in column order (each also names an onset_&lt;c&gt;_next_year outcome).</summary>
    public static readonly IReadOnlyList<string> Conditions =
        ["diabetes", "hypertension", "heart_failure", "copd", "ckd", "cad", "asthma", "depression", "obesity", "cancer", "dementia"];

    /// <summary>Age bands of the schema's age_band column (90+ is HIPAA Safe Harbor's top band: ages over 89 are aggregated).</summary>
    public static readonly IReadOnlyList<string> AgeBands = ["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85-89", "90+"];

    /// <summary>
    /// Every column of the patient-year table, in the node's column order (node FeatureSchema.Columns gives each its meaning;
    /// a test holds the two equal). A study may name only these as features, outcome or offset: the coordinator refuses any
    /// other name when the study is created, rather than let every node refuse it later.
    /// </summary>
    public static readonly IReadOnlyList<string> Columns =
    [
        "year", "age", "age_band", "sex_male", "medicare_eligible",
        .. Conditions,
        "condition_count", "inpatient_admissions", "inpatient_days", "ed_visits", "ambulatory_visits", "cost", "cost_from_claims",
        "hba1c", "sbp", "dbp", "outcome_observed",
        "admission_next_year", "inpatient_days_next_year", "ed_visits_next_year", "cost_next_year", "death_next_year",
        .. Conditions.Select(c => $"onset_{c}_next_year"),
    ];

    private static readonly HashSet<string> ColumnSet = new(Columns, StringComparer.Ordinal);

    /// <summary>Whether <paramref name="name"/> is a column of the patient-year table.</summary>
    public static bool IsColumn(string name) => ColumnSet.Contains(name);

    /// <summary>Refuses, naming <paramref name="field"/>, the first of <paramref name="columns"/> that is not a column of the table.</summary>
    public static void RequireColumns(string field, IEnumerable<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.FirstOrDefault(c => !IsColumn(c)) is { } unknown)
        {
            throw new Studies.StudyFileException(field, $"'{unknown}' is not a column of the patient-year feature schema (docs/features.md)");
        }
    }

    /// <summary>The outcome column for the onset of a condition the next year, as FeatureSchema.Columns names it.</summary>
    public static string OnsetOutcome(string condition) => $"onset_{condition}_next_year";

    /// <summary>
    /// The condition whose onset an outcome column records (onset_diabetes_next_year → diabetes), or null for any other
    /// column. Such an outcome is defined only for patient-years without that condition: a patient who already has it is
    /// not at risk of its onset (incidence, not prevalence; Rothman, Greenland &amp; Lash, Modern Epidemiology, 3rd ed., ch. 3).
    /// </summary>
    public static string? OnsetCondition(string column) =>
        column.StartsWith("onset_", StringComparison.Ordinal) && column.EndsWith("_next_year", StringComparison.Ordinal)
        && column.Length > "onset__next_year".Length && column["onset_".Length..^"_next_year".Length] is var c && Conditions.Contains(c)
            ? c
            : null;
}
