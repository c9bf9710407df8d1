using System.Globalization;
using FederatedTwin.Analytics.Glm;
using FederatedTwin.Analytics.Registry;
using FederatedTwin.Twin.RandomStreams;
using FederatedTwin.Twin.Simulation;
using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Twin.Scenarios;

/// <summary>
/// The parameters a replicate draws before it simulates (docs/scenarios.md, "Uncertainty in the twin's intervals"): each
/// fitted model's coefficients from their sampling distribution N(β̂, Σ̂), the composition from the release's DP noise,
/// and each intervention effect from its stated interval. This is parameter uncertainty by simulation (King, Tomz &amp;
/// Wittenberg 2000, "Making the most of statistical analyses", AJPS 44(2)), the probabilistic sensitivity analysis of
/// health economics (Briggs, Claxton &amp; Sculpher 2006, Decision Modelling for Health Economic Evaluation, ch. 4): the
/// replicate distribution of an outcome then mixes parameter and Monte Carlo uncertainty, and its percentiles are the
/// interval. Every draw comes from the replicate's own Philox stream at year words <see cref="DrawStream.ParameterYear"/>
/// + source, so a seed reproduces the run, baseline and scenario of a replicate share the draws, and no person's outcome
/// draws move.
/// </summary>
internal sealed class ParameterUncertainty
{
    internal const uint CoefficientSource = 0;
    internal const uint EffectSource = 1;
    internal const uint CompositionSource = 2;

    private readonly ModelSet _models;
    private readonly List<(string[] Outcomes, CoefficientSampler Sampler, int Item)> _samplers = [];
    private readonly IReadOnlyList<TwinIntervention> _interventions;
    private readonly bool _drawEffects;
    private readonly ReleasedComposition? _release;

    public ParameterUncertainty(ModelSet models, IReadOnlyList<TwinIntervention> interventions, ReleasedComposition? release, UncertaintyMode mode, int replicates)
    {
        _models = models;
        _interventions = interventions;
        var on = mode == UncertaintyMode.All;
        var off = "turned off (uncertainty: monte_carlo_only): held at the point values";
        var sources = new List<UncertaintySource>
        {
            new(UncertaintySource.MonteCarlo, true, string.Create(CultureInfo.InvariantCulture,
                $"{replicates} replicates; one draw per person, year and outcome (common random numbers pair baseline and scenario)")),
        };

        // One sampler per distinct model, in twin-outcome order (the item number of its draws).
        var outcomes = TwinOutcomes.All.ToList();
        var samplers = new List<CoefficientSampler>();
        foreach (var group in outcomes.GroupBy(o => models.ByOutcome[o].Id, StringComparer.Ordinal))
        {
            var sampler = new CoefficientSampler(models.ByOutcome[group.First()].Model);
            samplers.Add(sampler);
            if (on && sampler.Kind != CoefficientSampler.Fixed)
            {
                _samplers.Add(([.. group], sampler, outcomes.IndexOf(group.First())));
            }
        }

        var withCovariance = samplers.Count(s => s.Kind == CoefficientSampler.FromCovariance);
        var fromSe = samplers.Where(s => s.Kind == CoefficientSampler.FromStandardErrors).ToList();
        var fixedIds = samplers.Where(s => s.Kind == CoefficientSampler.Fixed).Select(s => s.Model.Id).ToList();
        var note = string.Create(CultureInfo.InvariantCulture, $"{withCovariance + fromSe.Count} of {samplers.Count} models drawn from N(beta, Sigma): {withCovariance} with the registry's covariance, {fromSe.Count} from standard errors alone (diagonal)")
            + (fromSe.Count > 0 ? $" [{string.Join(", ", fromSe.Select(s => s.Model.Id + ": " + s.Why))}]" : string.Empty)
            + (samplers.Any(s => s.Held.Count > 0 && s.Kind != CoefficientSampler.Fixed)
                ? $"; held at their estimates (diverging estimates under separation, no sampling distribution): {string.Join(", ", samplers.Where(s => s.Held.Count > 0 && s.Kind != CoefficientSampler.Fixed).Select(s => s.Model.Id + " " + string.Join("/", s.Held)))}"
                : string.Empty)
            + (fixedIds.Count > 0 ? $"; {fixedIds.Count} held fixed (not fitted, no standard errors: {string.Join(", ", fixedIds)})" : string.Empty)
            + "; risk-band targeting uses the point estimates (the programme targets with the published model)";
        sources.Add(new(UncertaintySource.Coefficients, on && _samplers.Count > 0, on ? note : off));

        var noise = release?.NoiseSd;
        _release = on && noise is not null ? release : null;
        sources.Add(new(UncertaintySource.Composition, _release is not null, !on ? off
            : release is null ? "the illustrative demo composition has no published noise: held fixed"
            : noise is not { } sd ? $"release {release.Id} was published without DP noise: held fixed"
            : string.Create(CultureInfo.InvariantCulture,
                $"release {release.Id}: each published interior count drawn from N(published, {sd:G4}^2) (its DP noise, zCDP rho = {release.Rho:G4}), truncated at 0; {release.HiddenCompositionCells + release.HiddenPrevalenceCells} suppressed cells kept at their filled values; the cohort is redrawn per replicate")));

        var effects = interventions.SelectMany(x => x.Effects).ToList();
        var uncertain = effects.Count(e => e.Uncertain);
        _drawEffects = on && uncertain > 0;
        sources.Add(new(UncertaintySource.InterventionEffects, _drawEffects, !on ? off
            : effects.Count == 0 ? "no intervention effects"
            : string.Create(CultureInfo.InvariantCulture,
                $"{uncertain} of {effects.Count} effects drawn (ratios log-normal from their ci95; risk-factor shifts from the delta's ci95 and the coefficient's standard error); {effects.Count - uncertain} point values")));
        Sources = sources;
    }

    /// <summary>Every source with whether it is included and how.</summary>
    public IReadOnlyList<UncertaintySource> Sources { get; }

    /// <summary>True when replicates draw the composition (the cohort is then drawn per replicate).</summary>
    public bool DrawsComposition => _release is not null;

    /// <summary>The parameters of one replicate, from its stream.</summary>
    public ReplicateParameters Draw(DrawStream draws)
    {
        var replaced = new Dictionary<string, CompiledModel>(StringComparer.Ordinal);
        foreach (var (outcomes, sampler, item) in _samplers)
        {
            var compiled = new CompiledModel(sampler.Draw(k => NormalQuantile.Of(draws.ParameterUniform(CoefficientSource, item, k))));
            foreach (var o in outcomes)
            {
                replaced[o] = compiled;
            }
        }

        var interventions = _drawEffects ? [.. _interventions.Select((x, i) => x with { Effects = [.. x.Effects.Select((e, j) => DrawEffect(e, draws, (i << 16) | j))] })] : _interventions;
        var composition = _release?.Drawn((table, cell) => NormalQuantile.Of(draws.ParameterUniform(CompositionSource, table, cell)));
        return new ReplicateParameters(_models.WithCompiled(replaced), interventions, composition);
    }

    private static InterventionEffect DrawEffect(InterventionEffect e, DrawStream draws, int item)
    {
        if (!e.Uncertain)
        {
            return e;
        }

        double Z(int k) => NormalQuantile.Of(draws.ParameterUniform(EffectSource, item, k));
        if (e.Interval is { } interval)
        {
            return e with { Multiplier = Math.Exp(Math.Log(interval.Estimate) + (interval.LogSd * Z(0))) };
        }

        var s = e.Shift!;
        var delta = s.Delta + (s.DeltaSd * Z(1));
        var beta = s.Coefficient + (s.CoefficientSd * Z(2));
        return e with { Multiplier = Math.Exp(beta * delta) };
    }
}

/// <summary>One replicate's models, interventions (drawn effects) and composition (null: the run's own).</summary>
internal sealed record ReplicateParameters(ModelSet Models, IReadOnlyList<TwinIntervention> Interventions, ReleasedComposition? Composition);

/// <summary>
/// Draws one model's coefficients: β̂ + L z with L the Cholesky factor of the registry's Σ̂ (correlated draws), or
/// β̂ + SE ∘ z when the document has standard errors but no covariance (an older document, or a Σ̂ that is not
/// numerically positive definite), or never (an unfitted model: no sampling distribution).
/// <para>
/// A term whose maximum-likelihood estimate does not exist (<see cref="IsSeparated"/>) is held at its reported value and the
/// other coefficients are drawn from their distribution given it, N(β̂_o, Σ̂_oo − Σ̂_os Σ̂_ss⁻¹ Σ̂_so) (the conditional of the
/// joint normal). Under separation the likelihood keeps rising as that coefficient goes to ±∞ (Albert &amp; Anderson 1984,
/// Biometrika 71(1):1-10); the fit stops where the fitted probabilities of the separated rows are numerically 0 (or their
/// rates 0), and the Wald variance it reports there is the inverse of an information that is numerically zero (Hauck &amp;
/// Donner 1977, JASA 72:851-853), not a sampling distribution. Drawing from it puts the coefficient anywhere in ±10⁵: half
/// the replicates then give every person of that group the outcome for certain, which the data (no event among them)
/// contradict. The reported value already gives those rows the probability the data support (numerically 0).
/// </para>
/// </summary>
internal sealed class CoefficientSampler
{
    public const string FromCovariance = "covariance";
    public const string FromStandardErrors = "standard_errors";
    public const string Fixed = "fixed";

    /// <summary>
    /// |β̂| at or above which a log- or logit-scale coefficient counts as diverging: a rate or odds ratio of e¹⁰ ≈ 22,000
    /// between people with and without a binary feature, which no covariate of the twin's outcomes has.
    /// </summary>
    internal const double DivergentCoefficient = 10;

    private readonly double[] _beta;
    private readonly double[,]? _factor;
    private readonly double[]? _sd;

    public CoefficientSampler(RegisteredModel model)
    {
        Model = model;
        _beta = [.. model.Terms.Select(t => t.Coefficient)];
        var held = Enumerable.Range(0, _beta.Length)
            .Where(j => IsSeparated(model.Family, model.Terms[j].Coefficient,
                model.Terms[j].StdError ?? (model.Covariance is { } v ? Math.Sqrt(Math.Max(0, v[j][j])) : null)))
            .ToArray();
        Held = [.. held.Select(j => model.Terms[j].Name)];
        Why = "no covariance in the registry document";
        if (model.Rows > 0 && model.Covariance is { } covariance)
        {
            try
            {
                _factor = ConditionalFactor(Matrix<double>.Build.DenseOfRowArrays(covariance.Select(r => r.ToArray())), held);
                Kind = FromCovariance;
                Why = string.Empty;
                return;
            }
            catch (ArgumentException)
            {
                Why = "its covariance is not numerically positive definite";
            }
        }

        if (model.Rows > 0 && model.Terms.All(t => t.StdError is not null))
        {
            _sd = [.. model.Terms.Select((t, j) => held.Contains(j) ? 0 : t.StdError!.Value)];
            Kind = FromStandardErrors;
            return;
        }

        Kind = Fixed;
    }

    /// <summary>
    /// Whether a coefficient's estimate is a separated (non-existent) maximum-likelihood estimate: a log or logit link
    /// (binomial, Poisson), |β̂| ≥ <see cref="DivergentCoefficient"/>, and a Wald standard error at least |β̂| (z ≤ 1). A real
    /// effect that large would be estimated many standard errors from 0; a diverging one has a standard error that grows
    /// like e^{|β̂|/2} as the fit runs on (Hauck &amp; Donner 1977), so it dwarfs the estimate. Identity-link (Gaussian)
    /// coefficients are in the outcome's units and never diverge this way.
    /// </summary>
    internal static bool IsSeparated(GlmFamily family, double coefficient, double? standardError) =>
        family is GlmFamily.Binomial or GlmFamily.Poisson
        && Math.Abs(coefficient) >= DivergentCoefficient
        && standardError is { } se && (se >= Math.Abs(coefficient) || !double.IsFinite(se));

    /// <summary>
    /// The p × p factor L with L Lᵀ the covariance of the free coefficients given the held ones (rows and columns of the
    /// held terms zero): the Cholesky factor of the Schur complement Σ_oo − Σ_os Σ_ss⁻¹ Σ_so. Without held terms, chol(Σ).
    /// </summary>
    private static double[,] ConditionalFactor(Matrix<double> sigma, int[] held)
    {
        if (held.Length == 0)
        {
            return sigma.Cholesky().Factor.ToArray();
        }

        var p = sigma.RowCount;
        var free = Enumerable.Range(0, p).Where(j => !held.Contains(j)).ToArray();
        var factor = new double[p, p];
        if (free.Length == 0)
        {
            return factor;
        }

        Matrix<double> Sub(int[] rows, int[] columns) => Matrix<double>.Build.Dense(rows.Length, columns.Length, (i, j) => sigma[rows[i], columns[j]]);
        var sos = Sub(free, held);
        var conditional = Sub(free, free) - (sos * Sub(held, held).Inverse() * sos.Transpose());
        var l = conditional.Cholesky().Factor;
        for (var i = 0; i < free.Length; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                factor[free[i], free[j]] = l[i, j];
            }
        }

        return factor;
    }

    /// <summary>The terms held at their estimates because their estimate diverged (<see cref="IsSeparated"/>).</summary>
    public IReadOnlyList<string> Held { get; }

    public RegisteredModel Model { get; }

    /// <summary><see cref="FromCovariance"/>, <see cref="FromStandardErrors"/> or <see cref="Fixed"/>.</summary>
    public string Kind { get; }

    /// <summary>Why a fitted model is drawn from its standard errors alone.</summary>
    public string Why { get; }

    /// <summary>The coefficients for standard normals z(0..p−1).</summary>
    public double[] DrawCoefficients(Func<int, double> z)
    {
        var p = _beta.Length;
        var b = (double[])_beta.Clone();
        if (_factor is { } l)
        {
            var zs = Enumerable.Range(0, p).Select(z).ToArray();
            for (var i = 0; i < p; i++)
            {
                for (var j = 0; j <= i; j++)
                {
                    b[i] += l[i, j] * zs[j];
                }
            }
        }
        else if (_sd is { } sd)
        {
            for (var i = 0; i < p; i++)
            {
                b[i] += sd[i] * z(i);
            }
        }

        return b;
    }

    /// <summary>The model with drawn coefficients (same id, so results still name the registry model).</summary>
    public RegisteredModel Draw(Func<int, double> z)
    {
        var b = DrawCoefficients(z);
        return Model with { Terms = [.. Model.Terms.Select((t, i) => t with { Coefficient = b[i] })] };
    }
}
