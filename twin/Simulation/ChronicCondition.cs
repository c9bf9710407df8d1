using FederatedTwin.Analytics;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The 11 chronic conditions of the patient-year feature schema, one bit each in a person's condition mask, in the
/// order of <see cref="PatientYearSchema.Conditions"/> (a test checks each member's snake_case name against it).
/// </summary>
public enum ChronicCondition
{
    Diabetes = 0,
    Hypertension = 1,
    HeartFailure = 2,
    Copd = 3,
    Ckd = 4,
    Cad = 5,
    Asthma = 6,
    Depression = 7,
    Obesity = 8,
    Cancer = 9,
    Dementia = 10,
}

/// <summary>Names used in model terms and scenario files: the feature schema's condition columns.</summary>
public static class ChronicConditions
{
    /// <summary>Number of conditions (bits in the mask).</summary>
    public const int Count = 11;

    /// <summary>The column name of a condition (diabetes, heart_failure, ...).</summary>
    public static string Name(this ChronicCondition c) => PatientYearSchema.Conditions[(int)c];

    /// <summary>All names, in bit order.</summary>
    public static IReadOnlyList<string> All => PatientYearSchema.Conditions;

    /// <summary>Looks a name up; false if unknown.</summary>
    public static bool TryParse(string name, out ChronicCondition condition)
    {
        var i = -1;
        for (var k = 0; k < All.Count; k++)
        {
            if (All[k] == name)
            {
                i = k;
            }
        }

        condition = (ChronicCondition)Math.Max(i, 0);
        return i >= 0;
    }
}
