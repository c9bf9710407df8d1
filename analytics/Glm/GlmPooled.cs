using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// Reference fit on all rows in one place: R's glm.fit loop (start at μ0, solve the weighted least squares
/// for z, evaluate the deviance at the new β) on the raw,
/// unstandardized design, with dense matrices. The federated fit must reproduce it; it is deliberately
/// not built from the node/coordinator code paths so that the comparison can catch their errors.
/// </summary>
public static class GlmPooled
{
    public static GlmResult Fit(GlmFamily family, IReadOnlyList<string> featureNames, GlmData data, int maxIterations = 25)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        ArgumentNullException.ThrowIfNull(data);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxIterations);
        if (featureNames.Count != data.Features)
        {
            throw new ArgumentException("one name per feature", nameof(featureNames));
        }

        var used = Enumerable.Range(0, data.Rows).Where(i => data.Weight(i) > 0).ToArray();
        int n = used.Length, p = data.Features + 1;
        var x = Matrix<double>.Build.Dense(n, p, (r, c) => c == 0 ? 1 : data.Row(used[r])[c - 1]);
        var y = used.Select(i => data.Y[i]).ToArray();
        var w = used.Select(i => data.Weight(i)).ToArray();
        var o = used.Select(data.OffsetAt).ToArray();
        IReadOnlyList<string> names = ["(Intercept)", .. featureNames];

        var eta = Vector<double>.Build.Dense(n, r => GlmMath.Link(family, GlmMath.StartMean(family, y[r], w[r])));
        var mu = eta.Map(e => GlmMath.LinkInverse(family, e));
        Vector<double>? beta = null;
        Matrix<double> inverse;
        double dev;
        int iteration = 0;
        bool converged;
        do
        {
            iteration++;
            var weight = Vector<double>.Build.Dense(n);
            var z = Vector<double>.Build.Dense(n);
            for (int r = 0; r < n; r++)
            {
                var row = GlmRow.At(family, y[r], w[r], o[r], eta[r]);
                weight[r] = row.W;
                z[r] = row.Z;
            }

            // X'W by scaling X's rows: the same products as multiplying by the diagonal matrix (whose other terms are
            // zeros), in O(n·p) instead of the O(n²·p) of a dense-by-diagonal product.
            var xtw = Matrix<double>.Build.Dense(p, n, (c, r) => x[r, c] * weight[r]);
            var (next, inv) = GlmSolver.Solve(xtw * x, xtw * z, names);
            inverse = inv;
            eta = (x * next) + Vector<double>.Build.Dense(o);
            mu = eta.Map(e => GlmMath.LinkInverse(family, e));
            dev = Deviance(family, y, mu, w);
            // Only the coefficient criterion: like R, the covariance comes from this iteration's input weights,
            // which must therefore already sit at the MLE (the deviance criterion allows ~1e-6 there).
            converged = beta is not null && (next - beta).AbsoluteMaximum() < GlmSpec.CoefficientTolerance * (1 + beta.AbsoluteMaximum());
            beta = next;
        }
        while (!converged && iteration < maxIterations);

        double sw = w.Sum(), swy = Enumerable.Range(0, n).Sum(r => w[r] * y[r]);
        var nullMu = family switch
        {
            GlmFamily.Poisson => o.Select(v => Math.Exp(v) * swy / Enumerable.Range(0, n).Sum(r => w[r] * Math.Exp(o[r]))).ToArray(),
            GlmFamily.Gaussian => o.Select(v => v + ((swy - Enumerable.Range(0, n).Sum(r => w[r] * o[r])) / sw)).ToArray(),
            _ => o.Select(_ => swy / sw).ToArray(),
        };
        var totals = new GlmTotals(
            n,
            1,
            dev,
            Deviance(family, y, Vector<double>.Build.Dense(nullMu), w),
            Enumerable.Range(0, n).Sum(r => GlmMath.AicTerm(family, y[r], mu[r], w[r])),
            Enumerable.Range(0, n).Sum(r => w[r] * (y[r] - mu[r]) * (y[r] - mu[r]) / GlmMath.Variance(family, mu[r])),
            w.Sum(Math.Log));
        return GlmSummary.Build(family, names, beta, inverse, totals, iteration, iteration, converged, null);
    }

    private static double Deviance(GlmFamily family, double[] y, Vector<double> mu, double[] w) =>
        Enumerable.Range(0, y.Length).Sum(r => GlmMath.Deviance(family, y[r], mu[r], w[r]));
}
