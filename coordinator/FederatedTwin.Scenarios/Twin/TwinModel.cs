namespace FederatedTwin.Scenarios.Twin;

/// <summary>Link/distribution family of a model; decides how the linear predictor becomes a rate or probability.</summary>
public enum ModelFamily
{
    /// <summary>Bernoulli with logit link: p = 1/(1+exp(-eta)).</summary>
    Logistic,
    /// <summary>Poisson with log link: mean = exp(eta).</summary>
    Poisson,
    /// <summary>Log-normal cost: mean = exp(eta), multiplicative noise exp(sigma z - sigma^2/2) with sigma = Dispersion.</summary>
    LogNormal,
    /// <summary>Identity link, deterministic: value = eta (unit prices).</summary>
    Identity,
}

/// <summary>
/// A fitted model as the registry will hold it: registry id, family and a coefficient per named feature.
/// Features the twin understands: intercept, age65 (age - 65 in years), male, one per condition name (chf, diabetes, ...),
/// condition_count, and for the facility cost model admissions, bed_days, ed_visits. Until the registry lands these
/// records come from <see cref="DemoModels"/>.
/// </summary>
public sealed record TwinModel(string Id, ModelFamily Family, IReadOnlyList<string> Features, IReadOnlyList<double> Coefficients, double Dispersion = 0)
{
    /// <summary>Features a model may use.</summary>
    public static IReadOnlySet<string> KnownFeatures { get; } =
        new HashSet<string>(["intercept", "age65", "male", "condition_count", "admissions", "bed_days", "ed_visits", .. ChronicConditions.All]);

    /// <summary>Coefficient of a feature, 0 if the model does not use it.</summary>
    public double Coefficient(string feature)
    {
        for (var i = 0; i < Features.Count; i++)
        {
            if (Features[i] == feature)
            {
                return Coefficients[i];
            }
        }

        return 0;
    }

    /// <summary>Checks the record is well formed; throws naming the model.</summary>
    public void Validate()
    {
        if (Features.Count != Coefficients.Count)
        {
            throw new ArgumentException($"model {Id}: {Features.Count} features but {Coefficients.Count} coefficients");
        }

        foreach (var f in Features)
        {
            if (!KnownFeatures.Contains(f))
            {
                throw new ArgumentException($"model {Id}: unknown feature '{f}'");
            }
        }
    }
}

/// <summary>
/// A model's linear predictor specialised for the twin's features: intercept + age and sex terms + a 2^11 table over the
/// condition mask (condition terms and the condition-count term folded in), so one evaluation is two multiply-adds and one load.
/// </summary>
public sealed class CompiledModel
{
    private readonly double _intercept, _age, _male;
    private const int MaxAge = 127;
    private readonly double[] _maskTerm = new double[1 << ChronicConditions.Count];

    // exp(+/- part) of the two additive parts of eta, so a log-link mean is expAgeSex * expMask and a logistic
    // probability is 1 / (1 + expAgeSex * expMask) with the negated parts: no exp() in the yearly step.
    private readonly double[] _expAgeSex = new double[(MaxAge + 1) * 2];
    private readonly double[] _expMask = new double[1 << ChronicConditions.Count];
    private readonly bool _logistic;
    private readonly bool _identity;

    /// <summary>Compiles a model.</summary>
    public CompiledModel(TwinModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Validate();
        Model = model;
        _intercept = model.Coefficient("intercept");
        _age = model.Coefficient("age65");
        _male = model.Coefficient("male");
        var perCondition = new double[ChronicConditions.Count];
        for (var k = 0; k < perCondition.Length; k++)
        {
            perCondition[k] = model.Coefficient(ChronicConditions.All[k]);
        }

        var countTerm = model.Coefficient("condition_count");
        for (var mask = 0; mask < _maskTerm.Length; mask++)
        {
            double sum = countTerm * System.Numerics.BitOperations.PopCount((uint)mask);
            for (var k = 0; k < perCondition.Length; k++)
            {
                if ((mask & (1 << k)) != 0)
                {
                    sum += perCondition[k];
                }
            }

            _maskTerm[mask] = sum;
        }

        _logistic = model.Family == ModelFamily.Logistic;
        _identity = model.Family == ModelFamily.Identity;
        var sign = _logistic ? -1.0 : 1.0;
        for (var mask = 0; mask < _maskTerm.Length; mask++)
        {
            _expMask[mask] = Math.Exp(sign * _maskTerm[mask]);
        }

        for (var age = 0; age <= MaxAge; age++)
        {
            for (var male = 0; male < 2; male++)
            {
                _expAgeSex[(age * 2) + male] = Math.Exp(sign * (_intercept + (_age * (age - 65)) + (male == 1 ? _male : 0)));
            }
        }
    }

    /// <summary>The source record (registry id, family).</summary>
    public TwinModel Model { get; }

    /// <summary>Linear predictor for one person.</summary>
    public double Eta(int age, bool male, int mask) => _intercept + (_age * (age - 65)) + (male ? _male : 0) + _maskTerm[mask];

    /// <summary>Mean on the response scale: probability (logistic), rate (Poisson), mean cost (log-normal) or value (identity).</summary>
    public double Mean(int age, bool male, int mask)
    {
        if (_identity || age > MaxAge || age < 0)
        {
            var eta = Eta(age, male, mask);
            return _identity ? eta : _logistic ? 1.0 / (1.0 + Math.Exp(-eta)) : Math.Exp(eta);
        }

        var product = _expAgeSex[(age * 2) + (male ? 1 : 0)] * _expMask[mask];
        return _logistic ? 1.0 / (1.0 + product) : product;
    }

    /// <summary>
    /// For a logistic model, whether a uniform draw u falls below p = 1/(1 + x): tested as u (1 + x) &lt; 1, without a division.
    /// Only valid when no odds ratio applies.
    /// </summary>
    public bool LogisticBelow(double u, int age, bool male, int mask) =>
        age is >= 0 and <= MaxAge
            ? u * (1 + (_expAgeSex[(age * 2) + (male ? 1 : 0)] * _expMask[mask])) < 1
            : u < Mean(age, male, mask);

    /// <summary>Predicted probability of at least one event: p for logistic, 1 - exp(-mean) for Poisson; used for risk bands.</summary>
    public double Risk(int age, bool male, int mask)
    {
        var m = Mean(age, male, mask);
        return Model.Family == ModelFamily.Poisson ? 1 - Math.Exp(-m) : m;
    }
}
