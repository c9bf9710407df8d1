using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// The exact federated GLM (GLORE, Wu et al. 2012, JAMIA; DataSHIELD ds.glm): R's glm.fit IRLS where each round's
/// X'WX, X'Wz and deviance are sums over nodes, so the result equals a pooled fit. Rounds: 1 moments (Σx, Σx², n, Σw,
/// Σwy) → 2 start values μ0 (plus the null deviance), or with <see cref="GlmSpec.StartFromNullModel"/> the first IRLS
/// step from the moments → iterations at β, each evaluating the <see cref="LineSearchSteps"/> at once.
/// </summary>
public sealed class GlmIrlsFit : GlmFit
{
    private double _logWeightSum;
    private double _previousObjective;

    /// <summary>A fit of a study without differential privacy (its nodes send exact sums).</summary>
    public GlmIrlsFit(GlmSpec spec)
        : base(spec)
    {
        if (spec.Privacy is not null)
        {
            throw new ArgumentException("The study is differentially private: its rounds carry noise, which GlmNoisyNewtonFit fits.", nameof(spec));
        }
    }

    private protected override bool AcceptRound(GlmRequest request, ReadOnlySpan<double> aggregate, GlmBlocks blocks, int nodes)
    {
        long rows = Count(aggregate[blocks[GlmLayout.Count] + 1]);
        if (request.Kind == GlmRoundKind.Moments)
        {
            AcceptMoments(aggregate, blocks, nodes, rows);
            return false;
        }

        if (nodes != Nodes || rows != Rows)
        {
            throw new InvalidOperationException(
                $"Round {request.Round} sums {nodes} nodes and {rows} rows, but the fit started with {Nodes} nodes and {Rows} rows: every node must take part in every round.");
        }

        bool finished = request.Kind == GlmRoundKind.Iterate && (request.Candidates > 1 || request.NullIntercept is not null) ? AcceptLineSearch(request, aggregate) : AcceptIrls(request, aggregate, blocks);
        Iterations++;
        return finished;
    }

    private void AcceptMoments(ReadOnlySpan<double> a, GlmBlocks blocks, int nodes, long rows)
    {
        CheckParties(nodes);
        if (rows <= Spec.Coefficients)
        {
            throw new InvalidOperationException($"{rows} rows cannot identify {Spec.Coefficients} coefficients.");
        }

        Nodes = nodes;
        Rows = rows;
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

        if (Spec.StartFromNullModel)
        {
            // R's glm.fit with mustart = the null model's means: its first IRLS step, from the moments (no start round).
            var first = NullStart(a, blocks, std, nullIntercept, sw, swy);
            Iterations++;
            var steps = LineSearchSteps;
            Request = new GlmRequest(GlmRoundKind.Iterate, 2, GlmLayout.Irls(Spec, rows, start: false, steps.Count, nullDeviance: true), rows, std, [.. first], nullIntercept,
                [nullIntercept, .. new double[Spec.Coefficients - 1]], steps);
            return;
        }

        Request = new GlmRequest(GlmRoundKind.Start, 2, GlmLayout.Irls(Spec, rows, start: true), rows, std, null, nullIntercept);
    }

    /// <summary>
    /// The start round's weighted least squares at the null model's means, from moments: there W and W·z are a known
    /// factor times data-only sums (binomial W = w·μ̄(1 − μ̄), W·z = W·α + w(y − μ̄); Poisson W = e^α·w·e^o,
    /// W·z = W·α + w(y − μ); Gaussian W = w, W·z = w(y − o)), so X'W0X and X'W0z0 are Σ w·c·dd' and Σ w·d·y (d = [1, x]
    /// raw) times them, mapped to the standardized design d̃ = B·d (row 0 = e0, row j = (−m_j/s_j)e0 + e_j/s_j).
    /// </summary>
    private Vector<double> NullStart(ReadOnlySpan<double> a, GlmBlocks blocks, GlmStandardization std, double alpha, double sw, double swy)
    {
        int p = Spec.Coefficients;
        var cross = UpperTriangle(a, blocks[GlmLayout.StartCrossProducts], p);

        var response = Vector<double>.Build.Dense(a.Slice(blocks[GlmLayout.StartCrossResponse], p).ToArray());
        var column = cross.Column(0);
        Matrix<double> h;
        Vector<double> g;
        switch (Spec.Family)
        {
            case GlmFamily.Binomial:
                double mean = swy / sw, v = mean * (1 - mean);
                h = cross * v;
                g = (column * ((v * alpha) - mean)) + response;
                break;
            case GlmFamily.Poisson:
                double e = Math.Exp(alpha);
                h = cross * e;
                g = (column * (e * (alpha - 1))) + response;
                break;
            default:
                h = cross;
                g = response;
                break;
        }

        var b = Matrix<double>.Build.Dense(p, p);
        b[0, 0] = 1;
        for (int j = 1; j < p; j++)
        {
            b[j, 0] = -std.Means[j - 1] / std.Scales[j - 1];
            b[j, j] = 1 / std.Scales[j - 1];
        }

        var ht = b * h * b.Transpose();
        for (int j = 1; j < p; j++)
        {
            ht[j, j] += Spec.Ridge;
        }

        return GlmSolver.Solve(ht, b * g, Spec.CoefficientNames).Beta;
    }

    private bool AcceptIrls(GlmRequest request, ReadOnlySpan<double> a, GlmBlocks blocks)
    {
        int p = Spec.Coefficients;
        var h = UpperTriangle(a, blocks[GlmLayout.Xtwx], p);
        for (int j = 1; j < p; j++)
        {
            h[j, j] += Spec.Ridge;
        }

        var g = Vector<double>.Build.Dense(a.Slice(blocks[GlmLayout.Xtwz], p).ToArray());
        var (beta, inverse) = GlmSolver.Solve(h, g, Spec.CoefficientNames);
        double deviance = a[blocks[GlmLayout.Deviance]];
        int iteration = Iterations + 1;

        bool converged = false;
        double objective = deviance;
        if (request.Kind == GlmRoundKind.Start)
        {
            NullDeviance = a[blocks[GlmLayout.NullDeviance]];
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
                new GlmTotals(Rows, Nodes, deviance, NullDeviance, aicSum, pearson, _logWeightSum),
                request.Round,
                iteration,
                converged,
                std);
            return true;
        }

        _previousObjective = objective;
        // The point just evaluated: the next round searches along the Newton step from it (none after R's start, whose
        // μ0 is not a β; after a start from the null model it is (α, 0, …)).
        IReadOnlyList<double>? evaluated = request.Kind == GlmRoundKind.Iterate ? request.Beta
            : Spec.StartFromNullModel ? [request.NullIntercept!.Value, .. new double[p - 1]]
            : null;
        var steps = evaluated is null ? null : LineSearchSteps;
        Request = request with
        {
            Kind = GlmRoundKind.Iterate,
            Round = request.Round + 1,
            Layout = GlmLayout.Irls(Spec, Rows, start: false, steps?.Count ?? 1),
            Beta = [.. beta],
            NullIntercept = null,
            LineSearchBase = evaluated,
            Steps = steps,
        };
        return false;
    }

    /// <summary>
    /// Step lengths every Newton round evaluates at once along the step from the last evaluated point: the full step
    /// first, step-halving (R's glm.fit halves a step whose deviance is not finite; here a step that does not lower the
    /// deviance most is replaced by a shorter one) and one doubled step for a start far from the MLE. Each candidate
    /// costs its blocks in the same encrypted vector, not another round: a line search without extra aggregations.
    /// </summary>
    public static IReadOnlyList<double> LineSearchSteps { get; } = [1, 0.5, 0.25, 2];

    /// <summary>
    /// Picks the candidate with the lowest deviance (the full step unless another is lower by more than 1e-9 relative,
    /// so that near the optimum the iteration stays Newton's, quadratically convergent) and carries on from it exactly
    /// as if only that point had been evaluated. Whichever point is chosen, the fit's fixed point, its convergence rule
    /// and the final statistics are those of the exact IRLS.
    /// </summary>
    private bool AcceptLineSearch(GlmRequest request, ReadOnlySpan<double> a)
    {
        var single = GlmLayout.Irls(Spec, Rows, start: false);
        var singleBlocks = new GlmBlocks(single);
        int count = single[0].Length, head = count, per = singleBlocks.Length - count, dev = singleBlocks[GlmLayout.Deviance] - count;
        if (request.NullIntercept is not null)
        {
            // First round after a null-model start: the null deviance is the deviance at the start point.
            NullDeviance = a[count];
            _previousObjective = NullDeviance;
            head++;
        }

        int chosen = 0;
        double best = a[head + dev];
        for (int c = 1; c < request.Candidates; c++)
        {
            double d = a[head + (c * per) + dev];
            if (d < best - (1e-9 * (Math.Abs(best) + 0.1)))
            {
                best = d;
                chosen = c;
            }
        }

        var sub = new double[singleBlocks.Length];
        a[..count].CopyTo(sub);
        a.Slice(head + (chosen * per), per).CopyTo(sub.AsSpan(count));
        return AcceptIrls(request with { Layout = single, Beta = request.CandidateBeta(chosen), NullIntercept = null, LineSearchBase = null, Steps = null }, sub, singleBlocks);
    }
}
