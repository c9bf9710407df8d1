using FederatedTwin.Protocol.Models.Glm;
using FederatedTwin.Protocol.Models.Registry;

namespace FederatedTwin.Scenarios.Twin;

/// <summary>
/// The registered models one twin run evaluates: one per twin outcome (<see cref="TwinOutcomes"/>), chosen from a
/// registry (a directory of <see cref="RegisteredModel"/> JSON documents, or the built-in demo set), plus the twin
/// settings. Each outcome takes the registry's only model for its outcome column and family, unless
/// <c>use</c> names one explicitly; every chosen model is compiled (unknown terms fail here) and reported by id.
/// </summary>
public sealed class ModelSet
{
    private readonly Dictionary<string, RegisteredModel> _byId;
    private readonly Dictionary<string, CompiledModel> _byOutcome;

    private ModelSet(IReadOnlyList<RegisteredModel> registry, string source, string description, IReadOnlyDictionary<string, string>? use, TwinParameters parameters)
    {
        parameters.Validate();
        Source = source;
        Description = description;
        Parameters = parameters;
        Registry = registry;
        _byId = new Dictionary<string, RegisteredModel>(StringComparer.Ordinal);
        foreach (var m in registry)
        {
            if (!_byId.TryAdd(m.Id, m))
            {
                throw new ModelSetException(m.Id, $"registry {source}: model id '{m.Id}' appears twice");
            }
        }

        foreach (var key in use?.Keys ?? [])
        {
            if (!TwinOutcomes.All.Contains(key))
            {
                throw new ModelSetException("use." + key, $"'{key}' is not a twin outcome (known: {string.Join(", ", TwinOutcomes.All)})");
            }
        }

        _byOutcome = new Dictionary<string, CompiledModel>(StringComparer.Ordinal);
        foreach (var outcome in TwinOutcomes.All)
        {
            _byOutcome[outcome] = new CompiledModel(Choose(outcome, use));
        }

        Admission = _byOutcome[TwinOutcomes.Admission];
        InpatientDays = _byOutcome[TwinOutcomes.InpatientDays];
        EdVisits = _byOutcome[TwinOutcomes.EdVisits];
        Cost = _byOutcome[TwinOutcomes.Cost];
        Death = _byOutcome[TwinOutcomes.Death];
        Onset = [.. Enum.GetValues<ChronicCondition>().Select(c => _byOutcome[TwinOutcomes.Onset(c)])];
    }

    /// <summary>"demo" or the registry directory the models were loaded from.</summary>
    public string Source { get; }

    /// <summary>A note about where the models come from, printed with every result.</summary>
    public string Description { get; }

    /// <summary>Unit costs and cost noise.</summary>
    public TwinParameters Parameters { get; }

    /// <summary>Every model of the registry (risk-band targeting may name any of them).</summary>
    public IReadOnlyList<RegisteredModel> Registry { get; }

    /// <summary>The model of each twin outcome, keyed by <see cref="TwinOutcomes"/> name.</summary>
    public IReadOnlyDictionary<string, CompiledModel> ByOutcome => _byOutcome;

    /// <summary>P(any admission next year), turned into an admission count (see docs/scenarios.md).</summary>
    public CompiledModel Admission { get; }
    /// <summary>Expected inpatient days next year.</summary>
    public CompiledModel InpatientDays { get; }
    /// <summary>Expected ED visits next year.</summary>
    public CompiledModel EdVisits { get; }
    /// <summary>Expected cost next year.</summary>
    public CompiledModel Cost { get; }
    /// <summary>P(death next year).</summary>
    public CompiledModel Death { get; }
    /// <summary>P(onset next year) per condition, indexed by <see cref="ChronicCondition"/>.</summary>
    public IReadOnlyList<CompiledModel> Onset { get; }

    /// <summary>The built-in demo set (illustrative coefficients, ids demo/*), shipped as registered-model JSON.</summary>
    public static ModelSet Demo(IReadOnlyDictionary<string, string>? use = null, TwinParameters? parameters = null) =>
        new(DemoModels.Registry(), "demo", DemoModels.Note, use, parameters ?? new TwinParameters());

    /// <summary>Loads a registry directory (every *.json below it) and builds the set; errors name the file and field or the outcome.</summary>
    public static ModelSet Load(string directory, IReadOnlyDictionary<string, string>? use = null, TwinParameters? parameters = null)
    {
        var models = ModelRegistry.LoadDirectory(directory);
        var studies = string.Join(", ", models.Select(m => m.StudyId).Distinct().Order(StringComparer.Ordinal));
        var note = $"Models from registry {directory} (studies: {studies}).";
        return new ModelSet(models, directory, note, use, parameters ?? new TwinParameters());
    }

    /// <summary>Builds a set from registered models already in memory.</summary>
    public static ModelSet FromModels(IReadOnlyList<RegisteredModel> models, string source, string description,
        IReadOnlyDictionary<string, string>? use = null, TwinParameters? parameters = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        return new ModelSet(models, source, description, use, parameters ?? new TwinParameters());
    }

    /// <summary>The same models with other settings.</summary>
    public ModelSet With(TwinParameters parameters) =>
        new(Registry, Source, Description, _byOutcome.ToDictionary(p => p.Key, p => p.Value.Id), parameters);

    /// <summary>Outcome → model id, in step order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> ModelIds =>
        [.. TwinOutcomes.All.Select(o => new KeyValuePair<string, string>(o, _byOutcome[o].Id))];

    /// <summary>
    /// Compiles a model for risk-band targeting: a registry id, or a twin outcome name (e.g. <c>admission</c>) meaning the
    /// model this set uses for that outcome, so a scenario file works with any registry. It must be binomial or poisson.
    /// </summary>
    public CompiledModel RiskModel(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (_byOutcome.TryGetValue(id, out var chosen))
        {
            id = chosen.Id;
        }

        if (!_byId.TryGetValue(id, out var model))
        {
            throw new ModelSetException(id, $"no model with id '{id}' in registry {Source} (nor a twin outcome of that name); known: {string.Join(", ", _byId.Keys.Order(StringComparer.Ordinal))}");
        }

        if (model.Family == GlmFamily.Gaussian)
        {
            throw new ModelSetException(id, $"model {id} is gaussian: a risk band needs a binomial (probability) or poisson (1 - e^-mean) model");
        }

        return new CompiledModel(model);
    }

    private RegisteredModel Choose(string outcome, IReadOnlyDictionary<string, string>? use)
    {
        var (column, families) = TwinOutcomes.Requirement(outcome);
        var familyText = string.Join(" or ", families.Select(f => f.ToString().ToLowerInvariant()));
        if (use is not null && use.TryGetValue(outcome, out var id))
        {
            if (!_byId.TryGetValue(id, out var chosen))
            {
                throw new ModelSetException("use." + outcome, $"no model with id '{id}' in registry {Source}");
            }

            if (chosen.Outcome != column || !families.Contains(chosen.Family))
            {
                throw new ModelSetException("use." + outcome,
                    $"model {id} predicts {chosen.Outcome} ({chosen.Family.ToString().ToLowerInvariant()}); outcome '{outcome}' needs {column} ({familyText})");
            }

            return chosen;
        }

        var candidates = Registry.Where(m => m.Outcome == column && families.Contains(m.Family)).ToList();
        return candidates.Count switch
        {
            1 => candidates[0],
            0 => throw new ModelSetException(outcome, $"outcome '{outcome}' has no model: registry {Source} holds no {familyText} model of {column}"),
            _ => throw new ModelSetException(outcome,
                $"outcome '{outcome}' has {candidates.Count} candidate models in registry {Source} ({string.Join(", ", candidates.Select(c => c.Id))}); choose one with models.use.{outcome}"),
        };
    }
}
