namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// The three example interventions of scenarios/*.yaml in code form, for the benchmark and tests (the YAML files carry the
/// sources of each effect size).
/// </summary>
public static class DemoInterventions
{
    /// <summary>CHF transitional care, diabetes prevention, community health workers.</summary>
    public static IReadOnlyList<TwinIntervention> Create(ModelSet models)
    {
        ArgumentNullException.ThrowIfNull(models);
        return
        [
            // Phillips et al., JAMA 2004: readmission RR ~0.75 for comprehensive discharge planning + post-discharge support in CHF.
            new TwinIntervention("chf-transitional-care", ChronicCondition.HeartFailure, null, null, 0, 1,
                [0.3, 0.6], [new InterventionEffect(EffectOutcome.Admissions, 0.75)], 150, 0),
            // DPP Research Group, NEJM 2002: lifestyle intervention reduced diabetes incidence by 58% (RR 0.42; used as OR here, rare outcome).
            new TwinIntervention("diabetes-prevention", null, new AgeBand(45, 79), null, 0, 1,
                [0.2, 0.4], [new InterventionEffect(EffectOutcome.Onset, 0.42, ChronicCondition.Diabetes)], 40, 0),
            // Community health workers for high-risk patients (Kangovi et al., JAMA Intern Med 2014): illustrative admission effect.
            new TwinIntervention("community-health-workers", null, null, models.Admission, 0.25, 1.0,
                [0.5], [new InterventionEffect(EffectOutcome.Admissions, 0.85), new InterventionEffect(EffectOutcome.EdVisits, 0.9)], 60, 1),
        ];
    }
}
