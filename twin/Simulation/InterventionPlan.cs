namespace FederatedTwin.Twin.Simulation;

/// <summary>Interventions flattened into arrays once per run, so the per-person loop only reads numbers.</summary>
internal sealed class InterventionPlan
{
    public InterventionPlan(IReadOnlyList<TwinIntervention> interventions, int years)
    {
        TwinIntervention[] x = [.. interventions];
        Count = x.Length;
        Coverage = [.. x.Select(i => Enumerable.Range(0, years).Select(i.Coverage).ToArray())];
        ConditionMask = [.. x.Select(i => i.TargetCondition is { } c ? 1 << (int)c : 0)];
        AgeLow = [.. x.Select(i => i.TargetAge?.Low ?? int.MinValue)];
        AgeHigh = [.. x.Select(i => i.TargetAge?.High ?? int.MaxValue)];
        RiskModel = [.. x.Select(i => i.RiskModel)];
        RiskLow = [.. x.Select(i => i.RiskLow)];
        RiskHigh = [.. x.Select(i => i.RiskHigh)];
        AdmissionRr = [.. x.Select(i => Product(i, EffectOutcome.Admissions, null))];
        EdRr = [.. x.Select(i => Product(i, EffectOutcome.EdVisits, null))];
        DeathInvOr = [.. x.Select(i => 1 / Product(i, EffectOutcome.Death, null))];
        OtherCostRr = [.. x.Select(i => Product(i, EffectOutcome.OtherCost, null))];
        AdmissionInvOr = [.. x.Select(i => 1 / Product(i, EffectOutcome.AdmissionOdds, null))];
        CostMeanRr = [.. x.Select(i => Product(i, EffectOutcome.CostMean, null))];
        HasAdmissionOdds = x.Any(i => i.Effects.Any(e => e.Outcome == EffectOutcome.AdmissionOdds));
        HasCostMean = x.Any(i => i.Effects.Any(e => e.Outcome == EffectOutcome.CostMean));
        OnsetInvOr = [.. x.Select(i => Enumerable.Range(0, ChronicConditions.Count).Select(k => 1 / Product(i, EffectOutcome.Onset, (ChronicCondition)k)).ToArray())];
        OnsetAffected = [.. Enumerable.Range(0, ChronicConditions.Count).Select(k => x.Any(i => i.Effects.Any(e => e.Outcome == EffectOutcome.Onset && e.Condition == (ChronicCondition)k)))];
        CostPerYear = [.. x.Select(i => i.CostPerEnrolleeMonth * 12)];
        Active = [.. Enumerable.Range(0, years).Select(t => Enumerable.Range(0, Count).Where(k => Coverage[k][t] > 0).ToArray())];
        ActiveTerms = [.. Active.Select((ks, t) => ks.Select(k => new ActiveIntervention(k, ConditionMask[k], AgeLow[k], AgeHigh[k], Coverage[k][t],
            RiskModel[k] is not null, RiskLow[k], RiskHigh[k], CostPerYear[k], AdmissionRr[k], EdRr[k], DeathInvOr[k], OtherCostRr[k], AdmissionInvOr[k], CostMeanRr[k])).ToArray())];
    }

    /// <summary>The active interventions of each year with every number the enrollment loop reads, in one record each.</summary>
    public ActiveIntervention[][] ActiveTerms { get; }

    public int Count { get; }
    public double[][] Coverage { get; }
    public int[] ConditionMask { get; }
    public int[] AgeLow { get; }
    public int[] AgeHigh { get; }
    public CompiledModel?[] RiskModel { get; }
    public double[] RiskLow { get; }
    public double[] RiskHigh { get; }
    public double[] AdmissionRr { get; }
    public double[] EdRr { get; }
    /// <summary>1/OR: an odds ratio multiplies the odds, so it divides e^−η (exactly 1 for no effect).</summary>
    public double[] DeathInvOr { get; }
    public double[] OtherCostRr { get; }
    /// <summary>1/OR on P(any admission) from risk-factor shifts: divides e^−eta of the admission model (1 for none).</summary>
    public double[] AdmissionInvOr { get; }
    /// <summary>Factor on the cost model's mean mu_C from risk-factor shifts (1 for none).</summary>
    public double[] CostMeanRr { get; }
    /// <summary>Some intervention shifts the admission model's odds (the admission pass then evaluates the shifted rate).</summary>
    public bool HasAdmissionOdds { get; }
    /// <summary>Some intervention shifts the cost model's mean.</summary>
    public bool HasCostMean { get; }
    public double[][] OnsetInvOr { get; }
    /// <summary>Conditions whose onset some intervention acts on.</summary>
    public bool[] OnsetAffected { get; }
    public double[] CostPerYear { get; }
    /// <summary>Interventions with positive coverage, per simulation year.</summary>
    public int[][] Active { get; }

    private static double Product(TwinIntervention x, EffectOutcome outcome, ChronicCondition? condition) =>
        x.Effects.Where(e => e.Outcome == outcome && (condition is null || e.Condition == condition))
            .Aggregate(1.0, (acc, e) => acc * e.Multiplier);
}

/// <summary>One intervention's enrollment and effect terms in one simulation year.</summary>
internal readonly record struct ActiveIntervention(int K, long ConditionMask, double AgeLow, double AgeHigh, double Coverage,
    bool HasRisk, double RiskLow, double RiskHigh, double CostPerYear, double AdmissionRr, double EdRr, double DeathInvOr, double OtherCostRr,
    double AdmissionInvOr, double CostMeanRr);
