namespace FederatedTwin.Protocol.Models;

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

    /// <summary>The outcome column for the onset of a condition the next year, as FeatureSchema.Columns names it.</summary>
    public static string OnsetOutcome(string condition) => $"onset_{condition}_next_year";
}
