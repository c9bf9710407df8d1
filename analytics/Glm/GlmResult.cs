using MathNet.Numerics.Distributions;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// A fitted GLM on the original scale of the features, reported as R's summary.glm and confint.default do.
/// </summary>
public sealed class GlmResult
{
    public required GlmFamily Family { get; init; }

    /// <summary>"(Intercept)" then the feature names.</summary>
    public required IReadOnlyList<string> Names { get; init; }

    public required IReadOnlyList<double> Coefficients { get; init; }

    /// <summary>√diag of <see cref="Covariance"/>.</summary>
    public required IReadOnlyList<double> StandardErrors { get; init; }

    /// <summary>Wald statistics β/SE: t values when the dispersion is estimated (Gaussian), z values otherwise.</summary>
    public required IReadOnlyList<double> Statistics { get; init; }

    /// <summary>Two-sided p-values: Student t on the residual df for Gaussian, standard normal otherwise (summary.glm).</summary>
    public required IReadOnlyList<double> PValues { get; init; }

    /// <summary>95% Wald limits β ± Φ⁻¹(0.975)·SE, as confint.default (normal quantile for every family).</summary>
    public required IReadOnlyList<double> LowerConfidence { get; init; }

    public required IReadOnlyList<double> UpperConfidence { get; init; }

    /// <summary>Dispersion × (X'WX + ridge)⁻¹ at convergence, transformed to the original scale.</summary>
    public required double[,] Covariance { get; init; }

    /// <summary>Pearson χ²/(n − p) for Gaussian (summary.glm), 1 for binomial and Poisson.</summary>
    public required double Dispersion { get; init; }

    public required bool DispersionEstimated { get; init; }

    /// <summary>Σ w(y − μ)²/V(μ): sent only by families that estimate the dispersion, null otherwise.</summary>
    public required double? PearsonChiSquare { get; init; }

    public required double Deviance { get; init; }

    public required double NullDeviance { get; init; }

    public required long ResidualDf { get; init; }

    public required long NullDf { get; init; }

    /// <summary>AIC exactly as R's family$aic plus 2p.</summary>
    public required double Aic { get; init; }

    /// <summary>Rows of positive weight.</summary>
    public required long Rows { get; init; }

    public required int Nodes { get; init; }

    /// <summary>Aggregations used, the moments round included (pooled fit: IRLS iterations).</summary>
    public required int Rounds { get; init; }

    /// <summary>IRLS rounds (each one solve for β).</summary>
    public required int Iterations { get; init; }

    public required bool Converged { get; init; }

    /// <summary>The centring and scaling the nodes fitted on; null for the pooled reference, which fits raw features.</summary>
    public required GlmStandardization? Standardization { get; init; }

    /// <summary>
    /// DP fits only (null for exact fits): the release decision of a fit that ran its planned (budgeted) rounds, with the
    /// sanity checks behind it. An exact fit is released only if <see cref="Converged"/>.
    /// </summary>
    public GlmPrivateRelease? PrivateRelease { get; init; }

    /// <summary>This result with its DP release decision.</summary>
    internal GlmResult With(GlmPrivateRelease release) => new()
    {
        Family = Family,
        Names = Names,
        Coefficients = Coefficients,
        StandardErrors = StandardErrors,
        Statistics = Statistics,
        PValues = PValues,
        LowerConfidence = LowerConfidence,
        UpperConfidence = UpperConfidence,
        Covariance = Covariance,
        Dispersion = Dispersion,
        DispersionEstimated = DispersionEstimated,
        PearsonChiSquare = PearsonChiSquare,
        Deviance = Deviance,
        NullDeviance = NullDeviance,
        ResidualDf = ResidualDf,
        NullDf = NullDf,
        Aic = Aic,
        Rows = Rows,
        Nodes = Nodes,
        Rounds = Rounds,
        Iterations = Iterations,
        Converged = Converged,
        Standardization = Standardization,
        PrivateRelease = release,
    };

    /// <summary>
    /// Whether the fit may go to the model registry: an exact fit if it converged; a DP fit if its release checks passed
    /// (after its planned rounds, or earlier in the unlikely case that a noisy step met the exact tolerance).
    /// </summary>
    public bool Releasable => PrivateRelease is { } dp ? dp.Released : Converged;
}

/// <summary>
/// How a DP fit ended. Under DP an exact convergence test is meaningless (every round's sums carry fresh noise), so a DP
/// fit runs the planned number of noisy Newton rounds its budget paid for and releases the final iterate, as DP iterative
/// methods do (noisy gradient descent, Bassily, Smith &amp; Thakurta 2014; noisy Newton / DP second-order methods,
/// Avella-Medina, Bradshaw &amp; Loh 2023, "Differentially private inference via noisy optimization", Ann. Statist.): their
/// guarantees are for the T-th iterate with T fixed in advance, and stopping on a noisy criterion would itself leak. It is
/// released only if its sanity checks pass; otherwise <see cref="Refusal"/> says why.
/// </summary>
/// <param name="PlannedIterations">Newton rounds the budget planned.</param>
/// <param name="Iterations">Newton rounds run.</param>
/// <param name="LastStep">max|Δβ̃| of the last step on the [−1, 1] design scale: how far from stationary the final iterate still was.</param>
/// <param name="Damping">The damping λ the last step used (declared ridge + noise bound).</param>
/// <param name="DampingDoublings">How often λ had to double in the last round before H + λI factored (0 when the noise bound sufficed).</param>
/// <param name="MinEigenvalue">Smallest eigenvalue of the last noisy Hessian H (without damping): negative means noise dominated some direction.</param>
/// <param name="Deviance">The last round's noisy deviance (at the point the last step started from).</param>
/// <param name="NullDeviance">The noisy null deviance (first Newton round).</param>
/// <param name="DevianceSigma">Standard deviation of the DP noise on one deviance sum.</param>
/// <param name="ScoreStatistic">‖s‖²/σ_s² of the last round's noisy score: χ²_p if the point it was evaluated at is the MLE.</param>
/// <param name="ScoreCritical">The χ²_p quantile it is checked against.</param>
/// <param name="Refusal">Why the fit is not released, or null when it is.</param>
public sealed record GlmPrivateRelease(int PlannedIterations, int Iterations, double LastStep, double Damping, int DampingDoublings,
    double MinEigenvalue, double Deviance, double NullDeviance, double DevianceSigma, double ScoreStatistic, double ScoreCritical, string? Refusal)
{
    /// <summary>True when every check passed.</summary>
    public bool Released => Refusal is null;
}

/// <summary>Sums a fit ends with, from the aggregates or from all rows.</summary>
internal readonly record struct GlmTotals(long Rows, int Nodes, double Deviance, double NullDeviance, double AicSum, double Pearson, double LogWeightSum);

internal static class GlmSummary
{
    private static readonly double Z975 = Normal.InvCDF(0, 1, 0.975);

    /// <summary>summary.glm, confint.default and family$aic from β and the unscaled covariance on the original scale.</summary>
    internal static GlmResult Build(
        GlmFamily family,
        IReadOnlyList<string> names,
        Vector<double> beta,
        Matrix<double> unscaledCovariance,
        GlmTotals totals,
        int rounds,
        int iterations,
        bool converged,
        GlmStandardization? standardization)
    {
        int p = beta.Count;
        long n = totals.Rows;
        long dfResidual = n - p;
        bool estimated = GlmMath.EstimatesDispersion(family);
        double dispersion = !estimated ? 1 : dfResidual > 0 ? totals.Pearson / dfResidual : double.NaN;
        var covariance = unscaledCovariance * dispersion;
        var se = new double[p];
        var stat = new double[p];
        var pValue = new double[p];
        var lower = new double[p];
        var upper = new double[p];
        for (int j = 0; j < p; j++)
        {
            se[j] = Math.Sqrt(covariance[j, j]);
            stat[j] = beta[j] / se[j];
            pValue[j] = 2 * (estimated
                ? StudentT.CDF(0, 1, dfResidual, -Math.Abs(stat[j]))
                : Normal.CDF(0, 1, -Math.Abs(stat[j])));
            lower[j] = beta[j] - (Z975 * se[j]);
            upper[j] = beta[j] + (Z975 * se[j]);
        }

        // R: gaussian()$aic = n·(log(2π·RSS/n) + 1) + 2 − Σ log w; binomial and Poisson sum −2·log-likelihood terms.
        double aic = (family == GlmFamily.Gaussian
            ? (n * (Math.Log(2 * Math.PI * totals.Deviance / n) + 1)) + 2 - totals.LogWeightSum
            : totals.AicSum) + (2 * p);
        return new GlmResult
        {
            Family = family,
            Names = names,
            Coefficients = [.. beta],
            StandardErrors = se,
            Statistics = stat,
            PValues = pValue,
            LowerConfidence = lower,
            UpperConfidence = upper,
            Covariance = covariance.ToArray(),
            Dispersion = dispersion,
            DispersionEstimated = estimated,
            PearsonChiSquare = estimated ? totals.Pearson : null,
            Deviance = totals.Deviance,
            NullDeviance = totals.NullDeviance,
            ResidualDf = dfResidual,
            NullDf = n - 1,
            Aic = aic,
            Rows = n,
            Nodes = totals.Nodes,
            Rounds = rounds,
            Iterations = iterations,
            Converged = converged,
            Standardization = standardization,
        };
    }
}

internal static class GlmSolver
{
    // 1 − R² of a column on the columns before it (in the W-metric) below which it counts as collinear:
    // the Cholesky pivot is then dominated by rounding and fixed-point error.
    private const double CollinearityTolerance = 1e-12;

    /// <summary>β = H⁻¹g and H⁻¹ by Cholesky; refuses a matrix that is not (numerically) positive definite.</summary>
    internal static (Vector<double> Beta, Matrix<double> Inverse) Solve(Matrix<double> h, Vector<double> g, IReadOnlyList<string> names)
    {
        // Leading blocks in turn, so that the refusal can name the first coefficient that is not identified.
        for (int k = 1; k <= h.RowCount; k++)
        {
            if (Factor(h.SubMatrix(0, k, 0, k)) is null)
            {
                throw new InvalidOperationException(
                    $"ΣX'WX is not positive definite: '{names[k - 1]}' is (numerically) a linear combination of the coefficients before it, or too few rows inform it. Drop it or set a ridge.");
            }
        }

        var cholesky = Factor(h)!;
        return (cholesky.Solve(g), cholesky.Solve(Matrix<double>.Build.DenseIdentity(h.RowCount)));
    }

    private static Cholesky<double>? Factor(Matrix<double> h)
    {
        try
        {
            var cholesky = h.Cholesky();
            int k = h.RowCount - 1;
            return cholesky.Factor[k, k] * cholesky.Factor[k, k] > CollinearityTolerance * h[k, k] ? cholesky : null;
        }
        catch (ArgumentException)
        {
            // MathNet's refusal of a matrix that is not positive definite.
            return null;
        }
    }
}
