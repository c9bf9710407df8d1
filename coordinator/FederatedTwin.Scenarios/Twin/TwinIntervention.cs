namespace FederatedTwin.Scenarios.Twin;

/// <summary>Outcomes an intervention may act on.</summary>
public enum EffectOutcome
{
    /// <summary>Inpatient admissions (relative risk on the Poisson admission rate).</summary>
    Admissions,
    /// <summary>ED visits (relative risk on the rate).</summary>
    EdVisits,
    /// <summary>Death (odds ratio on the annual probability).</summary>
    Death,
    /// <summary>The cost not explained by admissions, bed-days and ED visits at unit prices (relative change of its mean).</summary>
    OtherCost,
    /// <summary>Onset of one condition (odds ratio); the condition is named in <see cref="InterventionEffect.Condition"/>.</summary>
    Onset,
}

/// <summary>One effect: a multiplier on a rate (relative risk) or on the odds (odds ratio) of an outcome.</summary>
public sealed record InterventionEffect(EffectOutcome Outcome, double Multiplier, ChronicCondition? Condition = null);

/// <summary>
/// An intervention ready for the yearly step: who is eligible (condition, age band, risk band of a named model),
/// coverage by simulation year (ramp-up), effects, and cost per enrollee per month. Eligibility is tested on the
/// person's features (conditions and age at the end of the year before the simulated one).
/// </summary>
public sealed record TwinIntervention(
    string Name,
    ChronicCondition? TargetCondition,
    AgeBand? TargetAge,
    CompiledModel? RiskModel,
    double RiskLow,
    double RiskHigh,
    IReadOnlyList<double> CoverageByYear,
    IReadOnlyList<InterventionEffect> Effects,
    double CostPerEnrolleeMonth,
    int StartYearIndex,
    int? HorizonYears = null)
{
    /// <summary>The same intervention with every effect multiplier set to 1 (used by the zero-effect property).</summary>
    public TwinIntervention WithNoEffect() => this with { Effects = [.. Effects.Select(e => e with { Multiplier = 1.0 })] };

    /// <summary>Coverage in simulation year t (0 before the start year and after the horizon; last value carried forward).</summary>
    public double Coverage(int t) => t < StartYearIndex || CoverageByYear.Count == 0 || (HorizonYears is { } h && t >= StartYearIndex + h)
        ? 0
        : CoverageByYear[Math.Min(t - StartYearIndex, CoverageByYear.Count - 1)];
}
