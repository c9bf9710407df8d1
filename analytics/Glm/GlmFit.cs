using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Analytics.Glm;

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

        bool finished = request.Kind == GlmRoundKind.Iterate && (request.Candidates > 1 || request.NullIntercept is not null) ? AcceptLineSearch(request, aggregate) : AcceptIrls(request, aggregate, blocks);
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

        if (Spec.StartFromNullModel)
        {
            // R's glm.fit with mustart = the null model's means: its first IRLS step, from the moments (no start round).
            var first = NullStart(a, blocks, std, nullIntercept, sw, swy);
            Iterations++;
            var steps = LineSearchSteps;
            _request = new GlmRequest(GlmRoundKind.Iterate, 2, GlmLayout.Irls(Spec, rows, start: false, steps.Count, nullDeviance: true), rows, std, [.. first], nullIntercept,
                [nullIntercept, .. new double[Spec.Coefficients - 1]], steps);
            return;
        }

        _request = new GlmRequest(GlmRoundKind.Start, 2, GlmLayout.Irls(Spec, rows, start: true), rows, std, null, nullIntercept);
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
        var cross = Matrix<double>.Build.Dense(p, p);
        int at = blocks[GlmLayout.StartCrossProducts];
        for (int j = 0; j < p; j++)
        {
            for (int l = j; l < p; l++)
            {
                cross[j, l] = cross[l, j] = a[at++];
            }
        }

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
        // The point just evaluated: the next round searches along the Newton step from it (none after R's start, whose
        // μ0 is not a β; after a start from the null model it is (α, 0, …)).
        IReadOnlyList<double>? evaluated = request.Kind == GlmRoundKind.Iterate ? request.Beta
            : Spec.StartFromNullModel ? [request.NullIntercept!.Value, .. new double[p - 1]]
            : null;
        var steps = evaluated is null ? null : LineSearchSteps;
        _request = request with
        {
            Kind = GlmRoundKind.Iterate,
            Round = request.Round + 1,
            Layout = GlmLayout.Irls(Spec, _rows, start: false, steps?.Count ?? 1),
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
        var single = GlmLayout.Irls(Spec, _rows, start: false);
        var singleBlocks = new GlmBlocks(single);
        int count = single[0].Length, head = count, per = singleBlocks.Length - count, dev = singleBlocks[GlmLayout.Deviance] - count;
        if (request.NullIntercept is not null)
        {
            // First round after a null-model start: the null deviance is the deviance at the start point.
            _nullDeviance = a[count];
            _previousObjective = _nullDeviance;
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

    /// <summary>
    /// Under differential privacy. Moments: the noisy row count and Σw, Σwy (Σ offset) give n and the null model's
    /// intercept α (clamped inside the family's range: noise can push Σwy/Σw outside it); the fit starts at β̃ = (α, 0, …)
    /// on the [−1, 1] design scale, where its deviance is the null deviance. Newton rounds: β̃ ← β̃ + (H + λI)⁻¹s with the
    /// noisy Hessian H and score s. The damping λ keeps H + λI positive definite: the symmetric noise matrix E (entries of
    /// standard deviation σ_H·√(nodes/m) at most) has ‖E‖ ≤ σ(2√p + t) with probability ≥ 1 − e^(−t²/4) (Bandeira &amp;
    /// van Handel 2016, Ann. Probab., Cor. 3.12 and Remark 3.13), so λ = declared ridge + σ_H·√(nodes/m)·(2√p + 6) makes H + E + λI ⪰ H
    /// except with probability ~1e-4; if the Cholesky still fails, λ doubles until it succeeds (post-processing, free).
    /// Unlike the exact fit's ridge, the damping does not move the fixed point: s(β̃) = 0 is the unpenalized MLE
    /// (Levenberg–Marquardt damping, not penalization), so λ slows convergence but adds no bias at the fixed point. The
    /// reported covariance is H⁻¹ (the noisy H; (H + λI)⁻¹ only if H is indefinite) plus the last step's score noise
    /// σ_s²·(nodes/m)·H⁻², so the intervals include the score's DP noise (not the Hessian's, nor incomplete convergence).
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
        int doublings = -1;
        for (int attempt = 0; attempt < 200 && cholesky is null; attempt++, lambda *= 2)
        {
            try
            {
                cholesky = (h + (Matrix<double>.Build.DenseIdentity(p) * lambda)).Cholesky();
                doublings = attempt;
            }
            catch (ArgumentException)
            {
                cholesky = null;
            }
        }

        lambda /= 2; // the loop doubled once more after the successful factorization

        if (cholesky is null)
        {
            throw new InvalidOperationException("The noisy Hessian stays indefinite after damping: the statistics are unusable.");
        }

        var current = request.Beta!;
        var step = cholesky.Solve(s);
        var beta = Vector<double>.Build.DenseOfEnumerable(current) + step;
        // Deviances are non-negative: a noisy sum below zero is clamped to a tiny positive floor (post-processing), so
        // that the Gaussian AIC's log(RSS) and every reported number stay finite.
        double positive = 1e-9 * _rows;
        double deviance = Math.Max(a[blocks[GlmLayout.Deviance]], positive);
        int iteration = Iterations + 1;
        if (Iterations == 0)
        {
            _nullDeviance = deviance; // evaluated at (α, 0, …): the null model's means
        }

        double change = step.AbsoluteMaximum();
        // Only the step decides: each round's deviance carries its own noise (and may sit at the clamp), so a deviance
        // change below 1e-12 would be chance, not convergence.
        bool converged = change < GlmSpec.CoefficientTolerance;
        Iterations++;
        if (converged || iteration >= Spec.MaxIterations)
        {
            // The covariance inverts a noise-corrected Hessian, not the noisy H (nor the damped H + λI, which would
            // understate the standard errors by the damping): see NoiseCorrectedInverse.
            var inverse = NoiseCorrectedInverse(h, sigmaH);
            // Build scales the unscaled covariance by the dispersion (Gaussian); the noise term is not scaled by it.
            double pearsonSum = blocks.Has(GlmLayout.Pearson) ? Math.Max(a[blocks[GlmLayout.Pearson]], positive) : 0;
            double phi = GlmMath.EstimatesDispersion(Spec.Family) && pearsonSum > 0 ? pearsonSum / Math.Max(_rows - p, 1) : 1;
            // Sandwich with the last round's score noise: β̂ − β ≈ H⁻¹(s + e), Var = H⁻¹(Σ_s + σ_s²I)H⁻¹ with Σ_s = H
            // (the information of a canonical GLM), i.e. H⁻¹ + σ_s²·H⁻².
            var covariance = inverse + (inverse * inverse * (sigmaS * sigmaS / phi));
            var std = request.Standardization!;
            var t = std.Transform();
            double aicSum = blocks.Has(GlmLayout.Aic) ? a[blocks[GlmLayout.Aic]] : 0;
            var result = GlmSummary.Build(
                Spec.Family,
                Spec.CoefficientNames,
                t * beta,
                t * covariance * t.Transpose(),
                new GlmTotals(_rows, _nodes, deviance, _nullDeviance, aicSum, pearsonSum, 0),
                request.Round,
                iteration,
                converged,
                std);
            double sigmaDeviance = dp.TargetSigma(layout, layout.First(b => b.Name == GlmLayout.Deviance), dp.Clip(Spec, GlmLayout.Deviance)) * inflation;
            double minEigenvalue = h.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric).EigenValues.Min(e => e.Real);
            double scoreStatistic = s.DotProduct(s) / (sigmaS * sigmaS);
            double scoreCritical = MathNet.Numerics.Distributions.ChiSquared.InvCDF(p, 1 - StationarityLevel);
            var release = new GlmPrivateRelease(Spec.MaxIterations, iteration, change, lambda, doublings, minEigenvalue, deviance, _nullDeviance,
                sigmaDeviance, scoreStatistic, scoreCritical, PrivateRefusal(result, doublings, deviance, sigmaDeviance, scoreStatistic, scoreCritical));
            Result = result.With(release);
            return true;
        }

        _previousObjective = deviance;
        _request = request with { Round = request.Round + 1, Beta = [.. beta] };
        return false;
    }

    /// <summary>
    /// Sanity checks before a DP fit that ran its planned rounds is released (the final iterate, not a converged MLE; see
    /// <see cref="GlmPrivateRelease"/>): every coefficient, standard error and Wald limit finite with SE &gt; 0; the last
    /// noisy Hessian positive definite after the planned damping ridge λ (had λ to double, noise dominated the curvature
    /// and the step is noise); and the last noisy deviance not above the null deviance by more than 3 noise standard
    /// deviations of their difference (3·√2·σ_dev): a fit that moved away from the null model's fit has diverged; and
    /// the last round's noisy score consistent with a stationary point: at the MLE the score is exactly 0, so the released
    /// score is pure noise N(0, σ_s²I) and ‖s‖²/σ_s² ~ χ²_p; above its 1 − <see cref="StationarityLevel"/> quantile the
    /// data themselves (through the noise) say the iterate is not near a solution — e.g. a Gaussian cost model whose
    /// damped noisy steps left it miscalibrated by thousands of dollars. A test on the released score, not a stopping
    /// rule: the rounds are fixed in advance either way. All of it is post-processing of released sums, so checking costs
    /// no privacy. Null when every check passes.
    /// </summary>
    internal static string? PrivateRefusal(GlmResult result, int doublings, double deviance, double sigmaDeviance, double scoreStatistic, double scoreCritical)
    {
        ArgumentNullException.ThrowIfNull(result);
        for (int j = 0; j < result.Names.Count; j++)
        {
            if (!double.IsFinite(result.Coefficients[j]))
            {
                return $"coefficient '{result.Names[j]}' is not finite";
            }

            if (!(double.IsFinite(result.StandardErrors[j]) && result.StandardErrors[j] > 0
                && double.IsFinite(result.LowerConfidence[j]) && double.IsFinite(result.UpperConfidence[j])))
            {
                return $"the standard error of '{result.Names[j]}' is not a finite positive number";
            }
        }

        if (doublings != 0)
        {
            return $"the last noisy Hessian was not positive definite after the planned damping ridge (λ doubled {doublings} times): its curvature is noise";
        }

        double margin = 3 * Math.Sqrt(2) * sigmaDeviance;
        if (deviance > result.NullDeviance + margin)
        {
            return FormattableString.Invariant(
                $"the last noisy deviance {deviance:G6} exceeds the null deviance {result.NullDeviance:G6} by more than 3 noise SDs ({margin:G4}): the iterates diverged");
        }

        if (!(scoreStatistic <= scoreCritical))
        {
            return FormattableString.Invariant(
                $"the last noisy score is not consistent with a stationary point (‖s‖²/σ² = {scoreStatistic:G4} > χ²({result.Names.Count}) quantile {scoreCritical:G4} at 1 − {StationarityLevel}): the final iterate is still far from a solution, not just noisy");
        }

        return null;
    }

    /// <summary>Level of the stationarity check on the last noisy score (<see cref="PrivateRefusal"/>).</summary>
    public const double StationarityLevel = 1e-3;

    /// <summary>
    /// An inverse Hessian for the standard errors that accounts for the noise in H. The released H_n = H + E has a symmetric
    /// E with independent N(0, σ²) entries on and above the diagonal, so E[H_n²] = H² + p·σ²·I exactly (E[HE + EH] = 0,
    /// E[(E²)_ii] = p·σ²): H_n² − p·σ²·I is an unbiased (method-of-moments, as in measurement-error corrections; Carroll
    /// et al. 2006, "Measurement Error in Nonlinear Models", ch. 7) estimate of H². Its square root on H_n's eigenvectors
    /// shrinks each eigenvalue h to √(h² − pσ²), floored at σ: the directions where noise of size ~σ√p has lifted a small
    /// curvature (Weyl: |h_n − h| ≤ ‖E‖ ≈ 2σ√p) get back the large variance the noisy H hid, and a well-determined
    /// direction (h ≫ σ√p) is left as it was. A non-positive h_n (noise-dominated) gets the floor. Without noise (σ = 0)
    /// this is H⁻¹.
    /// </summary>
    internal static Matrix<double> NoiseCorrectedInverse(Matrix<double> h, double sigma)
    {
        ArgumentNullException.ThrowIfNull(h);
        int p = h.RowCount;
        var evd = h.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        var inverse = Matrix<double>.Build.Dense(p, p);
        for (int k = 0; k < p; k++)
        {
            double value = evd.EigenValues[k].Real;
            double corrected = value > 0 ? Math.Sqrt(Math.Max((value * value) - (p * sigma * sigma), 0)) : 0;
            corrected = Math.Max(corrected, sigma);
            if (!(corrected > 0))
            {
                throw new InvalidOperationException("The Hessian is singular: the standard errors are undefined.");
            }

            var v = evd.EigenVectors.Column(k);
            inverse += v.OuterProduct(v) / corrected;
        }

        return inverse;
    }

    /// <summary>Count blocks have scale 1, so their sums are exact non-negative integers.</summary>
    private static long Count(double value) =>
        value >= 0 && value == Math.Round(value) && value < long.MaxValue
            ? (long)value
            : throw new ArgumentException("A count in the aggregate is not a non-negative integer: the aggregate is corrupt.");
}
