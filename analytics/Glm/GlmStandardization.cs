using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// Feature centring and scaling agreed after the moments round. Nodes fit on x̃ = (x − m)/s so that every
/// node's Σx̃² is at most the global row count, which bounds the IRLS sums independently of the features'
/// units (<see cref="GlmLayout"/>). The fit is exactly equivariant under this affine map, so any m and s
/// (not only accurate ones) give the original-scale estimates after <see cref="ToOriginalScale"/>.
/// </summary>
public sealed class GlmStandardization
{
    public GlmStandardization(IReadOnlyList<double> means, IReadOnlyList<double> scales)
    {
        ArgumentNullException.ThrowIfNull(means);
        ArgumentNullException.ThrowIfNull(scales);
        if (means.Count != scales.Count)
        {
            throw new ArgumentException("one mean and one scale per feature", nameof(scales));
        }

        if (!means.All(double.IsFinite) || !scales.All(s => s > 0 && double.IsFinite(s)))
        {
            throw new ArgumentException("means must be finite and scales positive and finite");
        }

        Means = [.. means];
        Scales = [.. scales];
    }

    public IReadOnlyList<double> Means { get; }

    /// <summary>Population standard deviations (divisor n), so Σ over all rows of x̃² is exactly n.</summary>
    public IReadOnlyList<double> Scales { get; }

    /// <summary>From the aggregated moments Σx, Σx² over n rows; a feature constant across all nodes is refused.</summary>
    public static GlmStandardization FromMoments(double rows, IReadOnlyList<double> sums, IReadOnlyList<double> sumsOfSquares, IReadOnlyList<string> names)
    {
        ArgumentNullException.ThrowIfNull(sums);
        ArgumentNullException.ThrowIfNull(sumsOfSquares);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rows);
        var means = new double[sums.Count];
        var scales = new double[sums.Count];
        for (int j = 0; j < sums.Count; j++)
        {
            means[j] = sums[j] / rows;
            double meanSquare = sumsOfSquares[j] / rows;
            double variance = meanSquare - (means[j] * means[j]);
            // Below this the variance is lost in the cancellation of E[x²] − E[x]²: the feature is constant.
            if (!(variance > 1e-13 * meanSquare))
            {
                throw new InvalidOperationException($"Feature '{names[j]}' is constant across all nodes, so it is collinear with the intercept.");
            }

            scales[j] = Math.Sqrt(variance);
        }

        return new GlmStandardization(means, scales);
    }

    /// <summary>Writes the design row [1, x̃_1, …, x̃_k] for raw features <paramref name="raw"/>.</summary>
    public void Standardize(ReadOnlySpan<double> raw, Span<double> design)
    {
        if (raw.Length != Means.Count || design.Length != raw.Length + 1)
        {
            throw new ArgumentException("design needs the intercept plus one value per feature", nameof(design));
        }

        design[0] = 1;
        for (int j = 0; j < raw.Length; j++)
        {
            design[j + 1] = (raw[j] - Means[j]) / Scales[j];
        }
    }

    /// <summary>
    /// β = Aβ̃ and Cov = A·Coṽ·A', where η = β̃_0 + Σβ̃_j(x_j − m_j)/s_j gives A: row 0 = [1, −m_1/s_1, …],
    /// row j = e_j/s_j.
    /// </summary>
    public (double[] Coefficients, double[,] Covariance) ToOriginalScale(IReadOnlyList<double> coefficients, double[,] covariance)
    {
        ArgumentNullException.ThrowIfNull(coefficients);
        ArgumentNullException.ThrowIfNull(covariance);
        var a = Transform();
        return ([.. a * Vector<double>.Build.DenseOfEnumerable(coefficients)],
            (a * Matrix<double>.Build.DenseOfArray(covariance) * a.Transpose()).ToArray());
    }

    internal Matrix<double> Transform()
    {
        int p = Means.Count + 1;
        var a = Matrix<double>.Build.Dense(p, p);
        a[0, 0] = 1;
        for (int j = 0; j < Means.Count; j++)
        {
            a[0, j + 1] = -Means[j] / Scales[j];
            a[j + 1, j + 1] = 1 / Scales[j];
        }

        return a;
    }
}
