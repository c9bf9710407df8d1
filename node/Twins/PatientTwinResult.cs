namespace FederatedTwin.Node.Twins;

/// <summary>A point value and its 95% interval (for a risk: p, lower, upper).</summary>
public readonly record struct PatientInterval(double Value, double Lower, double Upper);

/// <summary>One patient's next-year quantities under one arm (baseline, or enrolled in the scenario's interventions).</summary>
/// <param name="Risks">Probabilities of the binary outcomes (admission, death, ed_visit, onset_&lt;c&gt;), by outcome name.</param>
/// <param name="EdVisits">Expected ED visits, or null when not scored.</param>
/// <param name="InpatientDays">Expected inpatient days, or null.</param>
/// <param name="Cost">Expected cost (USD), or null.</param>
public sealed record PatientOutcomes(IReadOnlyDictionary<string, PatientInterval> Risks, PatientInterval? EdVisits, PatientInterval? InpatientDays, PatientInterval? Cost)
{
    /// <summary>An expected value by its output name (expected_ed_visits, expected_inpatient_days, expected_cost).</summary>
    public PatientInterval? Expected(string name) => name switch
    {
        PatientTwin.ExpectedEdVisits => EdVisits,
        PatientTwin.ExpectedInpatientDays => InpatientDays,
        PatientTwin.ExpectedCost => Cost,
        _ => null,
    };
}

/// <summary>One living patient's twin: demographics as the features hold them, the baseline, and under a scenario the enrolled arm.</summary>
/// <param name="Missing">Outcomes not scored for this patient because a model term's value is missing (never imputed).</param>
/// <param name="EligibleFor">Under a scenario, the interventions the patient is eligible for (empty: none); null without a scenario.</param>
/// <param name="Differences">Scenario − baseline of every risk and expected value, for an eligible patient; else null.</param>
/// <param name="Benefit">Expected net savings next year (USD) if enrolled: baseline cost − scenario cost − program cost; null when not eligible, no scenario, or no cost.</param>
public sealed record PatientTwinResult(string Pseudonym, string AgeBand, string Sex, IReadOnlyList<string> Conditions, PatientOutcomes Baseline,
    IReadOnlyList<string> Missing, IReadOnlyList<string>? EligibleFor, PatientOutcomes? Scenario, IReadOnlyDictionary<string, double>? Differences, double? Benefit)
{
    /// <summary>Under a scenario, whether the patient is eligible for any intervention; null without one.</summary>
    public bool? Eligible => EligibleFor is null ? null : EligibleFor.Count > 0;

    /// <summary>The ranking value: a risk's p, an expected value, or <c>benefit</c>; null when the patient has none.</summary>
    public double? RankValue(string rankBy) => rankBy == PatientTwin.BenefitKey ? Benefit
        : Baseline.Risks.TryGetValue(rankBy, out var r) ? r.Value
        : Baseline.Expected(rankBy)?.Value;
}

/// <summary>A released model the patient twin did not use, and why.</summary>
public sealed record UnusedModel(string Id, string Outcome, string Reason);
