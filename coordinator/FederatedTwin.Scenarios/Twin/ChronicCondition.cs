namespace FederatedTwin.Scenarios.Twin;

/// <summary>The 11 chronic conditions the twin tracks, one bit each in a person's condition mask (GLOSSARY: condition flags).</summary>
public enum ChronicCondition
{
    HeartFailure = 0,
    Diabetes = 1,
    Copd = 2,
    ChronicKidneyDisease = 3,
    IschemicHeartDisease = 4,
    AtrialFibrillation = 5,
    Hypertension = 6,
    Depression = 7,
    Dementia = 8,
    Cancer = 9,
    Stroke = 10,
}

/// <summary>Names used in model features and scenario files.</summary>
public static class ChronicConditions
{
    /// <summary>Number of conditions (bits in the mask).</summary>
    public const int Count = 11;

    private static readonly string[] Names =
        ["chf", "diabetes", "copd", "ckd", "ihd", "afib", "hypertension", "depression", "dementia", "cancer", "stroke"];

    /// <summary>The feature/scenario name of a condition (chf, diabetes, ...).</summary>
    public static string Name(this ChronicCondition c) => Names[(int)c];

    /// <summary>All names, in bit order.</summary>
    public static IReadOnlyList<string> All => Names;

    /// <summary>Looks a name up; false if unknown.</summary>
    public static bool TryParse(string name, out ChronicCondition condition)
    {
        var i = Array.IndexOf(Names, name);
        condition = (ChronicCondition)Math.Max(i, 0);
        return i >= 0;
    }
}
