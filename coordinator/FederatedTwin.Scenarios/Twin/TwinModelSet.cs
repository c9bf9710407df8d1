namespace FederatedTwin.Scenarios.Twin;

/// <summary>The named models one twin run evaluates, one per yearly outcome; each is reported by registry id in the results.</summary>
public sealed class TwinModelSet
{
    /// <summary>Builds and compiles the set; onset must hold one model per condition, in <see cref="ChronicCondition"/> order.</summary>
    public TwinModelSet(TwinModel death, IReadOnlyList<TwinModel> onset, TwinModel admissions, TwinModel lengthOfStay,
        TwinModel edVisits, TwinModel ambulatoryCost, TwinModel facilityCost)
    {
        ArgumentNullException.ThrowIfNull(onset);
        if (onset.Count != ChronicConditions.Count)
        {
            throw new ArgumentException($"need {ChronicConditions.Count} onset models, got {onset.Count}", nameof(onset));
        }

        Death = new CompiledModel(death);
        Onset = [.. onset.Select(m => new CompiledModel(m))];
        Admissions = new CompiledModel(admissions);
        LengthOfStay = new CompiledModel(lengthOfStay);
        EdVisits = new CompiledModel(edVisits);
        AmbulatoryCost = new CompiledModel(ambulatoryCost);
        AdmissionUnitCost = facilityCost.Coefficient("admissions");
        BedDayUnitCost = facilityCost.Coefficient("bed_days");
        EdUnitCost = facilityCost.Coefficient("ed_visits");
        FacilityCost = facilityCost;
    }

    /// <summary>Annual death (logistic).</summary>
    public CompiledModel Death { get; }
    /// <summary>Annual onset of each condition (logistic), indexed by condition.</summary>
    public IReadOnlyList<CompiledModel> Onset { get; }
    /// <summary>Inpatient admissions per year (Poisson).</summary>
    public CompiledModel Admissions { get; }
    /// <summary>Mean length of stay per admission (Poisson rate of bed-days per admission).</summary>
    public CompiledModel LengthOfStay { get; }
    /// <summary>ED visits per year (Poisson).</summary>
    public CompiledModel EdVisits { get; }
    /// <summary>Non-inpatient, non-ED cost per year (log-normal).</summary>
    public CompiledModel AmbulatoryCost { get; }
    /// <summary>Unit prices of admissions, bed-days and ED visits (identity).</summary>
    public TwinModel FacilityCost { get; }
    internal double AdmissionUnitCost { get; }
    internal double BedDayUnitCost { get; }
    internal double EdUnitCost { get; }

    /// <summary>Every model by registry id, for tracing a result to the studies behind it.</summary>
    public IEnumerable<TwinModel> All =>
        [Death.Model, .. Onset.Select(o => o.Model), Admissions.Model, LengthOfStay.Model, EdVisits.Model, AmbulatoryCost.Model, FacilityCost];

    /// <summary>Finds a model by registry id.</summary>
    public CompiledModel? Find(string id) =>
        new[] { Death, Admissions, LengthOfStay, EdVisits, AmbulatoryCost }.Concat(Onset).FirstOrDefault(m => m.Model.Id == id);
}
