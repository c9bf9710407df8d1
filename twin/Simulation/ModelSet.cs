using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Simulation;

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

    private readonly Dictionary<string, ModelOrigin> _origins = new(StringComparer.Ordinal);
    private readonly HashSet<string> _fallbackIds = new(StringComparer.Ordinal);
    private readonly ModelSetFallback? _fallback;

    private ModelSet(IReadOnlyList<RegisteredModel> registry, string source, string description, IReadOnlyDictionary<string, string>? use, TwinParameters parameters,
        ModelSetFallback? fallback = null, IReadOnlyList<ReleasedComposition>? compositions = null)
    {
        parameters.Validate();
        Source = source;
        Description = description;
        Parameters = parameters;
        Registry = [.. registry, .. fallback?.Models ?? []];
        Compositions = compositions ?? [];
        _fallback = fallback;
        _byId = new Dictionary<string, RegisteredModel>(StringComparer.Ordinal);
        foreach (var m in registry)
        {
            if (!_byId.TryAdd(m.Id, m))
            {
                throw new ModelSetException(m.Id, $"registry {source}: model id '{m.Id}' appears twice");
            }
        }

        foreach (var m in fallback?.Models ?? [])
        {
            if (!_byId.TryAdd(m.Id, m))
            {
                throw new ModelSetException(m.Id, $"fallback {fallback!.Source}: model id '{m.Id}' is also in registry {source}");
            }

            _fallbackIds.Add(m.Id);
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
            var (compiled, reason) = Choose(outcome, use);
            _byOutcome[outcome] = compiled;
            var m = compiled.Model;
            var kind = _fallbackIds.Contains(m.Id) ? ModelOrigin.Fallback : m.Rows > 0 ? ModelOrigin.Federated : ModelOrigin.Illustrative;
            _origins[outcome] = new ModelOrigin(outcome, m.Id, kind, m.StudyId, m.Rows, m.Nodes, reason ?? (kind == ModelOrigin.Federated ? ReleaseNote(m) : null));
        }

        Admission = _byOutcome[TwinOutcomes.Admission];
        InpatientDays = _byOutcome[TwinOutcomes.InpatientDays];
        EdVisits = _byOutcome[TwinOutcomes.EdVisits];
        Cost = _byOutcome[TwinOutcomes.Cost];
        Death = _byOutcome[TwinOutcomes.Death];
        Onset = [.. Enum.GetValues<ChronicCondition>().Select(c => _byOutcome[TwinOutcomes.Onset(c)])];
    }

    /// <summary>The same set with some outcomes' compiled models replaced (a replicate's drawn coefficients); ids and origins unchanged.</summary>
    private ModelSet(ModelSet source, IReadOnlyDictionary<string, CompiledModel> replaced)
    {
        Source = source.Source;
        Description = source.Description;
        Parameters = source.Parameters;
        Registry = source.Registry;
        Compositions = source.Compositions;
        _fallback = source._fallback;
        _byId = source._byId;
        _origins = source._origins;
        _fallbackIds = source._fallbackIds;
        _byOutcome = new Dictionary<string, CompiledModel>(source._byOutcome, StringComparer.Ordinal);
        foreach (var (outcome, model) in replaced)
        {
            _byOutcome[outcome] = model;
        }

        Admission = _byOutcome[TwinOutcomes.Admission];
        InpatientDays = _byOutcome[TwinOutcomes.InpatientDays];
        EdVisits = _byOutcome[TwinOutcomes.EdVisits];
        Cost = _byOutcome[TwinOutcomes.Cost];
        Death = _byOutcome[TwinOutcomes.Death];
        Onset = [.. Enum.GetValues<ChronicCondition>().Select(c => _byOutcome[TwinOutcomes.Onset(c)])];
    }

    /// <summary>This set with the compiled models of the given outcomes replaced (parameter uncertainty: one replicate's coefficients).</summary>
    internal ModelSet WithCompiled(IReadOnlyDictionary<string, CompiledModel> replaced) => replaced.Count == 0 ? this : new ModelSet(this, replaced);

    /// <summary>"demo" or the registry directory the models were loaded from.</summary>
    public string Source { get; }

    /// <summary>A note about where the models come from, printed with every result.</summary>
    public string Description { get; }

    /// <summary>Unit costs and cost noise.</summary>
    public TwinParameters Parameters { get; }

    /// <summary>Every model of the registry and of the fallback set (risk-band targeting may name any of them).</summary>
    public IReadOnlyList<RegisteredModel> Registry { get; }

    /// <summary>Published composition releases found next to the models (kind "composition"), oldest first; may be empty.</summary>
    public IReadOnlyList<ReleasedComposition> Compositions { get; }

    /// <summary>
    /// How a federated DP model was released, for <see cref="ModelOrigin.Reason"/>: the final iterate after its planned
    /// rounds (not a converged MLE), with ρ; null for an exact fit.
    /// </summary>
    private static string? ReleaseNote(RegisteredModel m) =>
        m.Release == RegisteredModel.ReleaseDpPlannedRounds
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"DP fit (zCDP ρ = {m.Privacy.Rho:G4}{(m.Privacy.RhoSpent is { } spent ? $", spent {spent:G4}" : string.Empty)}), final iterate after its {(m.Privacy.RoundsPlanned is { } planned ? planned.ToString(System.Globalization.CultureInfo.InvariantCulture) + " " : string.Empty)}planned rounds, DP standard errors")
            : null;

    /// <summary>
    /// Where each outcome's model comes from: <see cref="ModelOrigin.Federated"/> (fitted from the registry),
    /// <see cref="ModelOrigin.Fallback"/> (the fallback set, with the reason), or <see cref="ModelOrigin.Illustrative"/>
    /// (an unfitted registry model, e.g. the demo set itself). In step order.
    /// </summary>
    public IReadOnlyList<ModelOrigin> Origins => [.. TwinOutcomes.All.Select(o => _origins[o])];

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
    /// <remarks>
    /// With <paramref name="fallback"/> (e.g. <see cref="DemoFallback"/>), an outcome the registry has no model for — or whose
    /// only model has a term the twin does not simulate — takes the fallback set's model instead, and <see cref="Origins"/>
    /// says so with the reason. Composition releases in the directory (kind "composition") are loaded into <see cref="Compositions"/>.
    /// </remarks>
    public static ModelSet Load(string directory, IReadOnlyDictionary<string, string>? use = null, TwinParameters? parameters = null, ModelSetFallback? fallback = null)
    {
        var models = ModelRegistry.LoadDirectory(directory);
        var compositions = ModelRegistry.DocumentsOfKind(directory, ReleasedComposition.Kind)
            .Select(d => ReleasedComposition.FromJson(d.Json, d.Path)).OrderBy(c => c.Year).ThenBy(c => c.CreatedAt).ToList();
        return new ModelSet(models, directory, Note(directory, models, fallback), use, parameters ?? new TwinParameters(), fallback, compositions);
    }

    /// <summary>Builds a set from registered models already in memory (e.g. the coordinator's registry table).</summary>
    public static ModelSet FromModels(IReadOnlyList<RegisteredModel> models, string source, string? description = null,
        IReadOnlyDictionary<string, string>? use = null, TwinParameters? parameters = null, ModelSetFallback? fallback = null,
        IReadOnlyList<ReleasedComposition>? compositions = null)
    {
        ArgumentNullException.ThrowIfNull(models);
        return new ModelSet(models, source, description ?? Note(source, models, fallback), use, parameters ?? new TwinParameters(), fallback, compositions);
    }

    /// <summary>The built-in demo set as a per-outcome fallback.</summary>
    public static ModelSetFallback DemoFallback() => new("demo", DemoModels.Registry());

    /// <summary>The same models with other settings.</summary>
    public ModelSet With(TwinParameters parameters) =>
        new([.. Registry.Where(m => !_fallbackIds.Contains(m.Id))], Source, Description, _byOutcome.ToDictionary(p => p.Key, p => p.Value.Id), parameters, _fallback, Compositions);

    private static string Note(string source, IReadOnlyList<RegisteredModel> models, ModelSetFallback? fallback)
    {
        var studies = string.Join(", ", models.Select(m => m.StudyId).Distinct().Order(StringComparer.Ordinal));
        return $"Models from registry {source} (studies: {studies})"
            + (fallback is null ? "." : $"; outcomes without a usable registry model fall back to {fallback.Source} (see model origins).");
    }

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

    /// <summary>
    /// The registered model with this id in the registry or, failing that, in the fallback set (null if neither has it).
    /// Used for the coefficient of a risk-factor shift: that model need not be one the twin can run (it usually has a
    /// term such as <c>hba1c</c> the twin does not simulate).
    /// </summary>
    public RegisteredModel? FindRegistered(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (_byId.TryGetValue(id, out var model))
        {
            return model;
        }

        return _fallback?.Models.FirstOrDefault(m => m.Id == id);
    }

    /// <summary>Ids of every registered model this set can look up (registry, then fallback).</summary>
    public IReadOnlyList<string> RegisteredIds =>
        [.. _byId.Keys.Order(StringComparer.Ordinal), .. (_fallback?.Models.Select(m => m.Id) ?? []).Where(id => !_byId.ContainsKey(id))];

    private (CompiledModel Model, string? Reason) Choose(string outcome, IReadOnlyDictionary<string, string>? use)
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

            return (new CompiledModel(chosen), null);
        }

        var candidates = Registry.Where(m => !_fallbackIds.Contains(m.Id) && m.Outcome == column && families.Contains(m.Family)).ToList();
        string reason;
        switch (candidates.Count)
        {
            case 1:
                try
                {
                    return (new CompiledModel(candidates[0]), null);
                }
                catch (ModelSetException e) when (_fallback is not null)
                {
                    reason = e.Message;
                }

                break;
            case 0 when _fallback is not null:
                reason = $"registry {Source} holds no {familyText} model of {column}";
                break;
            case 0:
                throw new ModelSetException(outcome, $"outcome '{outcome}' has no model: registry {Source} holds no {familyText} model of {column} (a fallback, models.fallback: demo or --fallback demo, supplies missing outcomes)");
            default:
                throw new ModelSetException(outcome,
                    $"outcome '{outcome}' has {candidates.Count} candidate models in registry {Source} ({string.Join(", ", candidates.Select(c => c.Id))}); choose one with models.use.{outcome}");
        }

        var fallbacks = _fallback!.Models.Where(m => m.Outcome == column && families.Contains(m.Family)).ToList();
        if (fallbacks.Count != 1)
        {
            throw new ModelSetException(outcome, $"outcome '{outcome}': {reason}, and the fallback {_fallback.Source} has {fallbacks.Count} {familyText} models of {column} (needs exactly one)");
        }

        return (new CompiledModel(fallbacks[0]), reason);
    }
}

/// <summary>A set of registered models (e.g. the demo set) that supplies an outcome's model when the registry has none.</summary>
public sealed record ModelSetFallback(string Source, IReadOnlyList<RegisteredModel> Models);

/// <summary>
/// Where the model of one twin outcome comes from. <see cref="Kind"/>: "federated" (a fitted registry model, traceable to
/// its study and nodes), "fallback" (the fallback set's model, because of <see cref="Reason"/>), or "illustrative" (an
/// unfitted registry model such as the demo set used directly). For a federated DP model <see cref="Reason"/> says how it was released
/// (the final iterate after its planned rounds, with ρ).
/// </summary>
public sealed record ModelOrigin(string Outcome, string Id, string Kind, string StudyId, long Rows, int Nodes, string? Reason)
{
    /// <summary>A fitted model from the registry.</summary>
    public const string Federated = "federated";
    /// <summary>The fallback set's model.</summary>
    public const string Fallback = "fallback";
    /// <summary>A registry model that was never fitted (rows = 0).</summary>
    public const string Illustrative = "illustrative";
}
