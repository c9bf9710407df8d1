using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Node.Features;

namespace FederatedTwin.Node.Twins;

/// <summary>
/// A registered GLM compiled once against the feature schema's columns (<see cref="FeatureDictionary"/>'s order): each term
/// becomes a column index (and, for an indicator <c>age_band[65-74]</c>, the level's index), so a patient's linear predictor and
/// its standard error are two loops over arrays, with no name looked up per patient. Read exactly as the node's GLM reads a
/// training row (<see cref="Algorithms.LocalFederatedGlm"/>): the column's value, 1/0 for an indicator, the offset column
/// added with coefficient 1. A term whose value is missing makes η NaN: the outcome is then not scored for that patient.
/// </summary>
public sealed class PatientModel
{
    private const int Intercept = -1;
    private readonly int[] _column;
    private readonly int[] _level;
    private readonly double[] _beta;
    private readonly double[] _sigma;
    private readonly int _offset;

    /// <summary>Compiles a model; throws <see cref="ArgumentException"/> naming a term that is not a column of the feature schema.</summary>
    public PatientModel(RegisteredModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        var p = model.Terms.Count;
        _column = new int[p];
        _level = new int[p];
        _beta = new double[p];
        for (var j = 0; j < p; j++)
        {
            var name = model.Terms[j].Name;
            _beta[j] = model.Terms[j].Coefficient;
            _level[j] = -1;
            if (name == ModelTerm.Intercept)
            {
                _column[j] = Intercept;
            }
            else if (GlmStudy.Indicator(name) is { } indicator)
            {
                if (!GlmStudy.Categorical.TryGetValue(indicator.Column, out var levels) || !levels.Contains(indicator.Level))
                {
                    throw new ArgumentException($"model {model.Id}: term '{name}' is not a level of a categorical column of the feature schema");
                }

                _column[j] = Column(model, indicator.Column);
                _level[j] = levels.ToList().IndexOf(indicator.Level);
            }
            else
            {
                _column[j] = Column(model, name);
            }
        }

        _offset = model.Offset is null ? -1 : Column(model, model.Offset);
        _sigma = Sigma(model);
        HasCovariance = model.Covariance is not null;
    }

    /// <summary>The registry record.</summary>
    public RegisteredModel Model { get; }

    /// <summary>GLM family: binomial (logit), poisson (log) or gaussian (identity).</summary>
    public GlmFamily Family => Model.Family;

    /// <summary>False when the model carries no covariance: the standard error then uses the terms' own standard errors only (no correlations).</summary>
    public bool HasCovariance { get; }

    /// <summary>Number of terms (the scratch <see cref="Evaluate"/> needs).</summary>
    public int Terms => _beta.Length;

    /// <summary>
    /// η = Σ β·x (+ offset) for one patient's row (one value per schema column, NaN where missing), and se(η) = √(xᵀΣx) by the
    /// delta method (η is linear in β, so its variance is exactly xᵀ Var(β̂) x; Agresti, Categorical Data Analysis, 3rd ed. 2013,
    /// and R's predict.glm(se.fit = TRUE) compute the same). η is NaN when a term's value is missing.
    /// </summary>
    public void Evaluate(ReadOnlySpan<double> row, Span<double> x, out double eta, out double se)
    {
        var p = _beta.Length;
        var sum = 0.0;
        for (var j = 0; j < p; j++)
        {
            var c = _column[j];
            var v = c == Intercept ? 1.0 : row[c];
            if (_level[j] >= 0 && !double.IsNaN(v))
            {
                v = v == _level[j] ? 1.0 : 0.0;
            }

            x[j] = v;
            sum += _beta[j] * v;
        }

        if (_offset >= 0)
        {
            sum += row[_offset];
        }

        eta = sum;
        if (double.IsNaN(sum))
        {
            se = double.NaN;
            return;
        }

        var q = 0.0;
        var sigma = _sigma.AsSpan();
        for (var i = 0; i < p; i++)
        {
            var r = sigma.Slice(i * p, p);
            var s = 0.0;
            for (var k = 0; k < p; k++)
            {
                s += r[k] * x[k];
            }

            q += x[i] * s;
        }

        se = Math.Sqrt(Math.Max(q, 0));
    }

    private static int Column(RegisteredModel model, string name)
    {
        if (!FeatureSchema.Columns.Any(c => c.Name == name))
        {
            throw new ArgumentException($"model {model.Id}: '{name}' is not a column of the node's feature schema (docs/features.md)");
        }

        return FeatureDictionary.Column(name);
    }

    /// <summary>Σ row-major; without a covariance the diagonal of the terms' squared standard errors (0 for an unfitted model).</summary>
    private static double[] Sigma(RegisteredModel model)
    {
        var p = model.Terms.Count;
        var sigma = new double[p * p];
        for (var i = 0; i < p; i++)
        {
            if (model.Covariance is { } v)
            {
                for (var k = 0; k < p; k++)
                {
                    sigma[(i * p) + k] = v[i][k];
                }
            }
            else
            {
                var se = model.Terms[i].StdError ?? 0;
                sigma[(i * p) + i] = se * se;
            }
        }

        return sigma;
    }
}
