using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The patient-year feature columns (docs/features.md, node/Features/FeatureSchema.cs) that the twin simulates for
/// every synthetic person, so a registered model's terms over them can be evaluated. A person's features describe
/// one calendar year (the "feature year"); the models predict the next year's outcomes from them, exactly as the
/// nodes' training rows pair a year's features with the next year's outcomes.
/// </summary>
public static class TwinFeatures
{
    /// <summary>Calendar year of the features.</summary>
    public const string Year = "year";
    /// <summary>Age in completed years on 31 December, capped at <see cref="MaxModelAge"/>.</summary>
    public const string Age = "age";
    /// <summary>1 if male.</summary>
    public const string SexMale = "sex_male";
    /// <summary>1 if aged 65 or over in the feature year (the twin has no ESRD entitlement).</summary>
    public const string MedicareEligible = "medicare_eligible";
    /// <summary>Number of the 11 chronic conditions.</summary>
    public const string ConditionCount = "condition_count";
    /// <summary>Inpatient admissions in the feature year.</summary>
    public const string InpatientAdmissions = "inpatient_admissions";
    /// <summary>Inpatient days in the feature year.</summary>
    public const string InpatientDays = "inpatient_days";
    /// <summary>Emergency visits in the feature year.</summary>
    public const string EdVisits = "ed_visits";
    /// <summary>Total cost (USD) of the feature year.</summary>
    public const string Cost = "cost";

    /// <summary>FeatureSchema's age column: "age in completed years on 31 December, 90 meaning 90 or over (Safe Harbor)".</summary>
    public const int MaxModelAge = 90;

    /// <summary>The categorical age band column; GLMs see it as indicators age_band[level] (GlmStudy.Categorical).</summary>
    public const string AgeBand = "age_band";

    /// <summary>Every indicator term of the age band a model may use: age_band[0-17] … age_band[90+].</summary>
    public static IReadOnlyList<string> AgeBandIndicators { get; } = [.. Analytics.PatientYearSchema.AgeBands.Select(b => $"{AgeBand}[{b}]")];

    /// <summary>
    /// The indicator term that is 1 for a person of this age: the band of min(age, 90), exactly as the node's feature
    /// builder assigns FeatureSchema.AgeBand to the Safe-Harbor-capped age column.
    /// </summary>
    public static string AgeBandIndicator(int age) =>
        AgeBandIndicators[Analytics.Composition.CompositionLayout.AgeBand(Math.Min(age, MaxModelAge))];

    /// <summary>Every term name a registered model may use in the twin, besides "(Intercept)" and the age band indicators.</summary>
    public static IReadOnlyList<string> Simulated { get; } =
        [Year, Age, SexMale, MedicareEligible, .. ChronicConditions.All, ConditionCount, InpatientAdmissions, InpatientDays, EdVisits, Cost];
}

/// <summary>
/// One synthetic person's features for one year, as a feature-schema row would hold them. <see cref="Value"/> is the
/// plain column lookup (used by tests as an independent evaluator of Σ β·feature).
/// </summary>
public readonly record struct PersonFeatures(int Year, int Age, bool Male, int Conditions, double InpatientAdmissions, double InpatientDays, double EdVisits, double Cost)
{
    /// <summary>The value of one column (or 1 for the intercept); throws for a column the twin does not simulate.</summary>
    public double Value(string column)
    {
        if (column == ModelTerm.Intercept)
        {
            return 1;
        }

        if (ChronicConditions.TryParse(column, out var c))
        {
            return (Conditions >> (int)c) & 1;
        }

        if (TwinFeatures.AgeBandIndicators.Contains(column))
        {
            return TwinFeatures.AgeBandIndicator(Age) == column ? 1 : 0;
        }

        return column switch
        {
            TwinFeatures.Year => Year,
            TwinFeatures.Age => Math.Min(Age, TwinFeatures.MaxModelAge),
            TwinFeatures.SexMale => Male ? 1 : 0,
            TwinFeatures.MedicareEligible => Age >= 65 ? 1 : 0,
            TwinFeatures.ConditionCount => System.Numerics.BitOperations.PopCount((uint)Conditions),
            TwinFeatures.InpatientAdmissions => InpatientAdmissions,
            TwinFeatures.InpatientDays => InpatientDays,
            TwinFeatures.EdVisits => EdVisits,
            TwinFeatures.Cost => Cost,
            _ => throw new ArgumentException($"'{column}' is not a feature the twin simulates", nameof(column)),
        };
    }
}
