namespace FederatedTwin.Scenarios.Twin;

/// <summary>Interventions flattened into arrays once per run, so the per-person loop only reads numbers.</summary>
internal sealed class InterventionPlan
{
    private readonly TwinIntervention[] _interventions;

    public InterventionPlan(IReadOnlyList<TwinIntervention> interventions, int years)
    {
        _interventions = [.. interventions];
        Count = _interventions.Length;
        Coverage = [.. _interventions.Select(x => Enumerable.Range(0, years).Select(x.Coverage).ToArray())];
        AdmissionRr = [.. _interventions.Select(x => Product(x, EffectOutcome.Admissions, null))];
        EdRr = [.. _interventions.Select(x => Product(x, EffectOutcome.EdVisits, null))];
        DeathOr = [.. _interventions.Select(x => Product(x, EffectOutcome.Death, null))];
        CostRr = [.. _interventions.Select(x => Product(x, EffectOutcome.AmbulatoryCost, null))];
        OnsetOr = [.. _interventions.Select(x => Enumerable.Range(0, ChronicConditions.Count)
            .Select(k => Product(x, EffectOutcome.Onset, (ChronicCondition)k)).ToArray())];
        CostPerYear = [.. _interventions.Select(x => x.CostPerEnrolleeMonth * 12)];
        _meanLow = [.. _interventions.Select(x => -Math.Log(1 - x.RiskLow))];
        _meanHigh = [.. _interventions.Select(x => x.RiskHigh >= 1 ? double.PositiveInfinity : -Math.Log(1 - x.RiskHigh))];
    }

    private readonly double[] _meanLow;
    private readonly double[] _meanHigh;

    public int Count { get; }
    public double[][] Coverage { get; }
    public double[] AdmissionRr { get; }
    public double[] EdRr { get; }
    public double[] DeathOr { get; }
    public double[] CostRr { get; }
    public double[][] OnsetOr { get; }
    public double[] CostPerYear { get; }

    /// <summary>Target test: condition present, age in band, and the named model's predicted risk in [low, high).</summary>
    public bool Eligible(int k, int age, bool male, int mask)
    {
        var x = _interventions[k];
        if (x.TargetCondition is { } c && (mask & (1 << (int)c)) == 0)
        {
            return false;
        }

        if (x.TargetAge is { } band && !band.Contains(age))
        {
            return false;
        }

        if (x.RiskModel is { } model)
        {
            // For Poisson models risk = 1 - exp(-mean) is monotone in the mean, so compare means against precomputed
            // bounds and skip the exp (same band, exactly: -ln(1 - r) maps the band end points).
            if (model.Model.Family == ModelFamily.Poisson)
            {
                var mean = model.Mean(age, male, mask);
                return mean >= _meanLow[k] && mean < _meanHigh[k];
            }

            var risk = model.Risk(age, male, mask);
            return risk >= x.RiskLow && risk < x.RiskHigh;
        }

        return true;
    }

    private static double Product(TwinIntervention x, EffectOutcome outcome, ChronicCondition? condition) =>
        x.Effects.Where(e => e.Outcome == outcome && (condition is null || e.Condition == condition))
            .Aggregate(1.0, (acc, e) => acc * e.Multiplier);
}
