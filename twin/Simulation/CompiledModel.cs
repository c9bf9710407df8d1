using System.Numerics;
using System.Runtime.CompilerServices;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;

namespace FederatedTwin.Twin.Simulation;

/// <summary>
/// A registered GLM specialised for the twin's features. η = Σ β·feature is split into
/// a table over (age, sex) holding the intercept and the age, sex_male and medicare_eligible terms,
/// a table over the 2^11 condition masks holding the condition and condition_count terms,
/// the year term (one number per step), and the prior-year utilisation terms (inpatient_admissions, inpatient_days,
/// ed_visits, cost), applied to whole vectors of people. An offset column is a term with coefficient 1. A term that is
/// not a feature the twin simulates is an error here, at load time, naming the model id and the term.
/// <para>
/// The step needs e^−η (binomial: p = 1/(1 + e^−η)) or e^η (poisson mean), so the two tables are also kept
/// exponentiated and e^±η is the product of the two table entries, e^± of the year term and, only if the model has
/// utilisation terms, one vector exp of them: a model over demographics and conditions alone costs no exp at all.
/// <see cref="Mean"/> and <see cref="Risk"/> evaluate a person exactly as the step does; <see cref="Eta"/> is the plain sum.
/// </para>
/// </summary>
public sealed class CompiledModel
{
    internal const int AgeSlots = TwinFeatures.MaxModelAge + 1;
    private readonly double[] _ageSex = new double[AgeSlots * 2];
    private readonly double[] _mask = new double[1 << ChronicConditions.Count];
    private readonly double[] _expAgeSex = new double[AgeSlots * 2];
    private readonly double[] _expMask = new double[1 << ChronicConditions.Count];
    private readonly double _year, _admissions, _days, _ed, _cost, _sign;

    /// <summary>Compiles a registered model; throws <see cref="ModelSetException"/> for a term the twin does not simulate.</summary>
    public CompiledModel(RegisteredModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        var beta = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var t in model.Terms)
        {
            Check(model, t.Name);
            beta[t.Name] = beta.GetValueOrDefault(t.Name) + t.Coefficient;
        }

        if (model.Offset is { } offset)
        {
            Check(model, offset);
            beta[offset] = beta.GetValueOrDefault(offset) + 1;
        }

        double B(string name) => beta.GetValueOrDefault(name);
        for (var age = 0; age < AgeSlots; age++)
        {
            for (var male = 0; male < 2; male++)
            {
                // age_band[level]: GlmStudy's treatment indicators of the categorical age_band column (reference level 0-17 has none).
                _ageSex[(age * 2) + male] = B(ModelTerm.Intercept) + (B(TwinFeatures.Age) * age) + (B(TwinFeatures.SexMale) * male)
                    + (age >= 65 ? B(TwinFeatures.MedicareEligible) : 0) + B(TwinFeatures.AgeBandIndicator(age));
            }
        }

        // Looked up once: a replicate that draws coefficients compiles its models again, so this loop must be cheap.
        var countTerm = B(TwinFeatures.ConditionCount);
        var conditionTerms = Enumerable.Range(0, ChronicConditions.Count).Select(k => B(ChronicConditions.All[k])).ToArray();
        for (var mask = 0; mask < _mask.Length; mask++)
        {
            var sum = countTerm * BitOperations.PopCount((uint)mask);
            for (var k = 0; k < ChronicConditions.Count; k++)
            {
                if ((mask & (1 << k)) != 0)
                {
                    sum += conditionTerms[k];
                }
            }

            _mask[mask] = sum;
        }

        // Binomial models need e^-eta, poisson e^eta (gaussian uses the additive tables only).
        _sign = model.Family == GlmFamily.Binomial ? -1 : 1;
        for (var i = 0; i < _ageSex.Length; i++)
        {
            _expAgeSex[i] = Math.Exp(_sign * _ageSex[i]);
        }

        for (var i = 0; i < _mask.Length; i++)
        {
            _expMask[i] = Math.Exp(_sign * _mask[i]);
        }

        _year = B(TwinFeatures.Year);
        _admissions = B(TwinFeatures.InpatientAdmissions);
        _days = B(TwinFeatures.InpatientDays);
        _ed = B(TwinFeatures.EdVisits);
        _cost = B(TwinFeatures.Cost);
        HasUtilisation = _admissions != 0 || _days != 0 || _ed != 0 || _cost != 0;
        Additive = model.Family == GlmFamily.Gaussian;
    }

    /// <summary>The registry record (id, family, study).</summary>
    public RegisteredModel Model { get; }

    /// <summary>Registry id.</summary>
    public string Id => Model.Id;

    /// <summary>GLM family: binomial (probability), poisson (log-link mean), gaussian (identity-link mean).</summary>
    public GlmFamily Family => Model.Family;

    /// <summary>True for the identity link: the step works with η itself rather than e^±η.</summary>
    internal bool Additive { get; }

    internal bool HasUtilisation { get; }

    /// <summary>η's (age, sex) part, or its e^±, as the step reads it.</summary>
    internal double[] AgeSexTable => Additive ? _ageSex : _expAgeSex;

    /// <summary>η's condition part, or its e^±.</summary>
    internal double[] MaskTable => Additive ? _mask : _expMask;

    /// <summary>Index into the (age, sex) table: age capped at 90 as in the feature schema.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static int AgeSexIndex(int age, bool male) => (Math.Min(age, TwinFeatures.MaxModelAge) * 2) + (male ? 1 : 0);

    internal bool HasYear => _year != 0;

    /// <summary>The year term for a feature year, or its e^± (a factor of 1 when the model has none).</summary>
    internal double YearFactor(int year) => Additive ? _year * year : Math.Exp(_sign * _year * year);

    /// <summary>
    /// Completes η (additive) or e^±η (multiplicative) from the table part <paramref name="part"/> and the utilisation
    /// terms; terms with a zero coefficient are skipped, which is exact.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Vector<double> Complete(Vector<double> part, Vector<double> admissions, Vector<double> days, Vector<double> ed, Vector<double> cost)
    {
        if (!HasUtilisation)
        {
            return part;
        }

        var u = Vector<double>.Zero;
        if (_admissions != 0)
        {
            u = Vector.FusedMultiplyAdd(new Vector<double>(_admissions), admissions, u);
        }

        if (_days != 0)
        {
            u = Vector.FusedMultiplyAdd(new Vector<double>(_days), days, u);
        }

        if (_ed != 0)
        {
            u = Vector.FusedMultiplyAdd(new Vector<double>(_ed), ed, u);
        }

        if (_cost != 0)
        {
            u = Vector.FusedMultiplyAdd(new Vector<double>(_cost), cost, u);
        }

        return Additive ? part + u : part * VectorMath.Exp(new Vector<double>(_sign) * u);
    }

    /// <summary>Mean on the response scale from <see cref="Complete"/>'s result: 1/(1 + e^−η), e^η, or η.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Vector<double> MeanOf(Vector<double> completed) => Model.Family switch
    {
        GlmFamily.Binomial => Vector<double>.One / (Vector<double>.One + completed),
        _ => completed,
    };

    /// <summary>Predicted probability of at least one event from <see cref="Complete"/>'s result: p (binomial) or 1 − e^−μ (poisson).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Vector<double> RiskOf(Vector<double> completed) => Model.Family == GlmFamily.Poisson
        ? Vector<double>.One - VectorMath.Exp(-completed)
        : Vector<double>.One / (Vector<double>.One + completed);

    /// <summary>η = Σ β·feature for one person (the plain sum; the step uses the factorised form).</summary>
    public double Eta(in PersonFeatures f)
    {
        var eta = _ageSex[AgeSexIndex(f.Age, f.Male)] + _mask[f.Conditions] + (_year * f.Year);
        return eta + (_admissions * f.InpatientAdmissions) + (_days * f.InpatientDays) + (_ed * f.EdVisits) + (_cost * f.Cost);
    }

    /// <summary>Mean on the response scale (probability, rate or value) for one person, computed exactly as the yearly step does.</summary>
    public double Mean(in PersonFeatures f) => MeanOf(Completed(f))[0];

    /// <summary>Predicted risk (probability of at least one event) for one person, as risk-band targeting computes it.</summary>
    public double Risk(in PersonFeatures f) => RiskOf(Completed(f))[0];

    private Vector<double> Completed(in PersonFeatures f)
    {
        var i = AgeSexIndex(f.Age, f.Male);
        var part = Additive ? AgeSexTable[i] + MaskTable[f.Conditions] : AgeSexTable[i] * MaskTable[f.Conditions];
        if (HasYear)
        {
            part = Additive ? part + YearFactor(f.Year) : part * YearFactor(f.Year);
        }

        return Complete(new Vector<double>(part), new Vector<double>(f.InpatientAdmissions), new Vector<double>(f.InpatientDays),
            new Vector<double>(f.EdVisits), new Vector<double>(f.Cost));
    }

    private static void Check(RegisteredModel model, string name)
    {
        if (name != ModelTerm.Intercept && !TwinFeatures.Simulated.Contains(name) && !TwinFeatures.AgeBandIndicators.Contains(name))
        {
            throw new ModelSetException(model.Id,
                $"model {model.Id}: term '{name}' is not a feature the twin simulates (known: {ModelTerm.Intercept}, {string.Join(", ", TwinFeatures.Simulated)}, age_band[<band>] for the bands {string.Join(", ", Analytics.PatientYearSchema.AgeBands)})");
        }
    }
}
