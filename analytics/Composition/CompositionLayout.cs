using FederatedTwin.Analytics.Census;
using FederatedTwin.Protocol.Federation;

namespace FederatedTwin.Analytics.Composition;

/// <summary>
/// The population-composition vectors a node contributes. Composition: age band (8) × sex (2) ×
/// number of the 11 chronic conditions (0, 1, 2, 3, 4+) = 80 counts, age-major then sex then condition count.
/// Prevalence: for each of the 11 conditions, the patients having it by age band × sex × condition count
/// 1, 2, 3, 4+ = 64 counts per condition, 704 in all, condition-major. The condition-count-0 layer is left out:
/// nobody with no conditions has one, so those 88 cells are zero by definition and noising them would spend
/// budget on a known value.
/// </summary>
public static class CompositionLayout
{
    public const int AgeBands = 8;
    public const int Sexes = 2;
    public const int ConditionCountLevels = 5;
    public const int Conditions = 11;
    public const int CompositionCells = AgeBands * Sexes * ConditionCountLevels;
    public const int PrevalenceCountLevels = ConditionCountLevels - 1;
    public const int PrevalenceCellsPerCondition = AgeBands * Sexes * PrevalenceCountLevels;
    public const int PrevalenceCells = PrevalenceCellsPerCondition * Conditions;

    public static IReadOnlyList<string> AgeBandLabels => LocalVectors.AgeBands;

    public static IReadOnlyList<string> SexLabels => LocalVectors.Sexes;

    public static IReadOnlyList<string> ConditionCountLabels { get; } = ["0", "1", "2", "3", "4+"];

    /// <summary>The 11 chronic conditions in layout order: the node's feature schema uses the same list (a test checks it).</summary>
    public static IReadOnlyList<string> ConditionNames => PatientYearSchema.Conditions;

    /// <summary>
    /// L2 sensitivity of the whole composition vector (composition + prevalence) to adding or removing one
    /// patient: one count in one composition cell and at most one in each of the 11 prevalence tables.
    /// </summary>
    public static double L2Sensitivity => Math.Sqrt(1 + Conditions);

    /// <summary>L1 sensitivity of the same: at most 1 + 11 counts move, each by 1 (the distributed accountant's ‖Δ‖₁).</summary>
    public static double L1Sensitivity => 1 + Conditions;

    public static IReadOnlyList<int> CompositionShape { get; } = [AgeBands, Sexes, ConditionCountLevels];

    public static IReadOnlyList<int> PrevalenceShape { get; } = [AgeBands, Sexes, PrevalenceCountLevels];

    /// <summary>Band of an age in completed years (90 and over is Safe Harbor's top band).</summary>
    public static int AgeBand(int age) => age switch
    {
        < 0 => throw new ArgumentOutOfRangeException(nameof(age)),
        < 18 => 0,
        < 35 => 1,
        < 50 => 2,
        < 65 => 3,
        < 75 => 4,
        < 85 => 5,
        < 90 => 6,
        _ => 7,
    };

    /// <summary>Level of a number of chronic conditions: 0–3, then 4 for four or more.</summary>
    public static int ConditionCountLevel(int conditions)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(conditions);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(conditions, Conditions);
        return Math.Min(conditions, ConditionCountLevels - 1);
    }

    public static int CompositionIndex(int ageBand, int sex, int conditionCountLevel)
    {
        Check(ageBand, AgeBands, nameof(ageBand));
        Check(sex, Sexes, nameof(sex));
        Check(conditionCountLevel, ConditionCountLevels, nameof(conditionCountLevel));
        return (((ageBand * Sexes) + sex) * ConditionCountLevels) + conditionCountLevel;
    }

    /// <summary>Index of condition <paramref name="condition"/>'s count among patients in (age band, sex, level ≥ 1).</summary>
    public static int PrevalenceIndex(int condition, int ageBand, int sex, int conditionCountLevel)
    {
        Check(condition, Conditions, nameof(condition));
        Check(ageBand, AgeBands, nameof(ageBand));
        Check(sex, Sexes, nameof(sex));
        if (conditionCountLevel < 1 || conditionCountLevel >= ConditionCountLevels)
        {
            throw new ArgumentOutOfRangeException(nameof(conditionCountLevel), "prevalence exists only for condition-count levels 1..4+");
        }

        return (condition * PrevalenceCellsPerCondition) + (((ageBand * Sexes) + sex) * PrevalenceCountLevels) + (conditionCountLevel - 1);
    }

    private static void Check(int value, int size, string name)
    {
        if ((uint)value >= (uint)size)
        {
            throw new ArgumentOutOfRangeException(name, $"must be in 0..{size - 1}");
        }
    }
}
