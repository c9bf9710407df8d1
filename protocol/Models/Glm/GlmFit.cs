using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Protocol.Models.Glm;

/// <summary>
/// The coordinator's side of the exact federated GLM (GLORE, Wu et al. 2012, JAMIA; DataSHIELD ds.glm):
/// R's glm.fit IRLS where each round's X'WX, X'Wz and deviance are sums over nodes, so the result equals a
/// pooled fit. It sees only aggregated vectors. Loop: <see cref="NextRequest"/> → every node runs
/// <see cref="GlmNode.Compute"/> → sum (encrypted, FixedPointCodec) → <see cref="Accept"/>, until it returns true.
/// Rounds: 1 moments (Σx, Σx², n, Σw, Σwy) → 2 start values μ0 (plus the null deviance) → iterations at β.
/// </summary>
public sealed class GlmFit
{
    private GlmRequest _request;
    private int _nodes;
    private long _rows;
    private double _logWeightSum;
    private double _nullDeviance;
    private double _previousObjective;

    public GlmFit(GlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        _request = new GlmRequest(GlmRoundKind.Moments, 1, GlmLayout.Moments(spec), 0, null, null, null);
    }

    public GlmSpec Spec { get; }

    /// <summary>Aggregations accepted so far.</summary>
    public int Rounds { get; private set; }

    /// <summary>IRLS rounds accepted so far.</summary>
    public int Iterations { get; private set; }

    public GlmResult? Result { get; private set; }

    public bool IsFinished => Result is not null;

    /// <summary>What every node must compute next; the same request until <see cref="Accept"/> takes its sum.</summary>
    public GlmRequest NextRequest() =>
        IsFinished ? throw new InvalidOperationException("The fit is finished; read Result.") : _request;

    /// <summary>
    /// Takes the decoded sum of all nodes' vectors for <see cref="NextRequest"/>; true once <see cref="Result"/> is set.
    /// A refused aggregate (changed participants, singular ΣX'WX) throws and leaves the fit where it was.
    /// </summary>
    public bool Accept(ReadOnlySpan<double> aggregate)
    {
        var request = NextRequest();
        var blocks = new GlmBlocks(request.Layout);
        if (aggregate.Length != blocks.Length)
        {
            throw new ArgumentException($"Round {request.Round} expects {blocks.Length} values, not {aggregate.Length}.", nameof(aggregate));
        }

        if (!aggregate.ToArray().All(double.IsFinite))
        {
            throw new ArgumentException("The aggregate has a non-finite value.", nameof(aggregate));
        }

        int nodes = (int)Count(aggregate[blocks[GlmLayout.Count]]);
        if (Spec.Privacy is { } dp)
        {
            bool done = AcceptPrivate(dp, request, aggregate, blocks, nodes);
            Rounds++;
            return done;
        }

        long rows = Count(aggregate[blocks[GlmLayout.Count] + 1]);
        if (request.Kind == GlmRoundKind.Moments)
        {
            AcceptMoments(aggregate, blocks, nodes, rows);
            Rounds++;
            return false;
        }

        if (nodes != _nodes || rows != _rows)
        {
            throw new InvalidOperationException(
                $"Round {request.Round} sums {nodes} nodes and {rows} rows, but the fit started with {_nodes} nodes and {_rows} rows: every node must take part in every round.");
        }

        bool finished = AcceptIrls(request, aggregate, blocks);
        Rounds++;
        Iterations++;
        return finished;
    }

    private void AcceptMoments(ReadOnlySpan<double> a, GlmBlocks blocks, int nodes, long rows)
    {
        if (nodes < 1 || nodes > Spec.MaxParties)
        {
            throw new InvalidOperationException($"The moments sum {nodes} nodes; the study allows 1 to {Spec.MaxParties}.");
        }

        if (rows <= Spec.Coefficients)
        {
            throw new InvalidOperationException($"{rows} rows cannot identify {Spec.Coefficients} coefficients.");
        }

        _nodes = nodes;
        _rows = rows;
        int k = Spec.FeatureNames.Count;
        var std = GlmStandardization.FromMoments(
            rows,
            a.Slice(blocks[GlmLayout.FeatureSum], k).ToArray(),
            a.Slice(blocks[GlmLayout.FeatureSumOfSquares], k).ToArray(),
            Spec.FeatureNames);
        double sw = a[blocks[GlmLayout.WeightSum]], swy = a[blocks[GlmLayout.ResponseSum]];
        double offsetSum = Spec.HasOffset ? a[blocks[GlmLayout.OffsetSum]] : 0;
        _logWeightSum = blocks.Has(GlmLayout.LogWeightSum) ? a[blocks[GlmLayout.LogWeightSum]] : 0;

        // Intercept-only fit in closed form (R fits it with glm.fit when there is an offset).
        double nullIntercept;
        switch (Spec.Family)
        {
            case GlmFamily.Binomial:
                double mean = swy / sw;
                if (!(mean > 0 && mean < 1))
                {
                    throw new InvalidOperationException("The response has no variation (no successes or no failures): the model is not identified.");
                }

                nullIntercept = GlmMath.Link(GlmFamily.Binomial, mean);
                break;
            case GlmFamily.Poisson:
                if (!(swy > 0))
                {
                    throw new InvalidOperationException("All responses are zero: the model is not identified.");
                }

                nullIntercept = Math.Log(swy / (Spec.HasOffset ? offsetSum : sw));
                break;
            default:
                nullIntercept = (swy - offsetSum) / sw;
                break;
        }

        _request = new GlmRequest(GlmRoundKind.Start, 2, GlmLayout.Irls(Spec, rows, start: true), rows, std, null, nullIntercept);
    }

    private bool AcceptIrls(GlmRequest request, ReadOnlySpan<double> a, GlmBlocks blocks)
    {
        int p = Spec.Coefficients;
        var h = Matrix<double>.Build.Dense(p, p);
        int at = blocks[GlmLayout.Xtwx];
        for (int j = 0; j < p; j++)
        {
            for (int l = j; l < p; l++)
            {
                h[j, l] = h[l, j] = a[at++];
            }

            if (j > 0)
            {
                h[j, j] += Spec.Ridge;
            }
        }

        var g = Vector<double>.Build.Dense(a.Slice(blocks[GlmLayout.Xtwz], p).ToArray());
        var (beta, inverse) = GlmSolver.Solve(h, g, Spec.CoefficientNames);
        double deviance = a[blocks[GlmLayout.Deviance]];
        int iteration = Iterations + 1;

        bool converged = false;
        double objective = deviance;
        if (request.Kind == GlmRoundKind.Start)
        {
            _nullDeviance = a[blocks[GlmLayout.NullDeviance]];
        }
        else
        {
            // The deviance was evaluated at the β the nodes were sent; with a ridge the criterion follows the penalized objective.
            var current = request.Beta!;
            double change = 0;
            for (int j = 0; j < p; j++)
            {
                change = Math.Max(change, Math.Abs(beta[j] - current[j]));
                objective += j > 0 ? Spec.Ridge * current[j] * current[j] : 0;
            }

            converged = change < GlmSpec.CoefficientTolerance
                || Math.Abs(objective - _previousObjective) / (Math.Abs(objective) + 0.1) < GlmSpec.DevianceTolerance;
        }

        if (converged || iteration >= Spec.MaxIterations)
        {
            // β is the Newton update from the last evaluated point; the covariance, deviance and AIC are at that
            // point, as R's summary.glm uses the weights of the final iteration's input. They differ from values at
            // β by O(|Δβ|²), far below the tolerances.
            var std = request.Standardization!;
            var t = std.Transform();
            double aicSum = blocks.Has(GlmLayout.Aic) ? a[blocks[GlmLayout.Aic]] : 0;
            double pearson = blocks.Has(GlmLayout.Pearson) ? a[blocks[GlmLayout.Pearson]] : 0;
            Result = GlmSummary.Build(
                Spec.Family,
                Spec.CoefficientNames,
                t * beta,
                t * inverse * t.Transpose(),
                new GlmTotals(_rows, _nodes, deviance, _nullDeviance, aicSum, pearson, _logWeightSum),
                request.Round,
                iteration,
                converged,
                std);
            return true;
        }

        _previousObjective = objective;
        _request = request with
        {
            Kind = GlmRoundKind.Iterate,
            Round = request.Round + 1,
            Layout = GlmLayout.Irls(Spec, _rows, start: false),
            Beta = [.. beta],
            NullIntercept = null,
        };
        return false;
    }

    /// <summary>
    /// Under differential privacy. Moments: the noisy row count and Σw, Σwy (Σ offset) give n and the null model's
    /// intercept α (clamped inside the family's range: noise can push Σwy/Σw outside it); the fit starts at β̃ = (α, 0, …)
    /// on the [−1, 1] design scale, where its deviance is the null deviance. Newton rounds: β̃ ← β̃ + (H + λI)⁻¹s with the
    /// noisy Hessian H and score s. The damping λ keeps H + λI positive definite: the symmetric noise matrix E (entries of
    /// standard deviation σ_H·√(nodes/m) at most) has ‖E‖ ≤ σ(2√p + t) with probability ≥ 1 − e^(−t²/4) (Bandeira &amp;
    /// van Handel 2016, Ann. Probab., Cor. 3.12 and Remark 3.13), so λ = declared ridge + σ_H·√(nodes/m)·(2√p + 6) makes H + E + λI ⪰ H
    /// except with probability ~1e-4; if the Cholesky still fails, λ doubles until it succeeds (post-processing, free).
    /// Unlike the exact fit's ridge, the damping does not move the fixed point: s(β̃) = 0 is the unpenalized MLE
    /// (Levenberg–Marquardt damping, not penalization), so λ slows convergence but adds no bias. The reported covariance
    /// is (H + λI)⁻¹ plus the last step's score noise σ_s²·(nodes/m)·(H + λI)⁻², so the intervals include the DP noise.
    /// </summary>
    private bool AcceptPrivate(GlmPrivacy dp, GlmRequest request, ReadOnlySpan<double> a, GlmBlocks blocks, int nodes)
    {
        int p = Spec.Coefficients;
        if (request.Kind == GlmRoundKind.Moments)
        {
            if (nodes < 1 || nodes > Spec.MaxParties)
            {
                throw new InvalidOperationException($"The moments sum {nodes} nodes; the study allows 1 to {Spec.MaxParties}.");
            }

            long rows = (long)Math.Round(a[blocks[GlmPrivacy.RowCount]]);
            if (rows <= p)
            {
                throw new InvalidOperationException($"About {Math.Max(rows, 0)} rows (noisy count) cannot identify {p} coefficients.");
            }

            _nodes = nodes;
            _rows = rows;
            double sw = Math.Max(a[blocks[GlmLayout.WeightSum]], 1), swy = a[blocks[GlmLayout.ResponseSum]];
            double floor = 0.5 / rows;
            double alpha = Spec.Family switch
            {
                GlmFamily.Binomial => GlmMath.Link(GlmFamily.Binomial, Math.Clamp(swy / sw, floor, 1 - floor)),
                GlmFamily.Poisson => Math.Log(Math.Max(swy, 0.5) / Math.Max(Spec.HasOffset ? a[blocks[GlmLayout.OffsetSum]] : sw, 1)),
                _ => (swy - (Spec.HasOffset ? a[blocks[GlmLayout.OffsetSum]] : 0)) / sw,
            };
            var start = new double[p];
            start[0] = alpha;
            _request = new GlmRequest(GlmRoundKind.Iterate, 2, GlmLayout.Irls(Spec, rows, start: false), rows, dp.Standardization(), start, null);
            return false;
        }

        if (nodes != _nodes)
        {
            throw new InvalidOperationException(
                $"Round {request.Round} sums {nodes} nodes, but the fit started with {_nodes}: every node must take part in every round.");
        }

        var h = Matrix<double>.Build.Dense(p, p);
        int at = blocks[GlmLayout.Xtwx];
        for (int j = 0; j < p; j++)
        {
            for (int l = j; l < p; l++)
            {
                h[j, l] = h[l, j] = a[at++];
            }
        }

        var s = Vector<double>.Build.Dense(a.Slice(blocks[GlmPrivacy.Score], p).ToArray());
        var layout = request.Layout;
        double inflation = Math.Sqrt((double)nodes / dp.MinHonestNodes);
        double sigmaH = dp.TargetSigma(layout, layout.First(b => b.Name == GlmLayout.Xtwx), dp.Clip(Spec, GlmLayout.Xtwx)) * inflation;
        double sigmaS = dp.TargetSigma(layout, layout.First(b => b.Name == GlmPrivacy.Score), dp.Clip(Spec, GlmPrivacy.Score)) * inflation;
        double lambda = Spec.Ridge + (sigmaH * ((2 * Math.Sqrt(p)) + 6));
        MathNet.Numerics.LinearAlgebra.Factorization.Cholesky<double>? cholesky = null;
        for (int attempt = 0; attempt < 200 && cholesky is null; attempt++, lambda *= 2)
        {
            try
            {
                cholesky = (h + (Matrix<double>.Build.DenseIdentity(p) * lambda)).Cholesky();
            }
            catch (ArgumentException)
            {
                cholesky = null;
            }
        }

        if (cholesky is null)
        {
            throw new InvalidOperationException("The noisy Hessian stays indefinite after damping: the statistics are unusable.");
        }

        var current = request.Beta!;
        var step = cholesky.Solve(s);
        var beta = Vector<double>.Build.DenseOfEnumerable(current) + step;
        double deviance = a[blocks[GlmLayout.Deviance]];
        int iteration = Iterations + 1;
        if (Iterations == 0)
        {
            _nullDeviance = deviance; // evaluated at (α, 0, …): the null model's means
        }

        double change = step.AbsoluteMaximum();
        bool converged = change < GlmSpec.CoefficientTolerance
            || (Iterations > 0 && Math.Abs(deviance - _previousObjective) / (Math.Abs(deviance) + 0.1) < GlmSpec.DevianceTolerance);
        Iterations++;
        if (converged || iteration >= Spec.MaxIterations)
        {
            var inverse = cholesky.Solve(Matrix<double>.Build.DenseIdentity(p));
            // Build scales the unscaled covariance by the dispersion (Gaussian); the noise term is not scaled by it.
            double pearsonSum = blocks.Has(GlmLayout.Pearson) ? Math.Max(a[blocks[GlmLayout.Pearson]], 0) : 0;
            double phi = GlmMath.EstimatesDispersion(Spec.Family) && pearsonSum > 0 ? pearsonSum / Math.Max(_rows - p, 1) : 1;
            var covariance = inverse + (inverse * inverse * (sigmaS * sigmaS / phi));
            var std = request.Standardization!;
            var t = std.Transform();
            double aicSum = blocks.Has(GlmLayout.Aic) ? a[blocks[GlmLayout.Aic]] : 0;
            Result = GlmSummary.Build(
                Spec.Family,
                Spec.CoefficientNames,
                t * beta,
                t * covariance * t.Transpose(),
                new GlmTotals(_rows, _nodes, deviance, _nullDeviance, aicSum, pearsonSum, 0),
                request.Round,
                iteration,
                converged,
                std);
            return true;
        }

        _previousObjective = deviance;
        _request = request with { Round = request.Round + 1, Beta = [.. beta] };
        return false;
    }

    /// <summary>Count blocks have scale 1, so their sums are exact non-negative integers.</summary>
    private static long Count(double value) =>
        value >= 0 && value == Math.Round(value) && value < long.MaxValue
            ? (long)value
            : throw new ArgumentException("A count in the aggregate is not a non-negative integer: the aggregate is corrupt.");
}
