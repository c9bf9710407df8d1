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

    /// <summary>Count blocks have scale 1, so their sums are exact non-negative integers.</summary>
    private static long Count(double value) =>
        value >= 0 && value == Math.Round(value) && value < long.MaxValue
            ? (long)value
            : throw new ArgumentException("A count in the aggregate is not a non-negative integer: the aggregate is corrupt.");
}
