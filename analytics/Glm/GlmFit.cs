using MathNet.Numerics.LinearAlgebra;

namespace FederatedTwin.Analytics.Glm;

/// <summary>
/// The coordinator's side of a federated GLM: the round loop both fits share. It sees only aggregated vectors. Loop:
/// <see cref="NextRequest"/> → every node runs <see cref="GlmNode.Compute"/> → sum (encrypted, FixedPointCodec) →
/// <see cref="Accept"/>, until it returns true. Two algorithms answer the rounds, and a caller picks one by the study:
/// <see cref="GlmIrlsFit"/>, the exact IRLS (equal to a pooled fit), and <see cref="GlmNoisyNewtonFit"/>, the damped
/// Newton iteration on statistics carrying differential-privacy noise. Both start with the moments round.
/// </summary>
public abstract class GlmFit
{
    private protected GlmFit(GlmSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        Request = new GlmRequest(GlmRoundKind.Moments, 1, GlmLayout.Moments(spec), 0, null, null, null);
    }

    public GlmSpec Spec { get; }

    /// <summary>Aggregations accepted so far.</summary>
    public int Rounds { get; private set; }

    /// <summary>Iteration rounds (IRLS or Newton) accepted so far.</summary>
    public int Iterations { get; private protected set; }

    public GlmResult? Result { get; private protected set; }

    public bool IsFinished => Result is not null;

    /// <summary>The request the next aggregate answers.</summary>
    private protected GlmRequest Request { get; set; }

    /// <summary>Nodes summed by the moments round: every later round must sum the same nodes.</summary>
    private protected int Nodes { get; set; }

    /// <summary>Rows of the moments round (exact, or the rounded noisy count under DP).</summary>
    private protected long Rows { get; set; }

    /// <summary>The intercept-only model's deviance, once a round has evaluated it.</summary>
    private protected double NullDeviance { get; set; }

    /// <summary>What every node must compute next; the same request until <see cref="Accept"/> takes its sum.</summary>
    public GlmRequest NextRequest() =>
        IsFinished ? throw new InvalidOperationException("The fit is finished; read Result.") : Request;

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
        bool done = AcceptRound(request, aggregate, blocks, nodes);
        Rounds++;
        return done;
    }

    /// <summary>One aggregate of <paramref name="nodes"/> nodes for <paramref name="request"/>; true once the fit is finished.</summary>
    private protected abstract bool AcceptRound(GlmRequest request, ReadOnlySpan<double> a, GlmBlocks blocks, int nodes);

    /// <summary>The moments round's party count: at least one node, at most the study's parties.</summary>
    private protected void CheckParties(int nodes)
    {
        if (nodes < 1 || nodes > Spec.MaxParties)
        {
            throw new InvalidOperationException($"The moments sum {nodes} nodes; the study allows 1 to {Spec.MaxParties}.");
        }
    }

    /// <summary>A symmetric p×p matrix from its upper triangle, row by row, starting at <paramref name="at"/>.</summary>
    private protected static Matrix<double> UpperTriangle(ReadOnlySpan<double> a, int at, int p)
    {
        var m = Matrix<double>.Build.Dense(p, p);
        for (int j = 0; j < p; j++)
        {
            for (int l = j; l < p; l++)
            {
                m[j, l] = m[l, j] = a[at++];
            }
        }

        return m;
    }

    /// <summary>Count blocks have scale 1, so their sums are exact non-negative integers.</summary>
    private protected static long Count(double value) =>
        value >= 0 && value == Math.Round(value) && value < long.MaxValue
            ? (long)value
            : throw new ArgumentException("A count in the aggregate is not a non-negative integer: the aggregate is corrupt.");
}
