using FederatedTwin.Analytics;
using FederatedTwin.Analytics.Glm;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The outcomes the yearly step draws, each from one registered model: the outcome column it must predict and the GLM
/// families the step knows how to draw from (binomial → Bernoulli / Poisson-count conversion, poisson → log-link mean,
/// gaussian → identity-link mean clamped at 0).
/// </summary>
public static class TwinOutcomes
{
    /// <summary>Inpatient admissions, from P(any admission next year) (admission_next_year, binomial).</summary>
    public const string Admission = "admission";
    /// <summary>Inpatient days (inpatient_days_next_year, poisson or gaussian).</summary>
    public const string InpatientDays = "inpatient_days";
    /// <summary>Emergency visits (ed_visits_next_year, poisson or gaussian).</summary>
    public const string EdVisits = "ed_visits";
    /// <summary>Total cost (cost_next_year, poisson/quasi-poisson or gaussian).</summary>
    public const string Cost = "cost";
    /// <summary>Death (death_next_year, binomial).</summary>
    public const string Death = "death";

    /// <summary>The onset outcome of a condition: onset:&lt;condition&gt;.</summary>
    public static string Onset(ChronicCondition c) => "onset:" + c.Name();

    /// <summary>Every outcome, in the order of the yearly step.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Admission, InpatientDays, EdVisits, Cost, Death, .. Enum.GetValues<ChronicCondition>().Select(Onset)];

    /// <summary>The outcome column and families a model for <paramref name="outcome"/> must have.</summary>
    public static (string Column, IReadOnlyList<GlmFamily> Families) Requirement(string outcome) => outcome switch
    {
        Admission => ("admission_next_year", [GlmFamily.Binomial]),
        InpatientDays => ("inpatient_days_next_year", [GlmFamily.Poisson, GlmFamily.Gaussian]),
        EdVisits => ("ed_visits_next_year", [GlmFamily.Poisson, GlmFamily.Gaussian]),
        Cost => ("cost_next_year", [GlmFamily.Poisson, GlmFamily.Gaussian]),
        Death => ("death_next_year", [GlmFamily.Binomial]),
        _ when outcome.StartsWith("onset:", StringComparison.Ordinal) && ChronicConditions.TryParse(outcome[6..], out _) =>
            (PatientYearSchema.OnsetOutcome(outcome[6..]), [GlmFamily.Binomial]),
        _ => throw new ModelSetException("use." + outcome, $"'{outcome}' is not a twin outcome (known: {string.Join(", ", All)})"),
    };
}

/// <summary>
/// Twin settings that are not model coefficients. Unit costs split each person-year's predicted cost into a facility
/// part that follows the simulated admissions, bed-days and ED visits (so an intervention that prevents an admission
/// saves its price) and the rest.
/// </summary>
/// <param name="InpatientStayCost">USD per admission. Default: the node's unit-cost table, FeatureSchema.UnitCost["inpatient_stay"] (node/Features/FeatureSchema.cs).</param>
/// <param name="InpatientDayCost">USD per inpatient day. Default: FeatureSchema.UnitCost["inpatient_day"].</param>
/// <param name="EmergencyVisitCost">USD per ED visit. Default: FeatureSchema.UnitCost["emergency"].</param>
/// <param name="OtherCostLogSd">σ of the mean-one log-normal noise on the non-facility cost. ASSUMPTION: 0.9, chosen
/// for the demo (not estimated); registered GLMs carry no distribution for it.</param>
public sealed record TwinParameters(double InpatientStayCost = 12_000, double InpatientDayCost = 2_500, double EmergencyVisitCost = 1_500, double OtherCostLogSd = 0.9)
{
    /// <summary>Throws <see cref="ModelSetException"/> naming a negative or non-finite setting.</summary>
    public void Validate()
    {
        static void Check(bool ok, string field, string problem)
        {
            if (!ok)
            {
                throw new ModelSetException(field, $"{field}: {problem}");
            }
        }

        Check(InpatientStayCost >= 0 && double.IsFinite(InpatientStayCost), "unit_costs.inpatient_stay", "must be a finite number >= 0");
        Check(InpatientDayCost >= 0 && double.IsFinite(InpatientDayCost), "unit_costs.inpatient_day", "must be a finite number >= 0");
        Check(EmergencyVisitCost >= 0 && double.IsFinite(EmergencyVisitCost), "unit_costs.emergency", "must be a finite number >= 0");
        Check(OtherCostLogSd is >= 0 and <= 3, "other_cost_log_sd", "must be between 0 and 3");
    }
}

/// <summary>A model set cannot be built: <see cref="TwinInputException.Field"/> is the twin outcome, "use.&lt;outcome&gt;", a parameter, or the model id at fault.</summary>
public sealed class ModelSetException : TwinInputException
{
    /// <summary>Creates the error.</summary>
    public ModelSetException(string field, string message)
        : base(field, message)
    {
    }

    /// <summary>Required by CA1032.</summary>
    public ModelSetException()
    {
    }

    /// <summary>Required by CA1032.</summary>
    public ModelSetException(string message)
        : base(message)
    {
    }

    /// <summary>Required by CA1032.</summary>
    public ModelSetException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
